"""Spend rows, an idempotent in-memory store and a wait helper for the journal/writer tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from tokenway.store.base import SpendRow, StoreError


def spend_row(n: int, **changes: object) -> SpendRow:
    fields: dict[str, object] = {
        "request_id": f"req-{n:06d}",
        "key_hash": "ab" * 32,
        "user_id": "user-1",
        "team_id": None,
        "model_alias": "llama-3.1-8b-instruct",
        "deployment": "dep-1",
        "prompt_tokens": 10 + n,
        "completion_tokens": 20,
        "cost": 0.000125 * (n + 1),
        "latency_ms": 12.5,
        "status": 200,
        "error_code": None,
        "stream": n % 2 == 0,
        "started_at": 1_790_000_000.25 + n,
        "payload": None,
    }
    fields.update(changes)
    return SpendRow(**fields)  # type: ignore[arg-type]


class FakeSpendStore:
    """``add_spend`` as the stores define it: idempotent by request_id, all or nothing."""

    def __init__(self) -> None:
        self.rows: dict[str, SpendRow] = {}  # insertion order = the order rows arrived
        self.calls: list[int] = []  # batch sizes of accepted calls
        self.down = False
        self.tries = 0

    async def add_spend(self, rows: Sequence[SpendRow]) -> int:
        self.tries += 1
        if self.down:
            raise StoreError("connection refused (test outage)")
        new = [row for row in rows if row.request_id not in self.rows]
        self.rows.update((row.request_id, row) for row in new)
        self.calls.append(len(rows))
        return len(new)

    @property
    def ids(self) -> list[str]:
        return list(self.rows)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition``; the bound is generous, it only stops a broken test hanging."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def ids(rows: Sequence[SpendRow]) -> list[str]:
    return [row.request_id for row in rows]


def rows_on_disk(directory: Path) -> int:
    """The rows a journal directory holds (a line each)."""
    return sum(path.read_bytes().count(b"\n") for path in directory.glob("*.jsonl"))
