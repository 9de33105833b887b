"""A token bucket that schedules instead of refusing: the SDK's client-side pacer.

``reserve`` takes one token now and says how long the caller must wait for it; the
balance may go negative, which queues callers in arrival order with O(1) work and no
polling. Thread safety and sleeping are the caller's (``Pacer``/``AsyncPacer``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable


class TokenBucket:
    __slots__ = ("_capacity", "_clock", "_rate", "_stamp", "_tokens")

    def __init__(
        self,
        per_minute: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be > 0")
        self._rate = per_minute / 60.0
        # Half a second's worth of burst keeps us inside an upstream bucket we cannot see.
        self._capacity = burst if burst is not None else max(1.0, per_minute / 120)
        self._clock = clock
        self._stamp = clock()
        self._tokens = self._capacity

    def reserve(self) -> float:
        """Take a token; return the seconds to wait before using it (0 when available now)."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class Pacer:
    """Thread-safe pacing for the sync SDK."""

    def __init__(self, per_minute: float) -> None:
        self._bucket = TokenBucket(per_minute)
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            delay = self._bucket.reserve()
        if delay:
            time.sleep(delay)


class AsyncPacer:
    """Pacing for one event loop's async SDK calls."""

    def __init__(self, per_minute: float) -> None:
        self._bucket = TokenBucket(per_minute)

    async def wait(self) -> None:
        delay = self._bucket.reserve()
        if delay:
            await asyncio.sleep(delay)
