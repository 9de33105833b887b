"""Per-request enforcement for virtual keys: expiry, blocks, models, budgets, rate limits.

Checks run in a fixed order, so a client always learns the most fundamental problem first:
expired (401) → blocked (401) → model not allowed (401) → budget spent (400
``budget_exceeded``) → rpm/tpm/parallel (429 with Retry-After and x-ratelimit-*).

Budgets are concurrency-safe: admission reserves the request's cost estimate on the key,
its user and its team, and ``Admission.settle`` swaps it for the actual cost. A request
that does not fit while others are in flight waits (up to ``budget_wait``) for one of them
to settle; with nothing in flight, a request is admitted while spend < max_budget, so a
budget is overrun by at most one request. Limits of a team cap its keys': both are
checked. Budget state is this process's, the store's spend catching up on flush, unless a
ledger shares reservations between processes (``shared_budgets``: Redis, or the counter
of ``--workers N``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from tokenway.limits.budgets import BudgetLedger
from tokenway.limits.window import (
    NO_HEADROOM,
    Headroom,
    LimitStore,
    MemoryLimitStore,
    Quota,
    RateRefused,
)
from tokenway.proxy.accounting.keys import Account, KeyContext
from tokenway.proxy.accounting.rate_headers import rate_header_block, rate_headers
from tokenway.proxy.accounting.refusals import (
    LimitExceededError,
    budget_busy,
    budget_exceeded,
    check_key,
    may_use,
    rate_error,
)
from tokenway.proxy.accounting.shared_budgets import SharedBudgets, SharedHold, SharedRefusal
from tokenway.tokens import prompt_estimate

__all__ = [
    "NO_PRICE",
    "Admission",
    "Gate",
    "LimitExceededError",
    "Price",
    "estimate_cost",
    "may_use",
]

Price = tuple[float, float]  # USD per prompt token, per completion token
NO_PRICE: Price = (0.0, 0.0)  # unknown: reserves nothing

_SLACK = 1e-9  # dollars: float sums of equal estimates must not refuse the last one
_NO_QUOTAS: tuple[Quota, ...] = ()
_NO_ACCOUNTS: tuple[Account, ...] = ()


class Admission:
    """One admitted request's hold on budgets and limits, until ``settle``."""

    __slots__ = ("_accounts", "_done", "_estimate", "_gate", "_headroom", "_quotas", "_shared")

    def __init__(
        self,
        gate: Gate,
        accounts: tuple[Account, ...],
        estimate: float,
        quotas: tuple[Quota, ...] = _NO_QUOTAS,
        headroom: Headroom = NO_HEADROOM,
        shared: SharedHold | None = None,
    ) -> None:
        self._gate = gate
        self._accounts = accounts
        self._estimate = estimate
        self._quotas = quotas
        self._headroom = headroom
        self._shared = shared  # the reservation in a ledger shared by processes
        self._done = False

    def headers(self) -> list[tuple[str, str]]:
        """x-ratelimit-* of the tightest limits, for the successful response."""
        return rate_headers(self._headroom)

    def header_block(self) -> bytes:
        """``headers`` rendered as header lines (``Response.header_block``)."""
        return rate_header_block(self._headroom)

    def settle(self, cost: float | None, tokens: int) -> None:
        """Record the actual cost and tokens; free the reservation and the parallel slot.

        Call it once the outcome is known, from success, error or cancellation paths
        alike: later calls do nothing. ``cost`` None (price unknown) spends nothing.
        """
        if self._done:
            return
        self._done = True
        estimate = self._estimate
        spent = cost if cost is not None and cost > 0.0 else 0.0
        for account in self._accounts:
            account.in_flight -= 1
            account.reserved = account.reserved - estimate if account.in_flight else 0.0
            account.unflushed += spent
            if account.waiters:
                account.wake()
        shared, quotas = self._shared, self._quotas
        if shared is not None:
            if quotas and shared.rate is not None:  # the ledger took the limits: one call
                shared.settle(spent, quotas, tokens, self._gate.clock())
                return
            shared.settle(spent)
        if quotas:
            gate = self._gate
            gate.limits.release(quotas, tokens, gate.clock())


