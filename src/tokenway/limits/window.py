"""Per-principal rate limits: requests per minute, tokens per minute, requests in flight.

Counting is a ring of one-second buckets per principal and dimension. Precision: counts
are exact per whole second, and a unit counted at second ``s`` leaves the window at
``s + 61``, so the window always covers the last 60 to 61 seconds. A limit is therefore
never exceeded in any 60-second span; a refused caller may wait up to one second longer
than an exact sliding log would make it. The waits it reports (``retry_after``,
``reset_*``) are capped at ``WINDOW``, the minute the limits are per: a client told
``retry-after: 60`` may, at worst, be refused once more for under a second. Each call is
O(1) amortised: clearing the buckets of the seconds that passed is bounded by the ring
size and paid once per second.

Callers pass the time (``now``, seconds) into every call, so tests inject their clock.
``LimitStore`` is the seam: ``MemoryLimitStore`` serves one process; a shared store
(Redis) implements the same two calls, ``acquire`` atomically for all quotas at once.
``MemoryLimitStore.acquire_now`` is the hot path's form of ``acquire``: no coroutine, no
verdict object; it returns the ``Headroom`` figures and raises ``RateRefused``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "NO_HEADROOM",
    "SPAN",
    "WINDOW",
    "Headroom",
    "LimitStore",
    "MemoryLimitStore",
    "Quota",
    "RateRefused",
    "RateState",
    "SlidingWindow",
]

SPAN = 61  # buckets: this second and the 60 before it
WINDOW = 60  # seconds: the longest wait reported (a per-minute limit never asks for more)
_UNLIMITED = 2**62
_LAST_SECOND = float(SPAN - 1)

Refusal = Literal["requests", "tokens", "parallel"]

# The x-ratelimit-* figures of the tightest limits: for requests, then for tokens, the
# limit (None: not limited), what remains (never below 0) and whole seconds until the
# window is back to its full limit (rounded up).
Headroom = tuple[int | None, int, int, int | None, int, int]
NO_HEADROOM: Headroom = (None, 0, 0, None, 0, 0)


class SlidingWindow:
    """Units (requests or tokens) counted in the last minute, in one-second buckets."""

    __slots__ = ("_buckets", "_newest", "_next", "_slot", "_total")

    def __init__(self) -> None:
        self._buckets = [0] * SPAN
        self._newest = 0  # the whole second of the newest bucket
        self._next = 1.0  # when the newest bucket stops being the current one
        self._slot = 0  # the newest bucket's index
        self._total = 0

    def count(self, now: float) -> int:
        if now >= self._next:
            self._advance(now)
        return self._total

    def add(self, now: float, amount: int) -> None:
        # A clock that stepped back counts in the newest bucket, never in an expired one.
        if now >= self._next:
            self._advance(now)
        self._buckets[self._slot] += amount
        self._total += amount

    def take_back(self, amount: int) -> None:
        """Undo the last ``add`` (made in the same second)."""
        self._buckets[self._slot] -= amount
        self._total -= amount

    def wait_for(self, now: float, excess: int) -> float:
        """Seconds until at least ``excess`` of the counted units have left the window."""
        if excess <= 0:
            return 0.0
        self.count(now)
        freed = 0
        for second in range(self._newest - SPAN + 1, self._newest + 1):
            freed += self._buckets[second % SPAN]
            if freed >= excess:
                return max(0.0, second + SPAN - now)
        return float(SPAN)

    def until_empty(self, now: float) -> float:
        """Seconds until every counted unit has left the window (0 when none is counted)."""
        if now >= self._next:
            self._advance(now)
        if self._total:
            newest, buckets = self._newest, self._buckets
            if buckets[self._slot]:  # the usual case: units counted this second
                return self._next + _LAST_SECOND - now  # newest + SPAN - now, in floats
            for second in range(newest - 1, newest - SPAN, -1):
                if buckets[second % SPAN]:
                    return max(0.0, second + SPAN - now)
        return 0.0

    def _advance(self, now: float) -> None:
        second = int(now)
        gap = second - self._newest
        buckets = self._buckets
        if gap >= SPAN:
            for i in range(SPAN):
                buckets[i] = 0
            self._total = 0
        else:
            for passed in range(self._newest + 1, second + 1):
                i = passed % SPAN
                self._total -= buckets[i]
                buckets[i] = 0
        self._newest = second
        self._next = second + 1.0
        self._slot = second % SPAN


@dataclass(frozen=True, slots=True)
class Quota:
    """One principal's rate limits (``None`` = no limit); built once per cached key."""

    name: str  # unique per principal, e.g. "key:<hash>", "team:<id>"
    label: str  # for messages, e.g. "key 'ci-bot'", "team 'ml'"
    rpm: int | None = None
    tpm: int | None = None
    parallel: int | None = None


