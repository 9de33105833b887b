"""End users on the request path: the ``user`` a request names, with its budget and limits.

LiteLLM calls whoever a request names in its ``user`` field an end user (or customer).
One with a record (``/end_user/new``) is checked on each request that names it: blocked
is a 403, its budget (``max_budget`` of its budget object, over the budget's window) and
its rpm/tpm/parallel limits are the gate's, as a key's are, whatever key or master key
sent the request. A name without a record is not limited (its spend rows still name it).
An end user's ``allowed_model_region`` keeps its requests on that region's deployments
(``tokenway.proxy.pipeline.regions``).

Records are cached like keys (``refresh_after`` seconds), unknown names too, so a request
naming an end user costs a dict lookup while its entry is fresh; a request without
``user`` never gets here. Budget state lives in one ``Account`` per end user, kept across
reloads; ``add_flushed_spend`` moves flushed cost from ``unflushed`` to ``spend``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from tokenway.errors import PermissionDeniedError, ServiceUnavailableError
from tokenway.proxy.accounting.gate import Admission, Gate
from tokenway.proxy.accounting.keys import Account, KeyContext
from tokenway.store.base import KeyRecord, Limits, SpendRow, Store, StoreError
from tokenway.store.entities import BudgetRecord, EndUserRecord

__all__ = ["EndUsers"]

log = logging.getLogger("tokenway.proxy.accounting.end_users")

_MAX_ENTRIES = 100_000  # names cached before the cache starts over (unknown names are many)


class _Entry:
    __slots__ = ("blocked", "ctx", "loaded_at", "region", "user_id")

    def __init__(
        self,
        user_id: str,
        ctx: KeyContext | None,
        blocked: bool,
        at: float,
        region: str | None = None,
    ) -> None:
        self.user_id = user_id
        self.ctx = ctx  # the gate's view (its account and quota); None: nothing to check
        self.blocked = blocked
        self.loaded_at = at
        self.region = region  # allowed_model_region: its requests go to this region only


class EndUsers:
    def __init__(
        self,
        store: Store,
        gate: Gate,
        *,
        refresh_after: float = 2.0,
        allow_on_store_outage: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._gate = gate
        self._refresh_after = refresh_after
        self._allow_on_outage = allow_on_store_outage
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Task[_Entry]] = {}
        self._accounts: dict[str, Account] = {}
        self._epoch = 0  # bumped by invalidate: a read begun before must not be cached
        self._flushes = 0  # bumped by add_flushed_spend: a read during one may be stale

    def passes(self, user_id: str) -> bool:
        """Whether a fresh cached entry says there is nothing to check (no record, or one
        neither blocked nor limited): then ``admit`` is not needed, nor awaited."""
        entry = self._entries.get(user_id)
        return (
            entry is not None
            and entry.ctx is None
            and not entry.blocked
            and self._clock() - entry.loaded_at < self._refresh_after
        )

    def region(self, user_id: str) -> str | None:
        """The end user's ``allowed_model_region`` (after ``passes`` or ``admit`` read it)."""
        entry = self._entries.get(user_id)
        return entry.region if entry is not None else None

    async def admit(
        self, user_id: str, alias: str, estimate: Callable[[], float]
    ) -> Admission | None:
        """The end user's hold on its budget and limits (None: it has none), or the error
        the client should get. ``estimate``: the request's cost reservation."""
        entry = self._entries.get(user_id)
        if entry is None or self._clock() - entry.loaded_at >= self._refresh_after:
            entry = await self._load(user_id)
        if entry.blocked:
            raise PermissionDeniedError(
                f"end user '{user_id}' is blocked; ask the administrator to unblock it "
                "(POST /end_user/unblock)",
                param="user",
                code="end_user_blocked",
            )
        ctx = entry.ctx
        if ctx is None:
            return None
        cost = estimate() if ctx.accounts[0].max_budget is not None else 0.0
        gate, now = self._gate, time.time()
        admission = gate.admit_now(ctx, alias, cost, now)
        return admission if admission is not None else await gate.admit_later(ctx, alias, cost, now)

    def invalidate(self, user_id: str | None) -> None:
        """An end user changed here (None: any of them): read it again on its next use."""
        self._epoch += 1
        if user_id is None:
            self._entries.clear()
        else:
            self._entries.pop(user_id, None)
        self._loading.clear()

    def add_flushed_spend(self, rows: Iterable[SpendRow]) -> None:
        """Rows the store just accepted: their cost moves from unflushed to spend."""
        self._flushes += 1
        accounts = self._accounts
        if not accounts:
            return
        for row in rows:
            cost, end_user = row.cost, row.end_user
            if end_user is not None and cost and cost > 0:
                account = accounts.get(end_user)
                if account is not None:
                    account.spend += cost
                    account.unflushed = max(0.0, account.unflushed - cost)

    async def _load(self, user_id: str) -> _Entry:
        task = self._loading.get(user_id)
        if task is None:
            task = asyncio.ensure_future(self._read(user_id, self._epoch))
            self._loading[user_id] = task
            task.add_done_callback(lambda done: self._loaded(user_id, done))
        # shield: a caller that goes away must not cancel the others' query
        return await asyncio.shield(task)

    def _loaded(self, user_id: str, task: asyncio.Task[_Entry]) -> None:
        if self._loading.get(user_id) is task:
            del self._loading[user_id]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone

    async def _read(self, user_id: str, epoch: int) -> _Entry:
        flushes = self._flushes
        try:
            record = await self._store.get_end_user(user_id)
            budget = None
            if record is not None and record.budget_id is not None:
                budget = await self._store.get_budget(record.budget_id)
        except StoreError as error:
            return self._outage(user_id, error)
        entry = self._entry(user_id, record, budget, raced=flushes != self._flushes)
        if epoch == self._epoch:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[user_id] = entry
        return entry

    def _entry(
        self,
        user_id: str,
        record: EndUserRecord | None,
        budget: BudgetRecord | None,
        *,
        raced: bool,
    ) -> _Entry:
        now = self._clock()
        if record is None:
            return _Entry(user_id, None, False, now)
        region = record.allowed_model_region or None
        if budget is None:
            self._accounts.pop(user_id, None)
            return _Entry(user_id, None, record.blocked, now, region)
        account = self._accounts.get(user_id)
        if account is None:
            account = self._accounts[user_id] = Account(
                "end_user", user_id, f"end user '{user_id}'"
            )
        limits = Limits(
            max_budget=budget.max_budget,
            budget_duration=budget.budget_duration,
            budget_reset_at=record.budget_reset_at,
            spend=record.spend,
            rpm_limit=budget.rpm_limit,
            tpm_limit=budget.tpm_limit,
            max_parallel_requests=budget.max_parallel_requests,
        )
        account.load(limits, False, raced=raced)  # blocked is checked before the gate
        quotas = (account.quota,) if account.quota is not None else ()
        key = KeyRecord(key_hash=f"end_user:{user_id}", key_name=f"end user '{user_id}'")
        ctx = KeyContext(key, None, None, (account,), quotas, None)
        return _Entry(user_id, ctx, record.blocked, now, region)

    def _outage(self, user_id: str, error: StoreError) -> _Entry:
        log.warning("store unavailable for an uncached end user: %s", error)
        if not self._allow_on_outage:
            raise ServiceUnavailableError(
                "the store is unavailable: this request's end user (its 'user' field) "
                "cannot be checked right now; retry in a few seconds",
                code="end_user_store_unavailable",
                retry_after=1.0,
            )
        return _Entry(user_id, None, False, self._clock())  # not cached: asked again next time
