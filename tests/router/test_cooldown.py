"""Which failures count against a deployment, and how long each cools it down."""

from __future__ import annotations

import pytest

from tokenway.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    TokenwayError,
    UnsupportedParamsError,
)
from tokenway.router import CooldownPolicy
from tokenway.router.cooldown import counts_against_deployment


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (InternalServerError("x"), True),
        (ServiceUnavailableError("x"), True),
        (RateLimitError("x"), True),
        (Timeout("x"), True),
        (APIConnectionError("x"), True),
        (AuthenticationError("x"), True),
        (PaymentRequiredError("x"), True),
        (PermissionDeniedError("x"), True),
        (NotFoundError("x"), True),
        (BadRequestError("x"), False),
        (UnsupportedParamsError("x"), False),
        (ContextWindowExceededError("x"), False),
    ],
)
def test_what_counts_against_a_deployment(error: TokenwayError, counts: bool) -> None:
    assert counts_against_deployment(error) is counts


def test_more_than_allowed_fails_cools_down() -> None:
    policy = CooldownPolicy(allowed_fails=3, cooldown_time=5.0)
    error = InternalServerError("boom")
    assert [policy.cooldown_for(error, n) for n in (1, 2, 3, 4)] == [None, None, None, 5.0]
    assert CooldownPolicy(allowed_fails=0).cooldown_for(error, 1) == 5.0


def test_a_429_cools_down_at_once_for_its_retry_after_when_longer() -> None:
    policy = CooldownPolicy(cooldown_time=5.0)
    assert policy.cooldown_for(RateLimitError("slow down"), 1) == 5.0
    assert policy.cooldown_for(RateLimitError("slow down", retry_after=20), 1) == 20.0
    assert policy.cooldown_for(RateLimitError("slow down", retry_after=9999), 1) == 60.0


def test_disabled_cooldowns_never_cool_down() -> None:
    policy = CooldownPolicy(disabled=True)
    assert policy.cooldown_for(RateLimitError("x", retry_after=3), 99) is None
