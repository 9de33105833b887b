"""The proxy's backing services: journal slots per process, rows of dead slots adopted,
rows of requests served before the start kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.proxy.spend_helpers import spend_row

from tokenway.proxy.accounting.journal import SpendJournal
from tokenway.proxy.config.settings import SpendSettings
from tokenway.proxy.services import Services
from tokenway.store.base import SpendFilter


async def test_rows_left_in_another_slot_are_adopted_and_stored(tmp_path: Path) -> None:
    # A worker of an earlier run (slot 3) died with rows only in its journal.
    with SpendJournal(tmp_path / "tokenway-journal" / "3") as orphan:
        for n in range(5):
            orphan.append(spend_row(n))
    settings = SpendSettings(batch_interval=0.05)
    services = Services(f"sqlite:///{tmp_path / 't.db'}", settings, tmp_path)
    await services.start()
    try:
        for _ in range(200):
            rows = await services.store.spend_logs(SpendFilter(), limit=10)
            if len(rows) == 5:
                break
            await asyncio.sleep(0.02)
        assert sorted(row.request_id for row in rows) == sorted(
            spend_row(n).request_id for n in range(5)
        )
        left = (tmp_path / "tokenway-journal" / "3").glob("*.jsonl")
        assert all(path.stat().st_size == 0 for path in left)  # nothing to replay twice
    finally:
        await services.aclose()


async def test_two_processes_take_different_slots(tmp_path: Path) -> None:
    first = Services(f"sqlite:///{tmp_path / 't.db'}", SpendSettings(), tmp_path)
    second = Services(f"sqlite:///{tmp_path / 't.db'}", SpendSettings(), tmp_path)
    await first.start()
    await second.start()  # the same directory: slot 0 is held, so it takes slot 1
    try:
        assert first.journal is not None and second.journal is not None
        assert first.journal.directory.name == "0"
        assert second.journal.directory.name == "1"
    finally:
        await second.aclose()
        await first.aclose()


async def test_a_row_recorded_before_the_start_is_stored_after_it(tmp_path: Path) -> None:
    """A request served before ``start`` made the spend writer keeps its row (it went
    nowhere before: rows lost when a worker took connections while its store opened)."""
    services = Services(f"sqlite:///{tmp_path / 't.db'}", SpendSettings(), tmp_path)
    services.tracker.record(spend_row(1))
    await services.start()
    try:
        assert services.writer is not None
        await services.writer.flush()
        rows = await services.store.spend_logs(SpendFilter(), limit=10)
        assert [row.request_id for row in rows] == [spend_row(1).request_id]
    finally:
        await services.aclose()


async def test_without_spend_logs_no_row_is_kept_before_the_start(tmp_path: Path) -> None:
    services = Services(f"sqlite:///{tmp_path / 't.db'}", SpendSettings(spend_logs=False), tmp_path)
    services.tracker.record(spend_row(1))
    await services.start()
    try:
        assert services.writer is None and services.tracker.sink is None
    finally:
        await services.aclose()
