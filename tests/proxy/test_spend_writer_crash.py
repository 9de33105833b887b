"""Spend rows survive a crash: a SIGKILLed writer's journal is replayed exactly once,
into the fake store and into real SQLite and PostgreSQL stores."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.proxy.spend_helpers import FakeSpendStore, ids, rows_on_disk, spend_row, wait_until

from tokenway.proxy.accounting.journal import SpendJournal
from tokenway.proxy.accounting.spend_writer import SpendWriter
from tokenway.store import KeyRecord, SpendFilter, Store, open_store
from tokenway.store.base import SpendRow

KEY_HASH = "cd" * 32

# Records N rows through a writer whose store is down (so some rows sit in a sealed
# segment, the rest in the active file), then dies without any chance to clean up.
RECORD_THEN_SIGKILL = """
import asyncio, os, signal, sys
from tokenway.proxy.accounting.journal import SpendJournal
from tokenway.proxy.accounting.spend import SpendTracker, Ticket
from tokenway.proxy.accounting.spend_writer import SpendWriter
from tokenway.store.base import SpendRow, StoreError

class DownStore:
    async def add_spend(self, rows):
        raise StoreError("down")

async def main(directory, count, key_hash):
    writer = SpendWriter(DownStore(), SpendJournal(directory), batch_interval=0.01,
                         retry_initial=0.01, retry_max=0.01)
    await writer.start()
    for n in range(count):
        writer.record(SpendRow(f"req-{n:06d}", key_hash, None, None, "m", None, 1, 2, 0.5,
                               3.0, 200, None, False, 1.0 + n))
        if n % 100 == 0:
            await asyncio.sleep(0.02)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


@pytest.fixture
def store() -> FakeSpendStore:
    return FakeSpendStore()


def record_then_sigkill(directory: Path, count: int) -> None:
    """A real process records ``count`` rows (store down) and is killed with SIGKILL."""
    crashed = subprocess.run(
        [sys.executable, "-c", RECORD_THEN_SIGKILL, str(directory), str(count), KEY_HASH],
        timeout=30,
    )
    assert crashed.returncode == -signal.SIGKILL


async def test_rows_recorded_before_a_sigkill_are_replayed_exactly_once(
    store: FakeSpendStore, tmp_path: Path
) -> None:
    count = 250
    directory = tmp_path / "journal"
    record_then_sigkill(directory, count)
    shutil.copytree(directory, tmp_path / "copy")  # the same leftovers, for a second replay

    flushed: list[SpendRow] = []
    writer = SpendWriter(store, SpendJournal(directory), on_flushed=flushed.extend)
    await writer.start()
    await wait_until(lambda: writer.rows_replayed == count)
    await writer.aclose()
    expected = [f"req-{n:06d}" for n in range(count)]
    assert store.ids == expected and ids(flushed) == expected
    assert rows_on_disk(directory) == 0

    # A crash between the insert and the segment's deletion: the rows come again.
    again = SpendWriter(store, SpendJournal(tmp_path / "copy"), on_flushed=flushed.extend)
    await again.start()
    await wait_until(lambda: again.rows_replayed == count)
    await again.aclose()
    assert store.ids == expected and len(flushed) == count  # no row counted twice


# --- the real stores ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def real_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each dialect (the PostgreSQL one skips where it is missing)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tokenway.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
async def real_store(real_store_url: str) -> AsyncIterator[Store]:
    """An opened store with the key the crash script's rows belong to."""
    opened = open_store(real_store_url)
    await opened.open()
    await opened.create_key(KeyRecord(key_hash=KEY_HASH, key_name="sk-...test"))
    try:
        yield opened
    finally:
        await opened.close()


async def stored_ids(store: Store) -> list[str]:
    rows = await store.spend_logs(SpendFilter(), limit=10_000)
    return sorted(row.request_id for row in rows)


async def test_a_sigkilled_journal_lands_once_in_a_real_store(
    real_store: Store, tmp_path: Path
) -> None:
    count = 200
    record_then_sigkill(tmp_path / "journal", count)
    shutil.copytree(tmp_path / "journal", tmp_path / "copy")
    for directory in (tmp_path / "journal", tmp_path / "copy"):  # the second: a crash
        writer = SpendWriter(real_store, SpendJournal(directory))  # before the deletion
        await writer.start()
        await wait_until(lambda: writer.rows_replayed == count)  # noqa: B023
        await writer.aclose()
    assert await stored_ids(real_store) == [f"req-{n:06d}" for n in range(count)]
    key = await real_store.get_key(KEY_HASH)
    assert key is not None and key.limits.spend == pytest.approx(0.5 * count)


async def test_a_closed_real_store_is_an_outage_the_writer_outlasts(
    real_store: Store, tmp_path: Path
) -> None:
    writer = SpendWriter(
        real_store,
        SpendJournal(tmp_path / "journal"),
        batch_interval=0.01,
        retry_initial=0.01,
        retry_max=0.02,
    )
    await writer.start()
    writer.record(spend_row(0, key_hash=KEY_HASH))
    await wait_until(lambda: writer.rows_pending == 0)
    await real_store.close()
    for n in range(1, 30):
        writer.record(spend_row(n, key_hash=KEY_HASH))
    await wait_until(lambda: writer.flush_failures >= 2)
    assert writer.last_error == "StoreError" and writer.rows_pending == 29
    await real_store.open()
    await wait_until(lambda: writer.rows_pending == 0)
    await writer.aclose()
    assert await stored_ids(real_store) == [f"req-{n:06d}" for n in range(30)]
    key = await real_store.get_key(KEY_HASH)
    expected = sum(spend_row(n).cost or 0.0 for n in range(30))
    assert key is not None and key.limits.spend == pytest.approx(expected)
