"""Per-key request limits: a token bucket per API key (reference §8.3, checklist 19).

A bucket holds `rpm` tokens and refills continuously at `rpm / window_s` tokens per
second; a request takes one. Time comes from an injectable clock so tests need not wait.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Clock", "RateDecision", "RateLimiter", "TokenBucket"]

Clock = Callable[[], float]
_EPSILON = 1e-9


@dataclass(frozen=True)
class RateDecision:
    """`retry_after_s` is whole seconds until a token is free (at least 1) when refused."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int
    reset_s: float

    def headers(self) -> list[tuple[str, str]]:
        headers = [
            ("x-ratelimit-limit-requests", str(self.limit)),
            ("x-ratelimit-remaining-requests", str(self.remaining)),
            ("x-ratelimit-reset-requests", f"{self.reset_s:.3f}s"),
        ]
        if not self.allowed:
            headers.append(("retry-after", str(self.retry_after_s)))
        return headers


class TokenBucket:
    def __init__(self, capacity: int, refill_per_s: float, now: float) -> None:
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self.tokens = float(capacity)
        self.updated = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when one was free, else the seconds until one will be."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill_per_s)
        self.updated = max(self.updated, now)
        if self.tokens >= 1 - _EPSILON:  # float drift must not cost a whole extra second
            self.tokens = max(self.tokens - 1, 0.0)
            return 0.0
        return (1 - self.tokens) / self.refill_per_s

    def seconds_to_full(self) -> float:
        return (self.capacity - self.tokens) / self.refill_per_s


class RateLimiter:
    """One bucket per key, created on first use."""

    def __init__(self, rpm: int, window_s: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.rpm = rpm
        self.refill_per_s = rpm / window_s
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def acquire(self, key: str) -> RateDecision:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rpm, self.refill_per_s, now)
        wait = bucket.take(now)
        return RateDecision(
            allowed=wait == 0.0,
            limit=self.rpm,
            remaining=int(bucket.tokens),
            retry_after_s=max(1, math.ceil(wait)),
            reset_s=bucket.seconds_to_full(),
        )