@dataclass(slots=True)
class RateState:
    """An ``acquire``'s verdict, with the tightest limits for the x-ratelimit-* headers.

    ``reset_*`` are seconds until that window is back to its full limit; ``retry_after``
    (refusals only) is the seconds until the refused request would fit.
    """

    refused: Refusal | None = None
    refused_by: Quota | None = None
    retry_after: float = 0.0
    limit_requests: int | None = None
    remaining_requests: int = _UNLIMITED
    reset_requests: float = 0.0
    limit_tokens: int | None = None
    remaining_tokens: int = _UNLIMITED
    reset_tokens: float = 0.0

    def headroom(self) -> Headroom:
        """The header figures: remaining counts below zero read 0, seconds rounded up."""
        return (
            self.limit_requests,
            max(self.remaining_requests, 0),
            min(math.ceil(self.reset_requests), WINDOW),
            self.limit_tokens,
            max(self.remaining_tokens, 0),
            min(math.ceil(self.reset_tokens), WINDOW),
        )


class RateRefused(Exception):
    """``MemoryLimitStore.acquire_now`` refused: ``state`` has every header figure."""

    def __init__(self, state: RateState) -> None:
        super().__init__(state.refused)
        self.state = state


class LimitStore(Protocol):
    async def acquire(self, quotas: Sequence[Quota], now: float) -> RateState:
        """Check every quota and, only if all admit, count one request and one in flight."""

    def release(self, quotas: Sequence[Quota], tokens: int, now: float) -> None:
        """End a request ``acquire`` admitted: free its slot, count its tokens. Never
        blocks; a networked store sends this in the background."""


class _Counters:
    """One principal's windows and in-flight count."""

    __slots__ = ("in_flight", "requests", "tokens")

    def __init__(self) -> None:
        self.requests = SlidingWindow()
        self.tokens = SlidingWindow()
        self.in_flight = 0

    def give_back(self, quota: Quota) -> None:
        """Undo a ``take`` of this same call: a later quota refused the request."""
        if quota.parallel is not None:
            self.in_flight -= 1
        if quota.rpm is not None:
            self.requests.take_back(1)

    def note(self, quota: Quota, state: RateState, now: float) -> None:
        """Only the header figures, for a refusal."""
        if quota.rpm is not None:
            used = self.requests.count(now)
            if quota.rpm - used < state.remaining_requests:
                state.limit_requests, state.remaining_requests = quota.rpm, quota.rpm - used
                state.reset_requests = self.requests.until_empty(now)
        if quota.tpm is not None:
            used = self.tokens.count(now)
            if quota.tpm - used < state.remaining_tokens:
                state.limit_tokens, state.remaining_tokens = quota.tpm, quota.tpm - used
                state.reset_tokens = self.tokens.until_empty(now)

    def idle(self, now: float) -> bool:
        return not self.in_flight and not self.requests.count(now) and not self.tokens.count(now)


