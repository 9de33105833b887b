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

DEFAULT_NUM_RETRIES = 2  # as the openai SDK and LiteLLM's router
DEFAULT_TIMEOUT = 600.0  # seconds for a whole call, retries included


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


def retry_delay(
    backoff: Backoff, tries: int, retries: int, error: TokenwayError, remaining: float
) -> float | None:
    """Seconds to wait before try ``tries + 1``; ``None`` when ``error`` is the answer."""
    if tries >= retries or not is_retryable(error):
        return None
    delay = backoff.delay(tries, error)
    return delay if delay < remaining else None
