"""The spend writer loses no row: not to a store outage, not to a SIGKILL, not at shutdown."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from tests.proxy.spend_helpers import FakeSpendStore, spend_row, wait_until

from tokenway.proxy.accounting.journal import SpendJournal
from tokenway.proxy.accounting.spend import SpendTracker, Ticket
from tokenway.proxy.accounting.spend_writer import SpendWriter
from tokenway.store import KeyRecord, SpendFilter, Store, open_store
from tokenway.store.base import SpendRow, StoreError

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


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[SpendJournal]:
    with SpendJournal(tmp_path / "journal") as opened:
        yield opened


def ids(rows: Sequence[SpendRow]) -> list[str]:
    return [row.request_id for row in rows]


def rows_on_disk(directory: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in directory.glob("*.jsonl"))


async def test_rows_are_flushed_every_interval(
    store: FakeSpendStore, journal: SpendJournal
) -> None:
    flushed: list[SpendRow] = []
    writer = SpendWriter(store, journal, batch_interval=0.02, on_flushed=flushed.extend)
    await writer.start()
    rows = [spend_row(n) for n in range(3)]
    for row in rows:
        writer.record(row)
    await wait_until(lambda: writer.rows_pending == 0)
    assert list(store.rows.values()) == rows == flushed
    assert journal.segments() == [] and rows_on_disk(journal.directory) == 0
    assert (writer.rows_recorded, writer.rows_flushed, writer.flush_failures) == (3, 3, 0)
    await writer.aclose()


async def test_a_full_batch_is_flushed_without_waiting_for_the_interval(
    store: FakeSpendStore, journal: SpendJournal
) -> None:
    writer = SpendWriter(store, journal, batch_interval=60, max_batch_rows=10)
    await writer.start()
    for n in range(10):
        writer.record(spend_row(n))
    await wait_until(lambda: len(store.rows) == 10)
    for n in range(10, 15):
        writer.record(spend_row(n))
    await asyncio.sleep(0.05)
    assert writer.rows_pending == 5 and store.calls == [10]  # below a batch: wait
    await writer.aclose()
    assert store.ids == [f"req-{n:06d}" for n in range(15)]


async def test_an_outage_loses_nothing_logs_once_and_keeps_the_order(
    store: FakeSpendStore, journal: SpendJournal, caplog: pytest.LogCaptureFixture
) -> None:
    store.down = True
    writer = SpendWriter(
        store, journal, batch_interval=0.01, max_batch_rows=10, retry_initial=0.01, retry_max=0.02
    )
    caplog.set_level(logging.INFO, logger="tokenway.proxy.accounting.spend")
    await writer.start()
    for n in range(5):
        writer.record(spend_row(n))
    await wait_until(lambda: writer.flush_failures >= 3)
    for n in range(5, 25):  # rows keep coming while the store is away
        writer.record(spend_row(n))
    await wait_until(lambda: writer.flush_failures >= 6)
    assert store.rows == {} and writer.rows_pending == 25
    assert rows_on_disk(journal.directory) == 25
    assert writer.last_error == "StoreError"

    store.down = False
    await wait_until(lambda: writer.rows_pending == 0)
    assert store.ids == [f"req-{n:06d}" for n in range(25)]
    assert store.calls == [5, 10, 10]  # the held batch first, then the rest in batches
    assert rows_on_disk(journal.directory) == 0
    messages = [record.getMessage() for record in caplog.records]
    assert sum("spend store unavailable" in m for m in messages) == 1
    assert sum("spend store is back" in m for m in messages) == 1
    await writer.aclose()


async def test_a_long_outage_spills_rows_to_disk_and_reads_them_back(
    store: FakeSpendStore, journal: SpendJournal
) -> None:
    store.down = True
    writer = SpendWriter(
        store, journal, batch_interval=0.01, max_memory_rows=5, retry_initial=0.01, retry_max=0.02
    )
    await writer.start()
    for n in range(40):
        writer.record(spend_row(n, payload=f'{{"n": {n}}}'))
    await wait_until(lambda: writer.flush_failures >= 2)
    store.down = False
    await wait_until(lambda: writer.rows_pending == 0)
    assert list(store.rows.values()) == [spend_row(n, payload=f'{{"n": {n}}}') for n in range(40)]
    await writer.aclose()


async def test_rows_the_journal_refuses_still_reach_the_store(
    store: FakeSpendStore,
    journal: SpendJournal,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = SpendWriter(store, journal, batch_interval=60)
    writer.record(spend_row(0))

    def disk_full(row: SpendRow) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "append", disk_full)
    writer.record(spend_row(1))
    writer.record(spend_row(2))
    monkeypatch.undo()
    await writer.flush()
    assert store.ids == ["req-000000", "req-000001", "req-000002"]
    assert writer.journal_errors == 2 and writer.last_error == "OSError"
    assert caplog.text.count("cannot be written") == 1
    await writer.aclose()


async def test_the_writer_fsyncs_the_journal_when_configured(
    store: FakeSpendStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = SpendJournal(tmp_path, fsync_interval=0.0)
    syncs: list[float] = []
    real_sync = journal.sync

    def counted_sync() -> None:
        real_sync()
        syncs.append(journal.fsync_interval or 0.0)

    monkeypatch.setattr(journal, "sync", counted_sync)
    writer = SpendWriter(store, journal, batch_interval=0.01)
    await writer.start()
    writer.record(spend_row(1))
    await wait_until(lambda: len(syncs) >= 2 and writer.rows_pending == 0)
    await writer.aclose()


async def test_a_failing_callback_does_not_resend_rows(
    store: FakeSpendStore, journal: SpendJournal, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(rows: Sequence[SpendRow]) -> None:
        raise RuntimeError("cache bug")

    writer = SpendWriter(store, journal, batch_interval=60, on_flushed=broken)
    writer.record(spend_row(1))
    await writer.flush()
    await writer.flush()
    assert store.calls == [1] and writer.rows_pending == 0
    assert "on_flushed callback failed" in caplog.text
    await writer.aclose()


async def test_aclose_flushes_what_is_pending(store: FakeSpendStore, tmp_path: Path) -> None:
    journal = SpendJournal(tmp_path)
    writer = SpendWriter(store, journal, batch_interval=60)
    await writer.start()
    for n in range(7):
        writer.record(spend_row(n))
    await writer.aclose()
    assert len(store.rows) == 7 and rows_on_disk(tmp_path) == 0
    with SpendJournal(tmp_path):  # the directory was released
        pass


async def test_a_row_recorded_after_aclose_is_journaled_for_the_next_start(
    store: FakeSpendStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = SpendWriter(store, SpendJournal(tmp_path), batch_interval=60)
    await writer.start()
    writer.record(spend_row(1))
    await writer.aclose()
    writer.record(spend_row(2))  # a request that ended during shutdown, past the drain
    writer.record(spend_row(3))
    assert writer.rows_late == 2 and store.ids == ["req-000001"]
    assert "journaled for the next start" in caplog.text

    again = SpendWriter(store, SpendJournal(tmp_path))
    await again.start()
    await wait_until(lambda: again.rows_replayed == 2)
    await again.aclose()
    assert store.ids == ["req-000001", "req-000002", "req-000003"]
    assert rows_on_disk(tmp_path) == 0


async def test_the_tracker_waits_for_open_tickets_bounded() -> None:
    tracker = SpendTracker()
    first, second = (Ticket(tracker, f"r{n}", 0.0, None, None) for n in range(2))
    assert tracker.open_tickets == 2
    assert await tracker.drained(0.01) == 2  # bounded: nobody closed them

    async def close_later() -> None:
        await asyncio.sleep(0.01)
        first.close(status=200)
        await asyncio.sleep(0.01)
        second.close(status=499, error_code="client_disconnected")

    closing = asyncio.ensure_future(close_later())
    assert await tracker.drained(5) == 0
    await closing
    assert [row.request_id for row in tracker.recent] == ["r0", "r1"]
    first.close(status=200)  # a second close changes nothing
    assert tracker.open_tickets == 0


async def test_a_failed_batch_is_sent_again_whole_and_counted_once(
    store: FakeSpendStore, journal: SpendJournal
) -> None:
    """A store swapped mid-batch (a deleted SQLite file) must get the chunks it lost."""
    seen: list[bool] = []
    writer = SpendWriter(store, journal, batch_interval=60, max_batch_rows=4, on_store=seen.append)
    for n in range(10):
        writer.record(spend_row(n))
    real_add = store.add_spend
    swapped: list[bool] = []

    async def fail_the_third_chunk(rows: Sequence[SpendRow]) -> int:
        if len(store.calls) == 2 and not swapped:
            swapped.append(True)
            store.rows.clear()  # the first two chunks went into a file that is gone now
            raise StoreError("the file was deleted")
        return await real_add(rows)

    store.add_spend = fail_the_third_chunk  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        await writer.flush()
    assert seen == [True, True]
    await writer.flush()
    assert store.ids == [f"req-{n:06d}" for n in range(10)]
    assert (writer.rows_flushed, writer.rows_pending) == (10, 0)
    await writer.aclose()


async def test_rows_left_at_shutdown_are_replayed_at_the_next_start(
    store: FakeSpendStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.down = True
    writer = SpendWriter(store, SpendJournal(tmp_path), batch_interval=60, close_timeout=1)
    await writer.start()
    for n in range(4):
        writer.record(spend_row(n))
    await writer.aclose()
    assert "4 rows in the journal" in caplog.text and rows_on_disk(tmp_path) == 4

    # The store is still down at the next start: start returns at once, replay waits.
    writer = SpendWriter(
        store, SpendJournal(tmp_path), batch_interval=0.01, retry_initial=0.01, retry_max=0.02
    )
    await asyncio.wait_for(writer.start(), 1)
    await wait_until(lambda: writer.flush_failures >= 1)
    store.down = False
    await wait_until(lambda: writer.rows_replayed == 4)
    assert store.ids == [f"req-{n:06d}" for n in range(4)] and writer.rows_pending == 0
    await writer.aclose()


async def test_a_hanging_store_cannot_hold_shutdown(tmp_path: Path) -> None:
    class HangingStore:
        async def add_spend(self, rows: Sequence[SpendRow]) -> int:
            await asyncio.Event().wait()
            return 0

    writer = SpendWriter(HangingStore(), SpendJournal(tmp_path), close_timeout=0.1)
    writer.record(spend_row(1))
    await asyncio.wait_for(writer.aclose(), 5)
    with SpendJournal(tmp_path) as journal:
        assert ids(list(journal.replay())) == ["req-000001"]


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
