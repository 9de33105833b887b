"""Spend journal benchmark: what ``SpendWriter.record`` costs on the proxy's hot path.

``record`` runs before a response's last byte is sent, so it must cost a few µs: one
``orjson.dumps`` and one ``os.write`` on an ``O_APPEND`` file, plus a list append. This
times, per row, in one process:

* ``encode``: ``encode_row`` alone (the JSON line);
* ``append``: ``SpendJournal.append`` (encode + ``os.write``);
* ``record``: ``SpendWriter.record`` (append + keeping the row for the next batch);
* ``flush``: the background side per row (seal, a no-op store's ``add_spend`` in batches
  of 2,000, delete the segment), which runs on the same core but off the response path;
* ``reread``: the same after an outage long enough that the rows were dropped from memory
  (``max_memory_rows``) and are read back from the journal;
* ``sqlite``: ``SQLiteStore.add_spend`` in batches of 2,000 (the writer's) into a fresh
  file, in CPU time of the whole process (its worker thread included): the store's side.

The journal lives in a fresh temporary directory (``--dir`` picks its parent: put it on
the disk the proxy would use). Median of ``--rounds`` rounds of ``--rows`` rows each.

Usage (from the project root)::

    taskset -c 1 .venv/bin/python bench/journal_bench.py [--rows 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from tokenway.proxy.accounting.journal import SpendJournal, encode_row
from tokenway.proxy.accounting.spend_writer import SpendWriter
from tokenway.store.base import SpendRow
from tokenway.store.sqlite import SQLiteStore


class NoStore:
    """Accepts every batch at once, so ``flush`` measures the writer, not a database."""

    async def add_spend(self, rows: Sequence[SpendRow]) -> int:
        return len(rows)


def make_rows(count: int) -> list[SpendRow]:
    # A realistic row: a 64-char key hash, a uuid-sized request id, no payload.
    return [
        SpendRow(
            request_id=f"chatcmpl-{n:032x}",
            key_hash="5f" * 32,
            user_id="user-42",
            team_id="team-7",
            model_alias="llama-3.1-8b-instruct",
            deployment="inference-1",
            prompt_tokens=812,
            completion_tokens=256,
            cost=0.000_053_4,
            latency_ms=143.25,
            status=200,
            error_code=None,
            stream=n % 2 == 0,
            started_at=1_790_000_000.0 + n / 1000,
        )
        for n in range(count)
    ]


def per_row(action: Callable[[SpendRow], object], rows: list[SpendRow]) -> float:
    """µs per row of ``action`` over ``rows``."""
    start = time.perf_counter()
    for row in rows:
        action(row)
    return (time.perf_counter() - start) / len(rows) * 1e6


def one_round(rows: list[SpendRow], parent: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=parent) as directory:
        result = {"encode": per_row(encode_row, rows)}
        with SpendJournal(os.path.join(directory, "append")) as journal:
            result["append"] = per_row(journal.append, rows)
        journal = SpendJournal(os.path.join(directory, "record"))
        writer = SpendWriter(NoStore(), journal, max_memory_rows=len(rows))
        result["record"] = per_row(writer.record, rows)
        result["flush"] = timed_close(writer) / len(rows) * 1e6
        journal = SpendJournal(os.path.join(directory, "reread"))
        writer = SpendWriter(NoStore(), journal, max_memory_rows=0)
        per_row(writer.record, rows)
        result["reread"] = timed_close(writer) / len(rows) * 1e6
        result["sqlite"] = asyncio.run(sqlite_cpu(rows, os.path.join(directory, "spend.db")))
    return result


async def sqlite_cpu(rows: list[SpendRow], path: str, batch: int = 2000) -> float:
    """CPU µs per row that the SQLite store spends storing ``rows``."""
    store = SQLiteStore(path)
    await store.open()
    try:
        start = time.process_time()
        for first in range(0, len(rows), batch):
            await store.add_spend(rows[first : first + batch])
        return (time.process_time() - start) / len(rows) * 1e6
    finally:
        await store.close()


def timed_close(writer: SpendWriter) -> float:
    """Seconds for ``aclose``: it flushes every pending row, then releases the journal."""
    start = time.perf_counter()
    asyncio.run(writer.aclose())
    elapsed = time.perf_counter() - start
    assert writer.rows_pending == 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=None, help="parent of the temporary journal")
    args = parser.parse_args()
    rows = make_rows(args.rows)
    rounds = [one_round(rows, args.dir) for _ in range(args.rounds)]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"python {sys.version.split()[0]}, cores {cores}, {args.rows} rows x {args.rounds}")
    print(f"{'step':<8} {'µs/row':>8} {'rows/s':>12}   (median of rounds; min-max µs)")
    for step in ("encode", "append", "record", "flush", "reread", "sqlite"):
        values = [r[step] for r in rounds]
        median = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"{step:<8} {median:>8.2f} {1e6 / median:>12,.0f}   ({spread})")


if __name__ == "__main__":
    main()
