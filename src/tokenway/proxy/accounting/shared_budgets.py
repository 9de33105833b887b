"""The gate's budget reservations when several processes serve one gateway.

With a ``BudgetLedger`` (Redis, or the counter process of ``--workers N``), a request on
a key whose key, user or team has a ``max_budget`` reserves its estimate in the ledger,
where every process sees it, instead of in this process's ``Account`` only (which still
keeps its own figures, so a ledger lost mid-flight leaves this process counting right).
A request that must wait for others to settle asks the ledger again after a short sleep
(20 ms, doubling up to 200 ms): settlements in other processes send no signal here.

When the ledger fails (Redis down, the counter lost) the request reserves in this process
alone, like everything else that Redis counts (its store logs the outage once), or, with
a ``strict`` ledger (``redis_outage: refuse``), is refused with 503.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Sequence

from tokenway.limits.budgets import EXCEEDED, WAIT, BudgetLedger, Hold
from tokenway.limits.redis_store import redis_unavailable
from tokenway.limits.window import Quota, RateState
from tokenway.proxy.accounting.keys import Account

__all__ = ["SharedBudgets", "SharedHold", "SharedRefusal"]

_FIRST_POLL = 0.02  # seconds before asking the ledger again
_LAST_POLL = 0.2


class SharedRefusal(Exception):
    """The ledger refused: ``account``'s budget is spent (``busy`` False) or held by
    requests in flight for longer than the gate waits (``busy`` True)."""

    def __init__(self, account: Account, spend: float, busy: bool) -> None:
        super().__init__(account.label)
        self.account = account
        self.spend = spend
        self.busy = busy


class SharedHold:
    """One admitted request's reservation in the ledger, until ``settle``."""

    __slots__ = ("_holds", "_lease", "_ledger", "rate")

    def __init__(
        self,
        ledger: BudgetLedger,
        holds: Sequence[Hold],
        lease: str,
        rate: RateState | None = None,
    ) -> None:
        self._ledger = ledger
        self._holds = holds
        self._lease = lease
        self.rate = rate  # the limits' verdict, when the ledger took them too

    def settle(
        self, cost: float, quotas: Sequence[Quota] = (), tokens: int = 0, now: float = 0.0
    ) -> None:
        """With ``quotas``: the ones the ledger acquired (``rate``), released with it."""
        self._ledger.settle(self._holds, self._lease, cost, quotas, tokens, now)


class SharedBudgets:
    def __init__(self, ledger: BudgetLedger, wait: float) -> None:
        self.ledger = ledger
        self._wait = wait
        self._process = f"{os.getpid()}-{os.urandom(4).hex()}"
        self._ids = itertools.count()

    def applies(self, accounts: Sequence[Account]) -> bool:
        """The ledger is up (or must be: ``strict``) and one of ``accounts`` has a budget."""
        ledger = self.ledger
        return (ledger.shared or ledger.strict) and any(a.max_budget is not None for a in accounts)

    async def reserve(
        self,
        accounts: Sequence[Account],
        estimate: float,
        now: float,
        quotas: Sequence[Quota] = (),
    ) -> SharedHold | None:
        """Reserve ``estimate`` in the ledger (waiting, bounded, for requests in flight);
        None when the ledger failed (reserve in this process instead). Raises
        ``SharedRefusal``. ``quotas``: acquired in the same call when the ledger is the
        limit store too (see ``SharedHold.rate``)."""
        budgeted = [a for a in accounts if a.max_budget is not None]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        lease = f"{self._process}-{next(self._ids)}"
        pause = _FIRST_POLL
        while True:
            holds = [account.hold(now) for account in budgeted]
            try:
                if not self.ledger.shared:
                    raise ConnectionError("the ledger is unavailable")
                verdict = await self.ledger.reserve(holds, estimate, lease, quotas, now)
            except Exception:
                if self.ledger.strict:
                    raise redis_unavailable() from None
                return None
            if verdict.outcome not in (WAIT, EXCEEDED):
                return SharedHold(self.ledger, holds, lease, verdict.rate)
            account = budgeted[verdict.at]
            if verdict.outcome == EXCEEDED:
                raise SharedRefusal(account, verdict.spend, busy=False)
            if loop.time() + pause > deadline:
                raise SharedRefusal(account, verdict.spend, busy=True)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LAST_POLL)
            now = time.time()
