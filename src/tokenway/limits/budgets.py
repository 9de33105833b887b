"""Budget reservations shared by several processes: the ledger's seam and its memory form.

One process reserves a request's estimated cost on its key, user and team
(``tokenway.proxy.accounting.gate``). When several processes serve one gateway, each must
see the others' reservations and the cost they settled before the store has it, or N
processes overrun a budget by N requests. A ``BudgetLedger`` holds that for every process:
``RedisBudgets`` in Redis (``tokenway.limits.redis_budgets``), the counter process for
``--workers N`` without Redis (``tokenway.limits.local_store``), which keeps a
``BudgetBook``, the rules in memory (the Redis scripts apply the same ones).

The rules, per account (``Hold``): the ledger's ``spend`` for the budget window is the
cost settled through it, never below the store's figure the caller passes (``floor``; the
store only has rows the ledger counted already, so the larger is the truer). A request is
refused when spend ≥ budget; it must wait while others are in flight and spend + their
reservations + its estimate > budget; else its estimate is reserved under its ``lease``.
``settle`` frees the lease and adds the actual cost. So N processes overrun a budget by at
most one request, as one process does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from tokenway.limits.window import Quota, RateState

__all__ = ["ADMITTED", "EXCEEDED", "WAIT", "BudgetBook", "BudgetLedger", "Hold", "Verdict"]

ADMITTED, WAIT, EXCEEDED = 0, 1, 2
SLACK = 1e-9  # dollars: float sums of equal estimates must not refuse the last one


class Hold(NamedTuple):
    """One account's part of a reservation (a tuple: the counter process makes one per
    account and request from its message, and a frozen dataclass's ``__init__`` cost
    more than the rule it feeds)."""

    name: str  # "key:<id>", "user:<id>", "team:<id>"
    window: str  # the budget window (its reset time), so a new window starts afresh
    budget: float
    floor: float  # the store's spend as the caller knows it


class Verdict(NamedTuple):
    outcome: int  # ADMITTED, WAIT or EXCEEDED
    at: int  # the account refused or waited on (its position in the holds)
    spend: float  # that account's spend
    # When the ledger is also the limit store and was given the quotas: their verdict,
    # asked in the same call once the budget admitted (refused: nothing is reserved).
    rate: RateState | None = None


class BudgetLedger(Protocol):
    @property
    def shared(self) -> bool:
        """The ledger is reachable: reservations go through it (else the process's own)."""

    @property
    def strict(self) -> bool:
        """While the ledger is unreachable, refuse (503) rather than reserve here."""

    async def reserve(
        self,
        holds: Sequence[Hold],
        estimate: float,
        lease: str,
        quotas: Sequence[Quota] = (),
        now: float = 0.0,
    ) -> Verdict:
        """``quotas``: the rate limits to acquire too, in the same call, when the ledger
        is the limit store as well (the counter process); a ledger may ignore them."""

    @property
    def limits(self) -> object:
        """The limit store whose quotas ``reserve`` takes in the same call (and ``settle``
        releases in the same call), or None."""

    def settle(
        self,
        holds: Sequence[Hold],
        lease: str,
        cost: float,
        quotas: Sequence[Quota] = (),
        tokens: int = 0,
        now: float = 0.0,
    ) -> None:
        """Free ``lease`` and add ``cost``; with ``quotas`` (the ones ``reserve`` took),
        release them too, with ``tokens`` counted at ``now``."""


class _Entry:
    __slots__ = ("leases", "reserved", "spend", "window")

    def __init__(self, window: str, spend: float) -> None:
        self.window = window
        self.spend = spend
        self.reserved = 0.0
        self.leases: dict[str, float] = {}  # lease -> its estimate


class BudgetBook:
    """The ledger's rules in one process's memory (the counter process keeps one)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def reserve(self, holds: Sequence[Hold], estimate: float, lease: str) -> Verdict:
        entries = [self._entry(hold) for hold in holds]
        waiting: Verdict | None = None
        for index, (hold, entry) in enumerate(zip(holds, entries, strict=True)):
            if entry.spend >= hold.budget - SLACK:
                return Verdict(EXCEEDED, index, entry.spend)
            over = entry.spend + entry.reserved + estimate > hold.budget + SLACK
            if entry.leases and over and waiting is None:
                waiting = Verdict(WAIT, index, entry.spend)
        if waiting is not None:
            return waiting
        for entry in entries:
            entry.leases[lease] = estimate
            entry.reserved += estimate
        return Verdict(ADMITTED, 0, 0.0)

    def settle(self, holds: Sequence[Hold], lease: str, cost: float) -> None:
        for hold in holds:
            entry = self._entries.get(hold.name)
            if entry is None:
                continue
            estimate = entry.leases.pop(lease, None)
            if estimate is not None:
                entry.reserved = entry.reserved - estimate if entry.leases else 0.0
            entry.spend += cost

    def in_flight(self, name: str) -> int:
        entry = self._entries.get(name)
        return 0 if entry is None else len(entry.leases)

    def _entry(self, hold: Hold) -> _Entry:
        entry = self._entries.get(hold.name)
        if entry is None or entry.window != hold.window:
            entry = self._entries[hold.name] = _Entry(hold.window, hold.floor)
        elif hold.floor > entry.spend:
            entry.spend = hold.floor
        return entry
