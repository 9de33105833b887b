"""The spend writer: journal each row on the hot path, hand batches to the store behind it.

``record`` is synchronous and costs one journal append (a few µs), so the proxy calls it
before a response's last byte is sent. A background task seals the journal's active file
every ``batch_interval`` seconds (sooner once ``max_batch_rows`` are waiting), gives the
rows to ``store.add_spend`` and deletes the segment only once the store accepted them all.

When the store fails, nothing is dropped: the batch stays queued, new rows keep going to
the journal, and the writer retries with a capped backoff, logging once per outage. Rows
are flushed in the order they were recorded. Leftover segments of an earlier run (a crash,
or a store that was down at shutdown) are flushed first; ``add_spend`` is idempotent by
``request_id``, so a crash between insert and delete inserts nothing twice.

A row recorded after ``aclose`` (a request that ended during shutdown, past its drain)
is still journaled, synchronously, for the next start (``SpendJournal.append_late``).
A failed batch is sent again from its first row: a store that was swapped under the
writer (a deleted SQLite file) must get all of it, and ``add_spend`` skips what it holds.

All methods run on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tokenway.proxy.accounting.journal import SpendJournal
from tokenway.store.base import SpendRow, StoreError

__all__ = ["FlushedCallback", "SpendStore", "SpendWriter", "StoreObserver"]

log = logging.getLogger("tokenway.proxy.accounting.spend")

FlushedCallback = Callable[[Sequence[SpendRow]], None]
StoreObserver = Callable[[bool], None]  # told whether each store call succeeded


class SpendStore(Protocol):
    """The one store method the writer needs (``tokenway.store.base.Store`` has it)."""

    async def add_spend(self, rows: Sequence[SpendRow]) -> int: ...


@dataclass(slots=True)
class _Batch:
    segment: Path | None  # None: rows the journal could not take (memory only)
    rows: list[SpendRow] | None  # None: read back from the segment (replay, or spilled)
    live: bool  # recorded by this process (counted in rows_pending)
    done: int = 0  # rows the store has accepted so far, in this pass over the batch
    counted: int = 0  # rows already counted as flushed (a failed pass starts again at 0)


class SpendWriter:
    """Record spend rows durably now; write them to the store in batches, in order.

    ``on_flushed(rows)`` runs after each accepted ``add_spend`` call that stored at least
    one new row (the key cache adds their cost to its cached spend). A replayed batch that
    the store partly had already is passed whole: ``add_spend`` only says how many were new.
    ``max_memory_rows`` bounds the rows kept in memory during an outage; past it they are
    read back from the journal when the store returns. The journal's ``fsync_interval`` is
    honoured on this writer's ticks, in a worker thread. Big batches are cheaper per row:
    each store transaction has a fixed cost, and the store's thread shares the loop's core.
    ``on_store(ok)`` hears the outcome of every store call (readiness reports it).
    """

    def __init__(
        self,
        store: SpendStore,
        journal: SpendJournal,
        *,
        batch_interval: float = 1.0,
        max_batch_rows: int = 2000,
        on_flushed: FlushedCallback | None = None,
        retry_initial: float = 0.5,
        retry_max: float = 10.0,
        max_memory_rows: int = 100_000,
        close_timeout: float = 5.0,
        on_store: StoreObserver | None = None,
    ) -> None:
        self._store = store
        self._journal = journal
        self._interval = batch_interval
        self._max_batch_rows = max_batch_rows
        self._on_flushed = on_flushed
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._max_memory_rows = max_memory_rows
        self._close_timeout = close_timeout
        self._on_store = on_store
        # Leftovers of an earlier run go first, so rows reach the store in order.
        self._queue = deque(_Batch(s, None, live=False) for s in journal.segments())
        self._rows: list[SpendRow] | None = []  # journaled since the last seal; None: spilled
        self._count = 0  # journaled since the last seal
        self._unjournaled: list[SpendRow] = []  # the journal refused them (disk full, ...)
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._journal_closed = False
        self._failing = False
        self._journal_failing = False
        self.rows_recorded = 0
        self.rows_flushed = 0  # accepted by the store, replayed rows included
        self.rows_replayed = 0  # accepted rows that an earlier run had journaled
        self.rows_pending = 0  # recorded by this process, not yet accepted
        self.rows_late = 0  # recorded after aclose: in the journal for the next start
        self.flush_failures = 0
        self.journal_errors = 0
        self.last_error: str | None = None  # class name of the last failure, never a message
        self._last_accepted = time.monotonic()  # the store last took rows (or the start)

    @property
    def queued_batches(self) -> int:
        """Sealed batches (journal segments) the store has not taken yet."""
        return len(self._queue)

    def lag(self) -> float:
        """Seconds since the store last took rows, while rows wait for it (else 0)."""
        if not self.rows_pending and not self._queue:
            return 0.0
        return max(0.0, time.monotonic() - self._last_accepted)

    @property
    def failing(self) -> bool:
        """Whether the last try to write to the store failed (and none succeeded since)."""
        return self._failing

    def record(self, row: SpendRow) -> None:
        """Journal one row (in the OS when this returns) and queue it for the store."""
        if self._journal_closed:
            self._record_late(row)
            return
        try:
            self._journal.append(row)
        except OSError as err:
            self._journal_failed(err)
            self._unjournaled.append(row)
        else:
            self._count += 1
            rows = self._rows
            if rows is not None:
                rows.append(row)
                if self._count > self._max_memory_rows:
                    self._rows = None  # a long outage: read them back from the segment
        self.rows_recorded += 1
        if not self.rows_pending and not self._queue:  # nothing waited: the lag starts now
            self._last_accepted = time.monotonic()
        self.rows_pending += 1
        if self._count >= self._max_batch_rows:
            self._wake.set()

    async def start(self) -> None:
        """Start flushing (leftover segments first); returns at once, even if the store is down."""
        if self._task is None and not self._closed:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name="tokenway-spend-writer")

    async def flush(self) -> None:
        """Hand every pending row to the store now; raises the store's error if it fails."""
        async with self._flush_lock:
            await self._flush_queue()  # batches held back by an outage come first
            self._seal()
            await self._flush_queue()

    async def aclose(self) -> None:
        """Flush what is pending (bounded by ``close_timeout``); the rest waits in the journal."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            async with asyncio.timeout(self._close_timeout):
                await self.flush()
        except Exception as err:
            log.warning(
                "spend writer closed with %d rows in the journal at %s for the next start (%s)",
                self.rows_pending,
                self._journal.directory,
                type(err).__name__,
            )
        finally:
            self._journal.close()
            self._journal_closed = True
        if self._unjournaled:
            log.error("%d spend rows lost: the journal refused them", len(self._unjournaled))

    def _record_late(self, row: SpendRow) -> None:
        """A request that ended after ``aclose``: journal its row for the next start."""
        self.rows_recorded += 1
        try:
            self._journal.append_late(row)
        except OSError as err:
            log.error(
                "spend row %s lost: the journal refused it after shutdown (%s)", row.request_id, err
            )
            return
        self.rows_late += 1
        log.warning(
            "spend row %s ended after the spend writer closed; journaled for the next start",
            row.request_id,
        )

    async def _run(self) -> None:
        delay = 0.0
        while True:
            await self._sync_journal()
            try:
                await self.flush()
            except Exception as err:
                self._flush_failed(err)
                delay = min(max(delay * 2, self._retry_initial), self._retry_max)
                await asyncio.sleep(delay)  # a full batch does not cut an outage's backoff
                continue
            delay = 0.0
            await self._next_tick()

    async def _next_tick(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._interval):
                await self._wake.wait()
        self._wake.clear()

    def _seal(self) -> None:
        """Turn the rows recorded since the last seal into a queued batch."""
        try:
            segment = self._journal.seal()
        except OSError as err:  # the rows stay in the journal; tried again next tick
            self._journal_failed(err)
            return
        rows = self._rows
        if segment is not None or rows:
            self._queue.append(_Batch(segment, rows, live=True))
        self._rows, self._count = [], 0
        if self._unjournaled:
            self._queue.append(_Batch(None, self._unjournaled, live=True))
            self._unjournaled = []
        else:
            self._journal_failing = False  # a whole period without an error: log the next one

    async def _flush_queue(self) -> None:
        while self._queue:
            batch = self._queue[0]
            try:
                with contextlib.closing(self._chunks(batch)) as chunks:
                    for chunk in chunks:
                        accepted = await self._store.add_spend(chunk)
                        self._store_ok()
                        self._accepted(batch, chunk, accepted)
            except BaseException:
                batch.done = 0  # all of it again: the store may not be the one that took it
                raise
            self._queue.popleft()
            if batch.segment is not None:
                try:
                    self._journal.delete(batch.segment)
                except OSError as err:  # replayed at the next start; add_spend skips them
                    log.warning("cannot delete spend journal segment %s: %s", batch.segment, err)

    def _chunks(self, batch: _Batch) -> Generator[list[SpendRow], None, None]:
        if batch.rows is not None:
            while batch.done < len(batch.rows):
                yield batch.rows[batch.done : batch.done + self._max_batch_rows]
            return
        assert batch.segment is not None
        try:
            rows = itertools.islice(self._journal.read(batch.segment), batch.done, None)
            while chunk := list(itertools.islice(rows, self._max_batch_rows)):
                yield chunk
        except FileNotFoundError:
            log.error("spend journal segment %s vanished; its rows are lost", batch.segment)

    def _store_ok(self) -> None:
        self._last_accepted = time.monotonic()
        if self._failing:
            self._failing = False
            log.warning("spend store is back; journaled rows are being written")
        if self._on_store is not None:
            self._on_store(True)

    def _accepted(self, batch: _Batch, chunk: list[SpendRow], new: int) -> None:
        batch.done += len(chunk)
        fresh = batch.done - batch.counted  # rows sent again after a failed pass count once
        if fresh > 0:
            batch.counted = batch.done
            self.rows_flushed += fresh
            if batch.live:
                self.rows_pending -= fresh
            else:
                self.rows_replayed += fresh
        if new and self._on_flushed is not None:
            try:
                self._on_flushed(chunk)
            except Exception:
                log.exception("spend on_flushed callback failed")

    def _flush_failed(self, err: Exception) -> None:
        self.flush_failures += 1
        self.last_error = type(err).__name__
        if self._on_store is not None:
            self._on_store(False)
        if self._failing:
            return  # one log line per outage, not one per try
        self._failing = True
        where = self._journal.directory
        if isinstance(err, StoreError):
            log.warning(
                "spend store unavailable (%s: %s); rows wait in the journal at %s and are "
                "retried with backoff",
                type(err).__name__,
                err,
                where,
            )
        else:
            log.error(
                "writing spend rows failed; they wait in the journal at %s", where, exc_info=err
            )

    def _journal_failed(self, err: OSError) -> None:
        self.journal_errors += 1
        self.last_error = type(err).__name__
        if not self._journal_failing:  # once; the row still reaches the store from memory
            self._journal_failing = True
            log.error("spend journal at %s cannot be written: %s", self._journal.directory, err)

    async def _sync_journal(self) -> None:
        if not self._journal.sync_due():
            return
        try:
            await asyncio.to_thread(self._journal.sync)
        except OSError as err:
            self._journal_failed(err)
