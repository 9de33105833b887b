"""The proxy's backing services: the store, the key cache, the spend journal and writer.

Nothing here does I/O until ``start``, which runs in the serving event loop (after any
fork, so each worker owns its own connections and journal). Start-up never waits on the
store: if it is down, the proxy serves what it can (the master key, keys it has cached)
and keeps trying to open it, while spend rows wait in the journal.

Shutdown: ``drain`` waits (bounded) for requests whose spend row is not written yet,
those whose client has gone included, before the spend writer closes; a row that comes
later still is journaled for the next start by the writer itself.

Store health: ``store_available`` is what the last store call said (a spend flush, a
budget reset, opening it), so readiness reports an outage the writer or the budget task
ran into, and the store's recovery as soon as one call succeeds again.

Journals: each process takes the first free slot ``<journal dir>/<n>`` (a slot is held by
an exclusive lock), and adopts the rows of any other slot that no process holds, so a
restart with fewer workers loses nothing either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenway.limits.budgets import BudgetLedger
from tokenway.limits.local_store import LocalLimitStore
from tokenway.limits.redis_budgets import RedisBudgets
from tokenway.limits.redis_store import RedisLimitStore
from tokenway.limits.window import LimitStore, MemoryLimitStore
from tokenway.proxy.accounting.end_users import EndUsers
from tokenway.proxy.accounting.gate import Gate
from tokenway.proxy.accounting.journal import JournalLockedError, SpendJournal
from tokenway.proxy.accounting.key_events import KeyEvents
from tokenway.proxy.accounting.keys import KeyCache
from tokenway.proxy.accounting.model_lists import team_models_of
from tokenway.proxy.accounting.router_stats import RouterStats
from tokenway.proxy.accounting.spend import SpendTracker
from tokenway.proxy.accounting.spend_writer import SpendWriter
from tokenway.proxy.config import DeploymentConfig
from tokenway.proxy.config.settings import RedisSettings, SpendSettings
from tokenway.store import (
    DEFAULT_SQLITE_URL,
    SpendRow,
    Store,
    StoreError,
    open_store,
    redact_url,
)

log = logging.getLogger("tokenway.proxy")

BUDGET_RESET_INTERVAL = 10.0  # seconds between resets of budgets whose window ended
CLOSE_DRAIN_TIMEOUT = 1.0  # after the upstream connections closed, calls end at once
_REOPEN_DELAY = 2.0
_MAX_SLOTS = 256


class Services:
    def __init__(
        self,
        database_url: str | None,
        settings: SpendSettings,
        data_dir: Path,
        redis: RedisSettings | None = None,
        counter: str | None = None,
        access_groups: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """``counter``: the socket of the counter process the workers of one machine share
        their limits through, when there is no Redis (``tokenway.limits.local_store``)."""
        url = database_url or _default_sqlite_url(data_dir)
        # Rate limits: in Redis for every process sharing it, else in this process.
        self.redis = (
            RedisLimitStore(
                redis.url, prefix=redis.key_prefix, refuse_on_outage=redis.refuse_on_outage
            )
            if redis is not None
            else None
        )
        self.counter = LocalLimitStore(counter) if counter and not self.redis else None
        self.limits: LimitStore = self.redis or self.counter or MemoryLimitStore()
        # Deployment limits counted with the other processes (None: in this one alone).
        self.shared_limits: LimitStore | None = self.redis or self.counter
        # Budget reservations every process sees: in the same Redis or counter (else None:
        # each process reserves in its own memory, as one process alone does).
        self.budgets: BudgetLedger | None = (
            RedisBudgets(self.redis) if self.redis is not None else self.counter
        )
        self.url = url
        self.store: Store = open_store(url)
        # Every key served through a store outage (allow_requests_on_db_unavailable).
        self.serves_through_outage = settings.serve_through_outage
        self.keys = KeyCache(
            self.store,
            allow_on_store_outage=self.serves_through_outage,
            access_groups=access_groups,
        )
        # Key changes heard by every instance sharing the Redis (pub/sub), when there is one.
        self.key_events = (
            KeyEvents(redis.url, redis.key_prefix, self.keys.invalidate) if redis else None
        )
        # Routing statistics told to the other instances (set by the app, with Redis).
        self.router_stats: RouterStats | None = None
        self.end_users: EndUsers | None = None  # once ``end_users_of`` made it
        self.tracker = SpendTracker(store_payload=settings.store_payload)
        self._early = _BeforeStart()
        if settings.spend_logs:
            self.tracker.sink = self._early
        self.writer: SpendWriter | None = None
        self.journal: SpendJournal | None = None  # this process's slot, once started
        self._spend_logs = settings.spend_logs
        self._journal_dir = data_dir / settings.journal_dir
        self._fsync = settings.fsync_interval
        self._batch_interval = settings.batch_interval
        self._tasks: list[asyncio.Task[None]] = []
        self.store_open = False
        self._store_ok = False  # the last store call succeeded

    def models_served(self, deployments: Iterable[DeploymentConfig]) -> None:
        """The served deployments changed: keys learn their teams' models (those added
        with a ``team_id``, served to that team's keys only)."""
        infos = ((d.model_name, d.model_info) for d in deployments)
        self.keys.set_team_models(team_models_of(infos))

    def end_users_of(self, gate: Gate) -> EndUsers:
        """The end users requests name (``user``), checked by ``gate`` as keys are."""
        self.end_users = EndUsers(
            self.store, gate, allow_on_store_outage=self.serves_through_outage
        )
        return self.end_users

    def _flushed(self, rows: Sequence[SpendRow]) -> None:
        self.keys.add_flushed_spend(rows)
        if self.end_users is not None:
            self.end_users.add_flushed_spend(rows)

    def key_changed(self, key_hash: str) -> None:
        """A key was changed here: drop it from this cache, and tell the other instances."""
        self.keys.invalidate(key_hash)
        if self.key_events is not None:
            self.key_events.publish(key_hash)

    @property
    def store_available(self) -> bool:
        """The store is open and the last call made to it (spend, budget reset) succeeded."""
        return self.store_open and self._store_ok

    def observe_store(self, ok: bool) -> None:
        """The outcome of a store call: the latest one decides ``store_available``."""
        self._store_ok = ok

    async def start(self) -> None:
        """Open the store (or keep trying in the background), then start the spend writer;
        connect to Redis (an outage there only logs: limits are counted here meanwhile)."""
        if self.redis is not None:
            await self.redis.start()
        if self.key_events is not None:
            await self.key_events.start()
        if self.counter is not None:
            await self.counter.start()
        if self.router_stats is not None:
            await self.router_stats.start()
        if not await self._try_open():
            self._spawn(self._reopen(), "tokenway-store-reopen")
        if self._spend_logs:
            journal = self.journal = self._take_journal()
            self.writer = SpendWriter(
                self.store,
                journal,
                batch_interval=self._batch_interval,
                on_flushed=self._flushed,
                on_store=self.observe_store,
            )
            self.tracker.sink = self.writer
            self._adopt_orphans(journal)
            for row in self._early.take():
                self.writer.record(row)
            await self.writer.start()
        self._spawn(self._reset_budgets(), "tokenway-budget-reset")

    async def drain(self, timeout: float) -> int:
        """Wait, at most ``timeout`` seconds, for every request to have written its spend
        row; return how many have not (their rows come late, see ``SpendWriter.record``)."""
        tracker = self.tracker
        if tracker.open_tickets:
            log.info("waiting up to %.0fs for %d request(s) to end", timeout, tracker.open_tickets)
        left = await tracker.drained(timeout)
        if left:
            log.warning(
                "%d request(s) still running after %.1fs; their spend rows will be journaled "
                "for the next start",
                left,
                timeout,
            )
        return left

    async def aclose(self) -> None:
        """Let requests end (briefly, quietly: ``drain`` said what was left), stop the
        background tasks, flush and close."""
        await self.tracker.drained(CLOSE_DRAIN_TIMEOUT)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.writer is not None:
            await self.writer.aclose()
        await self.keys.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        if self.key_events is not None:
            await self.key_events.aclose()
        if self.counter is not None:
            await self.counter.aclose()
        if self.router_stats is not None:
            await self.router_stats.aclose()
        with contextlib.suppress(StoreError):
            await self.store.close()

    # ---- the store ------------------------------------------------------------------

    async def _try_open(self) -> bool:
        try:
            await self.store.open()
        except StoreError as error:
            log.error("store %s unavailable (%s); retrying", redact_url(self.url), error)
            return False
        self.store_open = self._store_ok = True
        return True

    async def _reopen(self) -> None:
        while not await self._try_open():
            await asyncio.sleep(_REOPEN_DELAY)
        log.info("store %s is back", redact_url(self.url))

    async def _reset_budgets(self) -> None:
        while True:
            if self.store_open:
                try:
                    await self.store.reset_budgets(time.time())
                    if await self.store.reset_end_user_budgets(time.time()):
                        self._end_users_reset()
                except StoreError as error:
                    self.observe_store(False)
                    log.warning("budget reset skipped: store unavailable (%s)", error)
                else:
                    self.observe_store(True)
            await asyncio.sleep(BUDGET_RESET_INTERVAL)

    def _end_users_reset(self) -> None:
        if self.end_users is not None:
            self.end_users.invalidate(None)  # their spend is read again

    def _spawn(self, work: Any, name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(work, name=name))

    # ---- journals -------------------------------------------------------------------

    def _take_journal(self) -> SpendJournal:
        fsync = self._fsync
        for slot in range(_MAX_SLOTS):
            with contextlib.suppress(JournalLockedError):
                return SpendJournal(self._journal_dir / str(slot), fsync_interval=fsync)
        raise JournalLockedError(
            f"all {_MAX_SLOTS} spend journal slots under {self._journal_dir} are in use"
        )

    def _adopt_orphans(self, own: SpendJournal) -> None:
        """Re-journal the rows of slots no live process holds, then drop their files."""
        assert self.writer is not None
        if not self._journal_dir.is_dir():
            return
        for slot in sorted(self._journal_dir.iterdir()):
            if not slot.is_dir() or slot == own.directory:
                continue
            try:
                orphan = SpendJournal(slot)
            except JournalLockedError:
                continue  # a live process owns it
            with orphan:
                for segment in orphan.segments():
                    for row in orphan.read(segment):
                        self.writer.record(row)
                    orphan.delete(segment)


class _BeforeStart:
    """The spend sink until ``start`` has made the writer: a request served before that
    (``serve_app`` starts the app before it takes connections, so only an embedder that
    does otherwise) keeps its row here, and the writer gets it at the start."""

    def __init__(self) -> None:
        self._rows: list[SpendRow] = []

    def record(self, row: SpendRow) -> None:
        if not self._rows:
            log.warning(
                "a request ended before the spend writer started; its spend row is kept "
                "in memory until the start"
            )
        self._rows.append(row)

    def take(self) -> list[SpendRow]:
        rows, self._rows = self._rows, []
        return rows


def _default_sqlite_url(data_dir: Path) -> str:
    if data_dir == Path("."):
        return DEFAULT_SQLITE_URL
    return "sqlite:///" + os.fspath(data_dir.resolve() / "tokenway.db")