class MemoryLimitStore:
    """Limits of one process. Counters of idle principals are dropped as the table grows."""

    def __init__(self, sweep_above: int = 4096) -> None:
        self._counters: dict[str, _Counters] = {}
        self._sweep_above = sweep_above

    async def acquire(self, quotas: Sequence[Quota], now: float) -> RateState:
        try:
            requests, left_r, reset_r, tokens, left_t, reset_t = self.acquire_now(quotas, now)
        except RateRefused as refused:
            return refused.state
        return RateState(None, None, 0.0, requests, left_r, reset_r, tokens, left_t, reset_t)

    def acquire_now(self, quotas: Sequence[Quota], now: float) -> Headroom:
        """``acquire`` for callers that know this store: no coroutine, and the headroom
        alone (a refusal raises ``RateRefused``).

        The hot path of every limited request, so one function: the windows' fields are
        read here directly (same module) instead of through ``count``/``add``. An admitted
        request sits in the newest bucket of its requests windows: they are full again
        ``SPAN`` seconds (rounded up) from now, reported as ``WINDOW``."""
        counters = self._counters
        limit_r: int | None = None
        limit_t: int | None = None
        left_r = left_t = _UNLIMITED
        reset_t = 0
        for quota in quotas:
            slot = counters.get(quota.name)
            if slot is None:
                if len(counters) >= self._sweep_above:
                    self.sweep(now)
                slot = counters[quota.name] = _Counters()
            parallel, rpm, tpm = quota.parallel, quota.rpm, quota.tpm
            if parallel is not None and slot.in_flight >= parallel:
                raise self._refused("parallel", quota, 1.0, quotas, now)
            if rpm is not None:
                requests = slot.requests
                if now >= requests._next:
                    requests._advance(now)
                left = rpm - requests._total - 1  # after this request
                if left < 0:
                    wait = requests.wait_for(now, -left)
                    raise self._refused("requests", quota, wait, quotas, now)
                if left < left_r:
                    limit_r, left_r = rpm, left
            if tpm is not None:
                tokens = slot.tokens
                if now >= tokens._next:
                    tokens._advance(now)
                left = tpm - tokens._total
                if left <= 0:
                    raise self._refused(
                        "tokens", quota, tokens.wait_for(now, 1 - left), quotas, now
                    )
                if left < left_t:
                    limit_t, left_t = tpm, left
                    if left == tpm:  # nothing counted: full already
                        reset_t = 0
                    elif tokens._buckets[tokens._slot]:  # counted this second: as requests
                        reset_t = WINDOW
                    else:
                        reset_t = min(math.ceil(tokens.until_empty(now)), WINDOW)
            if parallel is not None:
                slot.in_flight += 1
            if rpm is not None:  # ``add(now, 1)`` on the window advanced above
                requests._buckets[requests._slot] += 1
                requests._total += 1
        return limit_r, left_r, WINDOW, limit_t, left_t, reset_t

    def release(self, quotas: Sequence[Quota], tokens: int, now: float) -> None:
        counters = self._counters
        for quota in quotas:
            slot = counters.get(quota.name)
            if slot is None:
                continue
            if quota.parallel is not None and slot.in_flight > 0:
                slot.in_flight -= 1
            if tokens > 0 and quota.tpm is not None:  # ``add``, without the call
                window = slot.tokens
                if now >= window._next:
                    window._advance(now)
                window._buckets[window._slot] += tokens
                window._total += tokens

    def _refused(
        self, why: Refusal, quota: Quota, retry_after: float, quotas: Sequence[Quota], now: float
    ) -> RateRefused:
        """Undo what the quotas before ``quota`` counted; the refusal with every header."""
        counters = self._counters
        for earlier in quotas[: quotas.index(quota)]:
            counters[earlier.name].give_back(earlier)
        state = RateState(why, quota, min(retry_after, WINDOW))
        for each in quotas:
            slot = counters.get(each.name)
            if slot is not None:
                slot.note(each, state, now)
        return RateRefused(state)

    def in_flight(self, name: str) -> int:
        counters = self._counters.get(name)
        return counters.in_flight if counters else 0

    def sweep(self, now: float) -> int:
        """Drop the counters of principals with nothing in flight or in their windows."""
        idle = [name for name, counters in self._counters.items() if counters.idle(now)]
        for name in idle:
            del self._counters[name]
        self._sweep_above = max(self._sweep_above, 2 * len(self._counters))
        return len(idle)
