"""The gate's refusals, each with the words a client needs: expired, blocked, a model
the key may not use (LiteLLM's 401 wording), a spent or busy budget, a rate limit."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from typing import Any

from tokenway.errors import AuthenticationError, BudgetExceededError, RateLimitError
from tokenway.limits.window import RateState
from tokenway.proxy.accounting.keys import Account, KeyContext
from tokenway.proxy.accounting.model_lists import AllBut
from tokenway.proxy.accounting.rate_headers import rate_headers
from tokenway.router.patterns import Pattern, compile_patterns, match

__all__ = [
    "LimitExceededError",
    "budget_busy",
    "budget_exceeded",
    "check_key",
    "may_use",
    "rate_error",
]


class LimitExceededError(RateLimitError):
    """A key's, user's or team's own rpm/tpm/parallel limit: 429 with x-ratelimit-*."""

    def __init__(self, message: str, headers: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers = headers


def check_key(ctx: KeyContext, model_alias: str, now: float) -> None:
    expires_at = ctx.key.expires_at
    if expires_at is not None and expires_at <= now:
        raise AuthenticationError(
            f"API key expired at {_iso(expires_at)}; ask your administrator for a new key",
            code="key_expired",
        )
    for account in ctx.accounts:
        if account.blocked:
            whose = "API key" if account.kind == "key" else f"{account.label} of this API key"
            raise AuthenticationError(
                f"{whose} is blocked; ask your administrator to unblock it", code="key_blocked"
            )
    models = ctx.models
    if models is not None and not may_use(models, model_alias):
        allowed = ", ".join(sorted(models)) or "none"
        if type(models) is AllBut:  # never name other teams' models
            allowed = "every model but other teams' own"
        # 401 and LiteLLM's words: its clients catch an AuthenticationError here.
        raise AuthenticationError(
            f"key not allowed to access model. This key may not use model '{model_alias}'; "
            f"allowed models: {allowed}",
            param="model",
            code="model_not_allowed",
        )


def may_use(models: frozenset[str] | None, alias: str) -> bool:
    """Whether a key limited to ``models`` may call ``alias``: one of them, or a model a
    pattern among them (``"inference/*"``, as a wildcard deployment's) matches."""
    if models is None or alias in models:
        return True
    if type(models) is AllBut:  # every model but its members: not a pattern list
        return False
    patterns = _patterns_of(models)
    return bool(patterns) and match(patterns, alias) is not None


@functools.lru_cache(maxsize=1024)
def _patterns_of(models: frozenset[str]) -> tuple[Pattern, ...]:
    """Compiled once per distinct model set (a frozenset keeps its hash)."""
    return compile_patterns(models)


def budget_exceeded(account: Account, spend: float, budget: float) -> BudgetExceededError:
    if account.reset_at is not None:
        when = f"the budget resets at {_iso(account.reset_at)}"
    else:
        when = "it does not reset; ask your administrator to raise max_budget"
    return BudgetExceededError(
        # LiteLLM's words first: its clients and tests look for them.
        f"Budget has been exceeded! {account.label}: spend {_money(spend)} of max_budget "
        f"{_money(budget)}; {when}"
    )


def _money(dollars: float) -> str:
    """Cents for ordinary amounts; for the tiny ones of cheap models, enough decimals to
    show two significant digits ($0.00000048), never scientific notation."""
    if dollars >= 0.01 or dollars <= 0:
        return f"${dollars:,.2f}"
    decimals = min(12, 1 - math.floor(math.log10(dollars)))
    return f"${dollars:.{decimals}f}"


def budget_busy(account: Account) -> LimitExceededError:
    return LimitExceededError(
        f"the remaining budget of {account.label} is held by "
        f"{account.in_flight or 'other'} requests in flight; retry in a few seconds",
        [],
        code="budget_reserved",
        retry_after=1.0,
    )


_RATE_MESSAGES = {
    "requests": ("rpm_limit_exceeded", "{label} reached its limit of {limit} requests per minute"),
    "tokens": ("tpm_limit_exceeded", "{label} reached its limit of {limit} tokens per minute"),
    "parallel": (
        "max_parallel_requests_exceeded",
        "{label} has {limit} requests in flight, its max_parallel_requests",
    ),
}


def rate_error(state: RateState) -> LimitExceededError:
    quota = state.refused_by
    assert quota is not None and state.refused is not None
    limit = {"requests": quota.rpm, "tokens": quota.tpm, "parallel": quota.parallel}
    code, template = _RATE_MESSAGES[state.refused]
    retry = max(1, math.ceil(state.retry_after))
    message = template.format(label=quota.label, limit=limit[state.refused])
    return LimitExceededError(
        f"{message}; retry in {retry}s",
        rate_headers(state.headroom()),
        code=code,
        retry_after=float(retry),
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
