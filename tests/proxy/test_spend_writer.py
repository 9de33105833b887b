"""The spend writer loses no row: not to a store outage, not to a SIGKILL, not at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from tests.proxy.spend_helpers import FakeSpendStore, ids, rows_on_disk, spend_row, wait_until

from tokenway.proxy.accounting.journal import SpendJournal
from tokenway.proxy.accounting.spend import SpendTracker, Ticket
from tokenway.proxy.accounting.spend_writer import SpendWriter
from tokenway.store.base import SpendRow, StoreError

KEY_HASH = "cd" * 32


@pytest.fixture
def store() -> FakeSpendStore:
    return FakeSpendStore()


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[SpendJournal]:
    with SpendJournal(tmp_path / "journal") as opened:
        yield opened


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
