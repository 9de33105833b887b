"""Budget reservations in Redis: the ``BudgetLedger`` of every process sharing it.

``reserve`` is one script call (``lua/budget_reserve.lua``), in the same batches and on
the same connection as the rate limits' (``RedisLimitStore``); ``settle`` is another,
sent without waiting. Per account, Redis holds the window's spend settled through it,
the sum of the reservations in flight, and each reservation as a lease with an expiry,
renewed by the store like a parallel slot's: the reservations of a process that dies are
dropped within ``lease_ttl`` seconds.

An account's state lives ``KEEP`` seconds after its last reservation; then the store's
spend seeds it again. When Redis is unavailable ``shared`` is False and the gate reserves
in its own process (the rate limits' fallback, same warning, same return), or refuses
with 503 when the store is ``refuse_on_outage`` (``strict``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from tokenway.limits.budgets import Hold, Verdict
from tokenway.limits.redis_batch import head, pack
from tokenway.limits.redis_store import RedisLimitStore
from tokenway.limits.window import Quota

__all__ = ["KEEP", "RedisBudgets"]

KEEP = 600  # seconds an account's state outlives its last reservation


class RedisBudgets:
    def __init__(self, store: RedisLimitStore, keep: int = KEEP) -> None:
        self._store = store
        self._keep = keep
        self._made: dict[tuple[str, ...], _Commands] = {}

    @property
    def shared(self) -> bool:
        return self._store.available

    @property
    def strict(self) -> bool:
        return self._store.refuse_on_outage

    async def reserve(
        self,
        holds: Sequence[Hold],
        estimate: float,
        lease: str,
        quotas: Sequence[Quota] = (),  # not taken here: the store acquires them
        now: float = 0.0,
    ) -> Verdict:
        store = self._store
        made = self._commands(holds)
        now = time.time()  # the leases' clock: the rate limits' (wall time)
        words: list[str | int] = [
            repr(now),
            lease,
            repr(now + store.lease_ttl),
            repr(estimate),
            self._keep,
        ]
        for hold in holds:
            words += [hold.window, repr(hold.budget), repr(hold.floor)]
        reply = await store.call(made.reserve + pack(words))
        if int(reply[0]) == 0:
            store.hold(lease, made.leases)
            return Verdict(0, 0, 0.0)
        return Verdict(int(reply[0]), int(reply[1]), float(reply[2]))

    def settle(self, holds: Sequence[Hold], lease: str, cost: float) -> None:
        """Free ``lease`` and add ``cost``; while Redis is away the lease expires by itself
        and the cost reaches the ledger through the store's spend (the ``floor``)."""
        store = self._store
        store.drop(lease)
        store.cast(self._commands(holds).settle + pack((lease, repr(cost))))

    def _commands(self, holds: Sequence[Hold]) -> _Commands:
        """The static parts of the script calls for these accounts (made once per set)."""
        names = tuple(hold.name for hold in holds)
        made = self._made.get(names)
        if made is None:
            if len(self._made) > 10_000:
                self._made.clear()
            made = self._made[names] = self._make(names)
        return made

    def _make(self, names: tuple[str, ...]) -> _Commands:
        """``EVALSHA sha numkeys KEYS...``, then the per-call words (see the scripts)."""
        store = self._store
        keys = [store.key(f"{kind}:{name}") for name in names for kind in ("b", "bl", "be")]
        reserve: list[str | int] = ["EVALSHA", store.scripts["budget_reserve.lua"], len(keys)]
        settle: list[str | int] = ["EVALSHA", store.scripts["budget_settle.lua"], len(keys)]
        reserve += keys
        settle += keys
        return _Commands(
            head(len(reserve) + 5 + 3 * len(names)) + pack(reserve),
            head(len(settle) + 2) + pack(settle),
            keys[1::3],
        )


class _Commands(NamedTuple):
    reserve: bytes  # up to the per-call words
    settle: bytes  # up to the per-call words (lease, cost)
    leases: list[str]  # the sorted sets the leases are in, to renew them