class Gate:
    def __init__(
        self,
        limits: LimitStore | None = None,
        *,
        budget_wait: float = 30.0,
        clock: Callable[[], float] = time.time,
        budgets: BudgetLedger | None = None,
    ) -> None:
        """``budgets``: the ledger where processes sharing budgets reserve (None: here)."""
        self.limits: LimitStore = limits if limits is not None else MemoryLimitStore()
        self._shared = SharedBudgets(budgets, budget_wait) if budgets is not None else None
        # the ledger counts the limits too (the workers' counter): one call for both
        self._limits_in_ledger = budgets is not None and budgets.limits is self.limits
        memory = self.limits  # answers without awaiting: ``admit_now`` can use it
        self._memory = memory if isinstance(memory, MemoryLimitStore) else None
        self.clock = clock  # wall time: budget windows and expiry are epoch seconds
        self._budget_wait = budget_wait

    def admit_now(
        self, ctx: KeyContext, model_alias: str, estimate: float, now: float
    ) -> Admission | None:
        """``admit`` without a coroutine, for the usual case where nothing must wait.

        Raises what ``admit`` raises; None means "await ``admit_later``" (a budget is held
        by requests in flight, or the limit store is networked) and has changed nothing.
        """
        if ctx.unrestricted:
            return Admission(self, _NO_ACCOUNTS, 0.0)
        expires_at, models = ctx.key.expires_at, ctx.models
        if (expires_at is not None and expires_at <= now) or (
            models is not None and model_alias not in models and not may_use(models, model_alias)
        ):
            check_key(ctx, model_alias, now)  # raises the most fundamental refusal
        quotas, memory = ctx.quotas, self._memory
        if (quotas and memory is None) or (
            self._shared is not None and self._shared.applies(ctx.accounts)
        ):
            return None
        if estimate < 0.0:
            estimate = 0.0
        accounts = ctx.accounts
        if _try_reserve(accounts, estimate, now, ctx, model_alias) is not None:
            return None
        if memory is None or not quotas:
            return Admission(self, accounts, estimate)
        try:
            headroom = memory.acquire_now(quotas, now)
        except BaseException as error:
            Admission(self, accounts, estimate).settle(None, 0)  # frees the reservation
            if isinstance(error, RateRefused):
                raise rate_error(error.state) from None
            raise
        return Admission(self, accounts, estimate, quotas, headroom)

    async def admit(
        self, ctx: KeyContext, model_alias: str, estimate: float, now: float
    ) -> Admission:
        """Admit one request of ``ctx``'s key or raise the error the client should get."""
        admission = self.admit_now(ctx, model_alias, estimate, now)
        if admission is None:
            admission = await self.admit_later(ctx, model_alias, estimate, now)
        return admission

    async def admit_later(
        self, ctx: KeyContext, model_alias: str, estimate: float, now: float
    ) -> Admission:
        """The rest of ``admit`` once ``admit_now`` said None: wait for the budget held by
        requests in flight, and ask a limit store that must be awaited."""
        if estimate < 0.0:
            estimate = 0.0
        accounts = ctx.accounts
        shared = await self._reserve_shared(ctx, model_alias, estimate, now)
        if shared is not None:
            _hold_here(accounts, estimate)
        elif (blocker := _try_reserve(accounts, estimate, now, ctx, model_alias)) is not None:
            await self._wait_and_reserve(blocker, accounts, estimate)
        quotas = ctx.quotas
        if not quotas:
            return Admission(self, accounts, estimate, shared=shared)
        try:
            rate = shared.rate if shared is not None else None  # asked with the budget
            if rate is None:
                rate = await self.limits.acquire(quotas, now)
            if rate.refused is not None:
                raise rate_error(rate)
        except BaseException:
            # frees the reservations
            Admission(self, accounts, estimate, shared=shared).settle(None, 0)
            raise
        return Admission(self, accounts, estimate, quotas, rate.headroom(), shared)

    async def _reserve_shared(
        self, ctx: KeyContext, model_alias: str, estimate: float, now: float
    ) -> SharedHold | None:
        """The reservation in the processes' ledger, or None: reserve here (no ledger, no
        budget, or the ledger failed)."""
        shared = self._shared
        if shared is None or not shared.applies(ctx.accounts):
            return None
        if any(account.blocked for account in ctx.accounts):
            check_key(ctx, model_alias, now)
        # the workers' counter takes the limits in the same round trip
        quotas = ctx.quotas if self._limits_in_ledger else ()
        try:
            return await shared.reserve(ctx.accounts, estimate, now, quotas)
        except SharedRefusal as refusal:
            if refusal.busy:
                raise budget_busy(refusal.account) from None
            budget = refusal.account.max_budget
            assert budget is not None
            raise budget_exceeded(refusal.account, refusal.spend, budget) from None

    async def _wait_and_reserve(
        self, blocker: Account, accounts: tuple[Account, ...], estimate: float
    ) -> None:
        """Wait for in-flight requests to settle until the estimate fits (or is refused)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._budget_wait
        waiting_on: Account | None = blocker
        while waiting_on is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise budget_busy(waiting_on)
            waiter: asyncio.Future[None] = loop.create_future()
            waiting_on.waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)
            waiting_on = _try_reserve(accounts, estimate, self.clock())


def estimate_cost(
    body: Mapping[str, Any],
    price: Price,
    default_output: int = 4096,
    prompt_tokens: int | None = None,
) -> float:
    """A cost no lower than the real one of a request that stops at its max tokens.

    ``price`` is the route's (per prompt token, per completion token). The output is
    ``max_completion_tokens`` or ``max_tokens`` (else ``default_output``, e.g. the model's
    output cap), times ``n`` choices. ``prompt_tokens``, when the caller has a bound
    already, skips the estimate.
    """
    prompt = prompt_tokens
    if prompt is None:
        messages = body.get("messages")
        prompt = prompt_estimate(messages if isinstance(messages, list) else (), body.get("tools"))
    output = body.get("max_completion_tokens") or body.get("max_tokens")
    if not isinstance(output, int) or output <= 0:
        output = default_output
    choices = body.get("n")
    if choices is not None and isinstance(choices, int) and choices > 1:
        output *= choices
    per_prompt, per_completion = price
    return prompt * per_prompt + output * per_completion


def _try_reserve(
    accounts: tuple[Account, ...],
    estimate: float,
    now: float,
    ctx: KeyContext | None = None,
    model_alias: str = "",
) -> Account | None:
    """Reserve ``estimate`` on every account and return None, or return the account to
    wait on; raise when an account is blocked, or a budget is spent and nothing in flight
    can change that. With ``ctx``, a refusal is the most fundamental one (``check_key``'s
    order before a budget's). Reserves as it checks, and gives back on the way out."""
    wait_on = None
    for account in accounts:
        if account.blocked and ctx is not None:
            _unreserve(accounts, account, estimate)
            check_key(ctx, model_alias, now)
        budget = account.max_budget
        if budget is not None:
            reset_at = account.reset_at
            if reset_at is not None and reset_at <= now:
                account.roll(now)
            committed = account.spend + account.unflushed
            if committed >= budget - _SLACK:  # settling what is in flight can only add to it
                _unreserve(accounts, account, estimate)
                if ctx is not None:
                    check_key(ctx, model_alias, now)
                raise budget_exceeded(account, committed, budget)
            if account.in_flight and committed + account.reserved + estimate > budget + _SLACK:
                wait_on = wait_on or account
        account.reserved += estimate
        account.in_flight += 1
    if wait_on is not None:
        _unreserve(accounts, None, estimate)
    return wait_on


def _hold_here(accounts: tuple[Account, ...], estimate: float) -> None:
    """This process's figures of a reservation the ledger made (nothing checked)."""
    for account in accounts:
        account.reserved += estimate
        account.in_flight += 1


def _unreserve(accounts: tuple[Account, ...], stop: Account | None, estimate: float) -> None:
    """Give back what ``_try_reserve`` took on the accounts before ``stop`` (None: all)."""
    for account in accounts:
        if account is stop:
            return
        account.in_flight -= 1
        account.reserved = account.reserved - estimate if account.in_flight else 0.0
