from tokenway.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    Timeout,
)
from tokenway.retry import Backoff, is_retryable, retry_delay


def test_only_what_can_succeed_is_retried() -> None:
    assert is_retryable(RateLimitError("x"))
    assert is_retryable(InternalServerError("x"))
    assert is_retryable(InternalServerError("x", status_code=503))
    assert is_retryable(APIConnectionError("x"))
    assert is_retryable(Timeout("x"))
    assert not is_retryable(BadRequestError("x"))
    assert not is_retryable(AuthenticationError("x"))


def test_full_jitter_is_bounded_and_retry_after_wins() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    for attempt in range(8):
        assert 0 <= backoff.delay(attempt, InternalServerError("x")) <= min(8.0, 0.5 * 2**attempt)
    assert backoff.delay(0, RateLimitError("x", retry_after=3)) == 3
    assert backoff.delay(0, RateLimitError("x", retry_after=600)) == 60


def test_retry_delay_stops_at_the_limit_the_kind_and_the_deadline() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    assert retry_delay(backoff, 0, 2, RateLimitError("x", retry_after=1), 10) == 1
    assert retry_delay(backoff, 2, 2, InternalServerError("x"), 10) is None
    assert retry_delay(backoff, 0, 2, BadRequestError("x"), 10) is None
    assert retry_delay(backoff, 0, 2, RateLimitError("x", retry_after=5), 4) is None
