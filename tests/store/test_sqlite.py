"""SQLite specifics: WAL file, its folder created, one worker thread, shared by processes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from tests.store.records import key, spend

from tokenway.store import SpendFilter, StoreError
from tokenway.store.sqlite import SQLiteStore


def worker_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("tokenway-sqlite")}


async def test_the_file_and_its_folder_are_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "tokenway.db"
    store = SQLiteStore(str(path))
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_queries_run_on_one_worker_thread_that_close_ends(tmp_path: Path) -> None:
    before = worker_threads()
    store = SQLiteStore(str(tmp_path / "t.db"))
    await store.open()
    await asyncio.gather(*(store.get_key(f"h{i}") for i in range(20)))
    [worker] = worker_threads() - before
    await store.close()
    assert not worker.is_alive()
    with pytest.raises(StoreError, match="not open"):
        await store.get_key("h1")


async def test_two_stores_on_one_file_share_it_safely(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    first, second = SQLiteStore(path), SQLiteStore(path)
    await asyncio.gather(first.open(), second.open())
    try:
        await first.create_key(key("hash-1"))
        batches = [[spend(f"r{n}-{i}", cost=0.5) for i in range(20)] for n in range(6)]
        writers = [
            (first, second)[n % 2].add_spend(batch + batches[0]) for n, batch in enumerate(batches)
        ]
        assert sum(await asyncio.gather(*writers)) == 120
        stored = await second.get_key("hash-1")
        assert stored is not None and stored.limits.spend == 60.0
        assert len(await first.spend_logs(SpendFilter(), limit=500)) == 120
    finally:
        await first.close()
        await second.close()


async def test_an_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = SQLiteStore(str(blocker / "x.db"))
    with pytest.raises(StoreError, match="a-file"):
        await store.open()
    with pytest.raises(StoreError, match="not open"):
        await store.get_key("h1")
