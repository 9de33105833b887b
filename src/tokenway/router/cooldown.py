"""When a failing deployment is taken out of rotation, and for how long.

More than ``allowed_fails`` counted failures within ``window`` seconds cool a deployment
down for ``cooldown_time`` seconds; a 429 cools it down at once, for as long as the
upstream's ``retry-after`` asked when that is longer. What counts is what says something
about the deployment: the retryable failures (rate limits, 5xx, timeouts, lost
connections) and 401/402/403/404 (its key, credit or model are wrong). A 400 says
something about the request, never about the deployment, so it never counts; nor does
a stream cut after its 200 before any content (``CUT_BEFORE_CONTENT``): the deployment
answered, and what it could not finish is most often the request (a prompt too long).
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenway.errors import APIStatusError, RateLimitError, TokenwayError
from tokenway.retry import is_retryable

__all__ = [
    "CUT_BEFORE_CONTENT",
    "DEPLOYMENT_FAULT_STATUS",
    "MOCK_FAILURE",
    "CooldownPolicy",
    "counts_against_deployment",
]

# Answers that mean this deployment is misconfigured: another deployment may well work.
DEPLOYMENT_FAULT_STATUS = frozenset({401, 402, 403, 404})
# The code of a stream that ended after its 200 and before any content: retried once at
# most (``RoutedCall.failed``), never a failure of the deployment.
CUT_BEFORE_CONTENT = "stream_cut_before_content"
# The code of a failure a test asked for (``mock_testing_rate_limit_error``, a mocked error
# answer): retried and fallen back from as its kind is, but never held against the
# deployment, which was not called.
MOCK_FAILURE = "mock_failure"


def counts_against_deployment(error: TokenwayError) -> bool:
    if error.code == CUT_BEFORE_CONTENT:
        return False
    if is_retryable(error):
        return True
    return isinstance(error, APIStatusError) and error.status_code in DEPLOYMENT_FAULT_STATUS


@dataclass(frozen=True, slots=True)
class CooldownPolicy:
    allowed_fails: int = 3
    cooldown_time: float = 5.0
    window: float = 60.0
    disabled: bool = False
    max_retry_after: float = 60.0  # an upstream asking for longer is not taken at its word

    def cooldown_for(self, error: TokenwayError, recent_failures: int) -> float | None:
        """Seconds to cool down after this counted failure (the ``recent_failures``-th)."""
        if self.disabled:
            return None
        if isinstance(error, RateLimitError):
            return max(self.cooldown_time, min(error.retry_after or 0.0, self.max_retry_after))
        if recent_failures > self.allowed_fails:
            return self.cooldown_time
        return None
