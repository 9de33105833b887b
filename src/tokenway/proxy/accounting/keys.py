"""Virtual keys in memory: the store is read on a miss and refreshed behind the traffic.

A hit younger than ``refresh_after`` costs a dict lookup. An older hit is served at once
while one background query per key refreshes it, so a key revoked on another instance
stops working within ``refresh_after`` plus one query; a hit older than ``max_age`` (a key
nobody used for a while) waits for that query, so stale state never outlives ~5 s. The
instance that changes a key calls ``invalidate``/``forget`` and sees the change at once.

Budget state lives in ``Account`` objects (``accounts.py``), one per key, user and team,
shared by every key that points at them and kept across reloads: the gate reserves and
settles on them.

Store outage: a cached key keeps its last known state. An unknown key is refused with 503,
or, with ``allow_on_store_outage``, admitted as an *unrestricted* key (no budget, limits
or model list can be checked without its record) until the store answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tokenway.errors import ServiceUnavailableError
from tokenway.limits.window import Quota
from tokenway.proxy.accounting.accounts import Account
from tokenway.proxy.accounting.member_budgets import budgeted_member, member_limits
from tokenway.proxy.accounting.model_lists import (
    TeamModels,
    allowed_models,
    model_aliases,
    team_scoped,
)
from tokenway.store.base import (
    KeyRecord,
    Limits,
    SpendRow,
    Store,
    StoreError,
    TeamRecord,
    UserRecord,
)

__all__ = ["Account", "KeyCache", "KeyContext"]

log = logging.getLogger("tokenway.proxy.accounting.keys")

_MAX_UNKNOWN = 10_000  # negative entries kept before expired ones are purged

# The key, its user, its team, and its member budget in that team (``member_budgets``).
Fetched = tuple[KeyRecord, UserRecord | None, TeamRecord | None, Limits | None]


@dataclass(slots=True, eq=False)
class KeyContext:
    """A resolved key: its records, the accounts it spends on, its precomputed limits."""

    key: KeyRecord
    user: UserRecord | None
    team: TeamRecord | None
    # the key's, then its user's and team's when set, and its member budget in the team
    accounts: tuple[Account, ...]
    quotas: tuple[Quota, ...]  # the rate limits among them
    models: frozenset[str] | None  # allowed aliases; None = every model
    unrestricted: bool = False  # admitted unchecked during a store outage
    # LiteLLM's model aliases of the key and its team (the key's win): a requested name
    # found here is served, and checked, as the model it names. None: no aliases.
    aliases: Mapping[str, str] | None = None


class _Entry:
    __slots__ = ("ctx", "failing", "loaded_at", "next_try", "refreshing")

    def __init__(self, ctx: KeyContext, loaded_at: float, failing: bool = False) -> None:
        self.ctx = ctx
        self.loaded_at = loaded_at
        self.next_try = loaded_at
        self.failing = failing  # the last refresh hit a store error
        self.refreshing: asyncio.Task[None] | None = None


class KeyCache:
    def __init__(
        self,
        store: Store,
        *,
        refresh_after: float = 2.0,
        max_age: float = 4.0,
        unknown_ttl: float = 1.0,
        allow_on_store_outage: bool = False,
        clock: Callable[[], float] = time.monotonic,
        access_groups: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._store = store
        # Kept by reference: the app updates it in place when the served models change.
        self._groups: Mapping[str, frozenset[str]] = (
            access_groups if access_groups is not None else {}
        )
        self._team_models: TeamModels = {}  # set_team_models
        self._refresh_after = refresh_after
        self._max_age = max(max_age, refresh_after)
        self._unknown_ttl = unknown_ttl
        self._allow_on_outage = allow_on_store_outage
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._unknown: dict[str, float] = {}  # key hash -> until when it is known unknown
        self._loading: dict[str, asyncio.Task[KeyContext | None]] = {}
        # "key:<hash>", "user:<id>", "team:<id>", "member:<team id>:<user id>"
        self._accounts: dict[str, Account] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._epoch = 0  # bumped by invalidate/forget: older reads must not be cached
        self._flushes = 0  # bumped by add_flushed_spend: a read during one may be stale

    async def resolve(self, key_hash: str) -> KeyContext | None:
        """The key with its user and team, or ``None`` for an unknown key."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return await self._miss(key_hash)
        age = self._clock() - entry.loaded_at
        if age < self._refresh_after:
            return entry.ctx
        return await self._stale_hit(key_hash, entry, age)

    def peek(self, key_hash: str) -> KeyContext | None:
        """The key when its entry is fresh (what ``resolve`` returns without awaiting),
        else None: then ``resolve`` decides (a miss, or a stale hit to refresh)."""
        entry = self._entries.get(key_hash)
        if entry is not None and self._clock() - entry.loaded_at < self._refresh_after:
            return entry.ctx
        return None

    def invalidate(self, key_hash: str) -> None:
        """This instance changed or deleted the key: read it again on its next use."""
        self._epoch += 1
        self._entries.pop(key_hash, None)
        self._unknown.pop(key_hash, None)
        self._loading.pop(key_hash, None)

    def set_team_models(self, team_models: TeamModels) -> None:
        """The team models served from now on: when they changed, every key is read again
        (which models it may use, and by which names, depends on them)."""
        if team_models != self._team_models:
            self._team_models = team_models
            self._epoch += 1
            self._entries.clear()

    def forget(self, *, user_id: str | None = None, team_id: str | None = None) -> None:
        """A user or team changed: read every key that points at it again."""
        self._epoch += 1
        for key_hash, entry in list(self._entries.items()):
            key = entry.ctx.key
            if (user_id and key.user_id == user_id) or (team_id and key.team_id == team_id):
                del self._entries[key_hash]

    def add_flushed_spend(self, rows: Iterable[SpendRow]) -> None:
        """Rows the store just accepted: their cost moves from unflushed to spend.
        Summed per payer first: a batch holds many rows of the same few keys."""
        self._flushes += 1
        owed: dict[tuple[str | None, str | None, str | None], float] = {}
        for row in rows:
            cost = row.cost
            if cost and cost > 0:
                payer = (row.key_hash, row.user_id, row.team_id)
                owed[payer] = owed.get(payer, 0.0) + cost
        accounts = self._accounts
        for (key_hash, user_id, team_id), cost in owed.items():
            for name in (
                key_hash and f"key:{key_hash}",
                user_id and f"user:{user_id}",
                team_id and f"team:{team_id}",
                user_id and team_id and f"member:{team_id}:{user_id}",
            ):
                account = accounts.get(name) if name else None
                if account is not None:
                    account.spend += cost
                    account.unflushed = max(0.0, account.unflushed - cost)

    async def aclose(self) -> None:
        """Stop background refreshes (at shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _miss(self, key_hash: str) -> KeyContext | None:
        until = self._unknown.get(key_hash)
        if until is not None:
            if self._clock() < until:
                return None
            del self._unknown[key_hash]
        task = self._loading.get(key_hash)
        if task is None:
            task = asyncio.ensure_future(self._load(key_hash))
            self._loading[key_hash] = task
            task.add_done_callback(lambda done: self._loaded(key_hash, done))
        # shield: a caller that goes away must not cancel the others' query
        return await asyncio.shield(task)

    def _loaded(self, key_hash: str, task: asyncio.Task[KeyContext | None]) -> None:
        if self._loading.get(key_hash) is task:
            del self._loading[key_hash]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone

    async def _load(self, key_hash: str) -> KeyContext | None:
        epoch, flushes = self._epoch, self._flushes
        try:
            fetched = await self._fetch(key_hash)
        except StoreError as error:
            return self._outage(key_hash, error)
        if fetched is None:
            if epoch == self._epoch:
                self._remember_unknown(key_hash)
            return None
        ctx = self._build(fetched, raced=flushes != self._flushes)
        if epoch == self._epoch:
            self._entries[key_hash] = _Entry(ctx, self._clock())
        return ctx

    async def _stale_hit(self, key_hash: str, entry: _Entry, age: float) -> KeyContext | None:
        refreshing = entry.refreshing
        if refreshing is None and self._clock() >= entry.next_try:
            refreshing = entry.refreshing = self._spawn(self._refresh(key_hash, entry))
        if age < self._max_age or entry.failing or refreshing is None:
            return entry.ctx
        await asyncio.shield(refreshing)  # idle too long to trust: wait for the store
        current = self._entries.get(key_hash)
        return current.ctx if current is not None else await self._miss(key_hash)

    async def _refresh(self, key_hash: str, entry: _Entry) -> None:
        epoch, flushes = self._epoch, self._flushes
        try:
            fetched = await self._fetch(key_hash)
        except Exception as error:  # a store error, or a record it cannot decode
            log.warning("key refresh failed, serving cached key state: %r", error)
            entry.failing = True
            entry.next_try = self._clock() + self._refresh_after
            return
        finally:
            entry.refreshing = None
        if epoch != self._epoch or self._entries.get(key_hash) is not entry:
            return  # invalidated meanwhile: the next use reads again
        if fetched is None:  # deleted on another instance
            del self._entries[key_hash]
            self._drop_key_account(key_hash)
            self._remember_unknown(key_hash)
            return
        ctx = self._build(fetched, raced=flushes != self._flushes)
        self._entries[key_hash] = _Entry(ctx, self._clock())

    async def _fetch(self, key_hash: str) -> Fetched | None:
        key = await self._store.get_key(key_hash)
        if key is None:
            return None
        user = await self._store.get_user(key.user_id) if key.user_id else None
        team = await self._store.get_team(key.team_id) if key.team_id else None
        member = budgeted_member(key, team)
        budget = None
        if member is not None and team is not None and key.user_id is not None:
            now = time.time()  # budget windows are wall-clock times
            budget = await member_limits(self._store, member, key.user_id, team.team_id, now)
        return key, user, team, budget

    def _outage(self, key_hash: str, error: StoreError) -> KeyContext:
        log.warning("key store unavailable for an uncached key: %s", error)
        if not self._allow_on_outage:
            raise ServiceUnavailableError(
                "key store unavailable: this API key cannot be checked right now; "
                "retry in a few seconds",
                code="key_store_unavailable",
                retry_after=1.0,
            )
        key = KeyRecord(key_hash=key_hash, key_name="unverified key")
        ctx = KeyContext(key, None, None, (), (), None, unrestricted=True)
        entry = _Entry(ctx, float("-inf"), failing=True)
        entry.next_try = self._clock() + self._unknown_ttl
        self._entries[key_hash] = entry  # served at once; the store is asked again soon
        return ctx

    def _build(self, fetched: Fetched, *, raced: bool) -> KeyContext:
        key, user, team, member = fetched
        label = f"key '{key.key_alias}'" if key.key_alias else f"key {key.key_name}"
        accounts = [self._account("key", key.key_hash, label, key.limits, key.blocked, raced)]
        if user is not None:
            label = f"user '{user.user_id}'"
            accounts.append(self._account("user", user.user_id, label, user.limits, False, raced))
        if team is not None:
            label = f"team '{team.team_alias or team.team_id}'"
            accounts.append(
                self._account("team", team.team_id, label, team.limits, team.blocked, raced)
            )
        if member is not None and team is not None:
            ident = f"{team.team_id}:{key.user_id}"
            label = f"member '{key.user_id}' of team '{team.team_alias or team.team_id}'"
            accounts.append(self._account("member", ident, label, member, False, raced))
        quotas = tuple(account.quota for account in accounts if account.quota is not None)
        allowed = allowed_models(key, user, team, self._groups)
        aliases = model_aliases(key, team)
        if self._team_models:  # some team has models of its own (``model_lists``)
            own = allowed_models(key, user, None, self._groups)
            allowed, aliases = team_scoped(key.team_id, allowed, aliases, self._team_models, own)
        return KeyContext(key, user, team, tuple(accounts), quotas, allowed, aliases=aliases)

    def _account(
        self, kind: str, ident: str, label: str, limits: Limits, blocked: bool, raced: bool
    ) -> Account:
        name = f"{kind}:{ident}"
        account = self._accounts.get(name)
        if account is None:
            account = self._accounts[name] = Account(kind, ident, label)
        account.label = label
        account.load(limits, blocked, raced=raced)
        return account

    def _drop_key_account(self, key_hash: str) -> None:
        account = self._accounts.get(f"key:{key_hash}")
        if account is not None and account.in_flight == 0:
            del self._accounts[f"key:{key_hash}"]

    def _remember_unknown(self, key_hash: str) -> None:
        now = self._clock()
        if len(self._unknown) >= _MAX_UNKNOWN:
            expired = [h for h, until in self._unknown.items() if until <= now]
            for stale in expired:
                del self._unknown[stale]
            if len(self._unknown) >= _MAX_UNKNOWN:
                self._unknown.clear()
        self._unknown[key_hash] = now + self._unknown_ttl

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
