"""``Account``: the budget state of one key, user or team in this process: its limits
and spend as last loaded, what is reserved by requests in flight, and what was spent
since the store's figure (the gate reserves and settles on it)."""

from __future__ import annotations

import asyncio

from tokenway.limits.budgets import Hold
from tokenway.limits.redis_batch import amount
from tokenway.limits.window import Quota
from tokenway.store.base import Limits
from tokenway.store.durations import parse_duration

__all__ = ["Account"]


class Account:
    """The budget of one key, user or team on this instance.

    ``spend`` is the store's figure (plus rows flushed since it was read); ``unflushed``
    is cost settled here that the store has not got yet; ``reserved`` holds the estimates
    of the ``in_flight`` requests. The gate owns the last three.
    """

    __slots__ = (
        "blocked", "budget_duration", "held", "id", "in_flight", "kind", "label",
        "max_budget", "quota", "reserved", "reset_at", "spend", "unflushed", "waiters",
    )  # fmt: skip

    def __init__(self, kind: str, ident: str, label: str) -> None:
        self.kind = kind  # "key", "user", "team" or "member" (a user's budget in a team)
        self.id = ident
        self.label = label  # for messages: "key 'ci-bot'", "team 'ml'"
        self.blocked = False
        self.max_budget: float | None = None
        self.budget_duration: str | None = None
        self.reset_at: float | None = None
        self.spend = 0.0
        self.unflushed = 0.0
        self.reserved = 0.0
        self.in_flight = 0
        self.waiters: list[asyncio.Future[None]] = []
        self.quota: Quota | None = None
        self.held: tuple[float | None, Hold] | None = None  # ``hold``'s, with its reset_at

    def load(self, limits: Limits, blocked: bool, *, raced: bool) -> None:
        """Take the store's state. ``raced``: spend was flushed while it was being read,
        so the read may predate rows already counted here; keep the larger figure.
        A store whose window is behind this account's (``roll`` started the next one and
        the store's sweep has not yet) holds the old window's spend: keep this window's."""
        if not self._ahead_of(limits):
            same_window = limits.budget_reset_at == self.reset_at
            self.spend = max(limits.spend, self.spend) if raced and same_window else limits.spend
            self.reset_at = limits.budget_reset_at
        self.blocked = blocked
        self.max_budget = limits.max_budget
        self.budget_duration = limits.budget_duration
        rates = (limits.rpm_limit, limits.tpm_limit, limits.max_parallel_requests)
        has_rates = any(limit is not None for limit in rates)
        self.quota = Quota(f"{self.kind}:{self.id}", self.label, *rates) if has_rates else None

    def roll(self, now: float) -> None:
        """Start the next budget window when this one ended (the store catches up later).
        ``unflushed`` stays: the store adds those rows to its new window too."""
        reset_at = self.reset_at
        if reset_at is None or reset_at > now:
            return
        self.spend = 0.0
        step = _duration(self.budget_duration)
        if step is None:
            self.reset_at = None
            return
        windows = (now - reset_at) // step + 1
        self.reset_at = reset_at + windows * step

    def hold(self, now: float) -> Hold:
        """This account's part of a reservation in a ledger shared by processes (a window
        that ended starts afresh first, as the gate's own check does). Made again only
        when the window, the budget or the spend changed: the ledgers keep what they made
        of it (``RedisBudgets``), found by its identity."""
        self.roll(now)
        reset_at = self.reset_at
        held = self.held
        if held is not None:
            at, hold = held
            if at == reset_at and hold.floor == self.spend and hold.budget == self.max_budget:
                return hold
        assert self.max_budget is not None
        window = "-" if reset_at is None else amount(reset_at)
        hold = Hold(f"{self.kind}:{self.id}", window, self.max_budget, self.spend)
        self.held = (reset_at, hold)
        return hold

    def _ahead_of(self, limits: Limits) -> bool:
        """Whether this account rolled into a window the store has not reached (same
        ``budget_duration``: a changed one restarts the window from the store's record)."""
        mine, stored = self.reset_at, limits.budget_reset_at
        if mine is None or stored is None or limits.budget_duration != self.budget_duration:
            return False
        return stored < mine

    def wake(self) -> None:
        """Let every admission waiting on this budget look again."""
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _duration(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parse_duration(text)
    except ValueError:
        return None
