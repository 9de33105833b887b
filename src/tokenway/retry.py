"""When to try a call again, and how long to wait first (shared by sync and async)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tokenway.errors import (
    APIConnectionError,
    APIStatusError,
    TokenwayError,
)

_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def is_retryable(error: TokenwayError) -> bool:
    """Only what can succeed on a second try: rate limits, 5xx, timeouts, lost connections."""
    if isinstance(error, APIConnectionError):
        return True
    return isinstance(error, APIStatusError) and error.status_code in _RETRYABLE_STATUS


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter; an upstream's retry-after wins when longer."""

    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, error: TokenwayError) -> float:
        jitter = random.uniform(0.0, min(self.cap, self.base * 2**attempt))
        if error.retry_after is not None:
            return max(min(error.retry_after, self.max_retry_after), jitter)
        return jitter
