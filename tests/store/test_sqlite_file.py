"""The SQLite store notices its file deleted or replaced, and never stores into the void."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from tests.store.records import key, spend

from tokenway.store import StoreError
from tokenway.store.sqlite import SQLiteStore


async def test_a_deleted_directory_makes_every_call_fail_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(str(tmp_path / "db" / "t.db"))
    await store.open()
    await store.add_spend([spend("r1")])
    shutil.rmtree(tmp_path / "db")
    for n in range(3):
        with pytest.raises(StoreError, match="not usable"):
            await store.add_spend([spend(f"r{n + 2}")])
    with pytest.raises(StoreError):
        await store.get_key("h")  # reads too: the file they would read is gone
    assert caplog.text.count("was deleted together with its directory") == 1
    await store.close()


async def test_a_recreated_directory_gets_a_new_database_and_the_log_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "db" / "t.db"
    store = SQLiteStore(str(path))
    await store.open()
    await store.create_key(key("h1"))
    shutil.rmtree(tmp_path / "db")
    with pytest.raises(StoreError):
        await store.add_spend([spend("r1")])
    (tmp_path / "db").mkdir()
    with caplog.at_level(logging.ERROR, logger="tokenway.store"):
        assert await store.add_spend([spend("r1")]) == 1
    assert "new, empty database" in caplog.text
    assert await store.get_key("h1") is None  # the old file's keys went with it
    assert path.exists()
    await store.close()


async def test_a_file_replaced_under_the_store_is_reopened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.db"
    backup = SQLiteStore(str(tmp_path / "backup.db"))
    await backup.open()
    await backup.create_key(key("from-backup"))
    await backup.close()
    store = SQLiteStore(str(path))
    await store.open()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp_path / "backup.db", path)  # an operator restores a backup
    assert await store.get_key("from-backup") is not None
    assert "replaced by another file" in caplog.text
    await store.close()


async def test_a_memory_store_has_no_file_to_check() -> None:
    store = SQLiteStore(":memory:")
    await store.open()
    assert await store.add_spend([spend("r1")]) == 1
    await store.close()
