import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.proxy.key_helpers import Clock, add_key, add_team, add_user, open_sqlite, resolved

from tokenway.errors import (
    AuthenticationError,
    BudgetExceededError,
    TokenwayError,
)
from tokenway.limits.window import MemoryLimitStore, Quota, RateState
from tokenway.proxy.accounting.gate import NO_PRICE, Gate, LimitExceededError, estimate_cost
from tokenway.proxy.accounting.keys import KeyCache, KeyContext
from tokenway.proxy.errors import error_response
from tokenway.store.sqlite import SQLiteStore
from tokenway.tokens import prompt_estimate

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await open_sqlite(tmp_path / "keys.db")
    yield opened
    await opened.close()


def fixed_gate() -> Gate:
    return Gate(clock=lambda: NOW)


async def key_ctx(store: SQLiteStore, secret: str = "sk-test-1234", **options: Any) -> KeyContext:
    key_hash = await add_key(store, secret, **options)
    return await resolved(KeyCache(store, clock=Clock()), key_hash)


async def refusal(gate: Gate, ctx: KeyContext, model: str = "m", estimate: float = 0.0) -> Any:
    with pytest.raises(TokenwayError) as info:
        await gate.admit(ctx, model, estimate, NOW)
    return info.value


# --- who may call, in order: expired, blocked, model ---------------------------------------


async def test_an_expired_key_says_when_it_expired(store: SQLiteStore) -> None:
    ctx = await key_ctx(store, expires_at=NOW - 60, blocked=True, models=("x",))
    error = await refusal(fixed_gate(), ctx)
    assert isinstance(error, AuthenticationError) and error.status_code == 401
    assert error.code == "key_expired"
    assert "2027-01-15T07:59:00Z" in error.message


async def test_a_blocked_key_or_team_is_refused(store: SQLiteStore) -> None:
    error = await refusal(fixed_gate(), await key_ctx(store, blocked=True, models=("x",)))
    assert (error.status_code, error.code) == (401, "key_blocked")
    await add_team(store, "ml")
    await store.update_team("ml", {"blocked": True})
    error = await refusal(fixed_gate(), await key_ctx(store, "sk-team-key", team_id="ml"))
    assert error.code == "key_blocked" and "team 'ml'" in error.message


async def test_a_blocked_team_is_said_before_the_key_s_spent_budget(store: SQLiteStore) -> None:
    await add_team(store, "ml")
    await store.update_team("ml", {"blocked": True})
    spent = {"max_budget": 1.0, "spend": 2.0}  # the key's account comes first, the team's last
    ctx = await key_ctx(store, team_id="ml", rpm_limit=10, **spent)  # quotas: a store defers
    for gate in (fixed_gate(), Gate(AwaitedLimits(), clock=lambda: NOW)):
        error = await refusal(gate, ctx)
        assert error.code == "key_blocked" and "team 'ml'" in error.message
    assert all(a.reserved == 0.0 and a.in_flight == 0 for a in ctx.accounts)


async def test_a_model_outside_the_key_and_team_lists_is_refused(store: SQLiteStore) -> None:
    await add_team(store, "ml", models=("a", "b", "c"))
    ctx = await key_ctx(store, team_id="ml", models=("c", "b", "z"))
    error = await refusal(fixed_gate(), ctx, model="a")
    assert isinstance(error, AuthenticationError) and error.status_code == 401
    assert error.code == "model_not_allowed" and error.param == "model"
    assert "allowed models: b, c" in error.message
    await fixed_gate().admit(ctx, "b", 0.0, NOW)
    team_only = await key_ctx(store, "sk-team-only", team_id="ml")
    assert team_only.models == {"a", "b", "c"}
    assert (await key_ctx(store, "sk-anything")).models is None


# --- budgets -------------------------------------------------------------------------------


@pytest.mark.parametrize("owner", ["key", "user", "team"])
async def test_a_spent_budget_is_a_400_budget_exceeded(store: SQLiteStore, owner: str) -> None:
    spent = {"max_budget": 5.0, "spend": 5.25, "budget_duration": "1d"}
    spent["budget_reset_at"] = NOW + 3600
    await add_team(store, "ml", **(spent if owner == "team" else {}))
    await add_user(store, "ada", **(spent if owner == "user" else {}))
    ctx = await key_ctx(store, team_id="ml", user_id="ada", **(spent if owner == "key" else {}))
    error = await refusal(fixed_gate(), ctx, estimate=0.01)
    assert isinstance(error, BudgetExceededError) and error.status_code == 400
    body = error.to_dict()["error"]
    assert (body["type"], body["code"]) == ("budget_exceeded", "budget_exceeded")
    assert error.message.startswith("Budget has been exceeded! ")  # LiteLLM's words
    assert "$5.25" in error.message and "max_budget $5.00" in error.message
    assert "resets at 2027-01-15T09:00:00Z" in error.message
    assert {"key": "key 'sk-test-1234'", "user": "user 'ada'", "team": "team 'ml'"}[
        owner
    ] in error.message


async def test_a_later_account_s_wait_or_refusal_holds_nothing_on_earlier_ones(
    store: SQLiteStore,
) -> None:
    await add_team(store, "ml", max_budget=1.0)
    cache, gate = KeyCache(store, clock=Clock()), fixed_gate()
    first = await resolved(cache, await add_key(store, "sk-first", team_id="ml"))
    second = await resolved(cache, await add_key(store, "sk-second", team_id="ml", max_budget=5))
    key, team = second.accounts
    assert team is first.accounts[1]  # one team account, shared by both keys
    held = await gate.admit(first, "m", 0.8, NOW)
    assert gate.admit_now(second, "m", 0.5, NOW) is None  # waits for the team's budget
    assert (key.reserved, key.in_flight, team.in_flight) == (0.0, 0, 1)
    held.settle(1.0, 10)  # the team's budget is spent
    with pytest.raises(BudgetExceededError):
        gate.admit_now(second, "m", 0.5, NOW)
    assert (key.reserved, key.in_flight, team.reserved, team.in_flight) == (0.0, 0, 0.0, 0)


async def test_a_budget_window_that_ended_starts_again_at_zero(store: SQLiteStore) -> None:
    ctx = await key_ctx(
        store, max_budget=1.0, spend=3.0, budget_duration="1h", budget_reset_at=NOW - 10
    )
    admission = await fixed_gate().admit(ctx, "m", 0.5, NOW)
    account = ctx.accounts[0]
    assert account.spend == 0.0 and account.reset_at == NOW - 10 + 3600
    admission.settle(0.5, 10)


async def test_settled_cost_counts_before_the_store_has_it(store: SQLiteStore) -> None:
    gate, ctx = fixed_gate(), await key_ctx(store, max_budget=1.0)
    (await gate.admit(ctx, "m", 0.5, NOW)).settle(1.0, 10)
    assert isinstance(await refusal(gate, ctx, estimate=0.5), BudgetExceededError)


async def test_with_nothing_in_flight_one_request_may_overshoot(store: SQLiteStore) -> None:
    gate, ctx = fixed_gate(), await key_ctx(store, max_budget=1.0)
    first = await gate.admit(ctx, "m", 5.0, NOW)  # larger than the whole budget
    second = asyncio.create_task(gate.admit(ctx, "m", 5.0, NOW))
    await asyncio.sleep(0.01)
    assert not second.done()  # waits: the first may still settle cheaply
    first.settle(3.0, 10)
    with pytest.raises(BudgetExceededError):
        await second


async def test_the_wait_for_in_flight_budget_is_bounded(store: SQLiteStore) -> None:
    gate, ctx = Gate(budget_wait=0.05, clock=lambda: NOW), await key_ctx(store, max_budget=1.0)
    first = await gate.admit(ctx, "m", 0.6, NOW)
    error = await refusal(gate, ctx, estimate=0.6)
    assert isinstance(error, LimitExceededError) and error.code == "budget_reserved"
    assert error.retry_after == 1.0
    first.settle(0.6, 1)


@pytest.mark.parametrize("actual", [1.0, 0.6])
async def test_200_concurrent_requests_spend_at_most_21_of_20(
    store: SQLiteStore, actual: float
) -> None:
    await add_team(store, "ml", max_budget=1000.0)
    estimate = 0.01
    ctx = await key_ctx(store, team_id="ml", max_budget=20 * estimate)
    gate, spent, accepted, refused = fixed_gate(), [], 0, 0

    async def call() -> None:
        nonlocal accepted, refused
        try:
            admission = await gate.admit(ctx, "m", estimate, NOW)
        except BudgetExceededError:
            refused += 1
            return
        accepted += 1
        try:
            await asyncio.sleep(0.002)
        finally:
            spent.append(estimate * actual)
            admission.settle(estimate * actual, 100)

    await asyncio.gather(*(call() for _ in range(200)))
    assert accepted >= 20 and accepted + refused == 200
    assert sum(spent) <= 21 * estimate + 1e-9
    key_account, team_account = ctx.accounts
    assert key_account.in_flight == 0 and key_account.reserved == 0.0
    assert team_account.unflushed == pytest.approx(sum(spent))


# --- rate limits ---------------------------------------------------------------------------


async def test_rpm_refusal_is_a_429_with_retry_after_and_headers(store: SQLiteStore) -> None:
    gate, ctx = fixed_gate(), await key_ctx(store, rpm_limit=2, tpm_limit=1000)
    for _ in range(2):
        (await gate.admit(ctx, "m", 0.0, NOW)).settle(None, 10)
    error = await refusal(gate, ctx)
    assert isinstance(error, LimitExceededError) and error.status_code == 429
    assert error.code == "rpm_limit_exceeded" and error.retry_after == 60.0
    headers = dict(error.headers)
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "60s"
    assert headers["x-ratelimit-remaining-tokens"] == "980"
    wire = error_response(error, "req-1")
    assert ("retry-after", "60") in wire.headers
    assert ("x-ratelimit-limit-requests", "2") in wire.headers
    assert orjson.loads(wire.body)["error"]["type"] == "rate_limit_error"


async def test_tpm_counts_settled_tokens(store: SQLiteStore) -> None:
    gate, ctx = fixed_gate(), await key_ctx(store, tpm_limit=100)
    (await gate.admit(ctx, "m", 0.0, NOW)).settle(0.0, 150)
    error = await refusal(gate, ctx)
    assert error.code == "tpm_limit_exceeded"
    assert dict(error.headers)["x-ratelimit-limit-tokens"] == "100"


async def test_max_parallel_requests_frees_slots_on_settle(store: SQLiteStore) -> None:
    gate, ctx = fixed_gate(), await key_ctx(store, max_parallel_requests=1)
    first = await gate.admit(ctx, "m", 0.0, NOW)
    error = await refusal(gate, ctx)
    assert error.code == "max_parallel_requests_exceeded" and error.retry_after == 1.0
    first.settle(None, 0)
    (await gate.admit(ctx, "m", 0.0, NOW)).settle(None, 0)


async def test_a_team_limit_caps_its_keys(store: SQLiteStore) -> None:
    await add_team(store, "ml", rpm_limit=1, max_budget=10.0)
    gate, ctx = fixed_gate(), await key_ctx(store, team_id="ml", rpm_limit=100)
    (await gate.admit(ctx, "m", 1.0, NOW)).settle(None, 0)
    error = await refusal(gate, ctx, estimate=1.0)
    assert error.code == "rpm_limit_exceeded" and "team 'ml'" in error.message
    assert all(a.reserved == 0.0 and a.in_flight == 0 for a in ctx.accounts)  # given back


async def test_a_budget_refusal_comes_before_a_rate_refusal(store: SQLiteStore) -> None:
    ctx = await key_ctx(store, max_budget=1.0, spend=2.0, max_parallel_requests=0)
    assert isinstance(await refusal(fixed_gate(), ctx), BudgetExceededError)


async def test_admitted_responses_carry_the_tightest_limits(store: SQLiteStore) -> None:
    await add_team(store, "ml", rpm_limit=3, tpm_limit=50_000)
    gate, ctx = fixed_gate(), await key_ctx(store, team_id="ml", rpm_limit=100, tpm_limit=900)
    admission = await gate.admit(ctx, "m", 0.0, NOW)
    assert admission.headers() == [
        ("x-ratelimit-limit-requests", "3"),
        ("x-ratelimit-remaining-requests", "2"),
        ("x-ratelimit-reset-requests", "60s"),
        ("x-ratelimit-limit-tokens", "900"),
        ("x-ratelimit-remaining-tokens", "900"),
        ("x-ratelimit-reset-tokens", "0s"),
    ]
    admission.settle(None, 0)
    no_limits = await gate.admit(await key_ctx(store, "sk-free"), "m", 0.0, NOW)
    assert no_limits.headers() == []


async def test_settle_is_idempotent_and_safe_on_cancellation(store: SQLiteStore) -> None:
    gate, ctx = fixed_gate(), await key_ctx(store, max_budget=10.0, max_parallel_requests=1)

    async def call() -> None:
        admission = await gate.admit(ctx, "m", 1.0, NOW)
        try:
            await asyncio.sleep(10)
        finally:
            admission.settle(None, 0)
            admission.settle(5.0, 100)  # a second call changes nothing

    task = asyncio.create_task(call())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    account = ctx.accounts[0]
    assert (account.in_flight, account.reserved, account.unflushed) == (0, 0.0, 0.0)
    (await gate.admit(ctx, "m", 1.0, NOW)).settle(None, 0)  # the parallel slot is free


async def test_an_unrestricted_key_is_admitted_unchecked() -> None:
    from tokenway.store.base import KeyRecord

    ctx = KeyContext(KeyRecord("h", "unverified key"), None, None, (), (), None, True)
    admission = await fixed_gate().admit(ctx, "any", 100.0, NOW)
    assert admission.headers() == []
    admission.settle(1.0, 1)


class AwaitedLimits:
    """A limit store whose ``acquire`` suspends, as a networked one's would."""

    def __init__(self) -> None:
        self._memory = MemoryLimitStore()

    async def acquire(self, quotas: Sequence[Quota], now: float) -> RateState:
        await asyncio.sleep(0)
        return await self._memory.acquire(quotas, now)

    def release(self, quotas: Sequence[Quota], tokens: int, now: float) -> None:
        self._memory.release(quotas, tokens, now)


async def test_admit_now_admits_without_a_coroutine_or_defers(store: SQLiteStore) -> None:
    gate = fixed_gate()
    ctx = await key_ctx(store, max_budget=1.0, rpm_limit=10, max_parallel_requests=5)
    first = gate.admit_now(ctx, "m", 0.6, NOW)
    assert first is not None and ctx.accounts[0].reserved == 0.6
    assert [value for name, value in first.headers() if name.endswith("remaining-requests")] == [
        "9"
    ]
    # the budget is held by the first request: admit_now changes nothing and defers to admit
    assert gate.admit_now(ctx, "m", 0.6, NOW) is None
    assert (ctx.accounts[0].reserved, ctx.accounts[0].in_flight) == (0.6, 1)
    assert gate.limits.in_flight(ctx.quotas[0].name) == 1  # type: ignore[attr-defined]
    second = asyncio.create_task(gate.admit(ctx, "m", 0.6, NOW))
    await asyncio.sleep(0)
    first.settle(0.1, 10)
    (await second).settle(0.1, 10)
    with pytest.raises(AuthenticationError):
        gate.admit_now(await key_ctx(store, "sk-other", models=("x",)), "m", 0.0, NOW)


async def test_admit_now_defers_to_a_limit_store_that_must_be_awaited(
    store: SQLiteStore,
) -> None:
    gate = Gate(AwaitedLimits(), clock=lambda: NOW)
    ctx = await key_ctx(store, max_budget=1.0, rpm_limit=1)
    assert gate.admit_now(ctx, "m", 0.5, NOW) is None
    assert ctx.accounts[0].in_flight == 0
    (await gate.admit(ctx, "m", 0.5, NOW)).settle(0.5, 1)
    error = await refusal(gate, ctx)
    assert error.code == "rpm_limit_exceeded" and ctx.accounts[0].in_flight == 0


# --- the estimate --------------------------------------------------------------------------


LINEAR = (1e-6, 4e-6)  # per prompt token, per completion token


def linear_price(prompt: int, completion: int) -> float:
    return prompt * LINEAR[0] + completion * LINEAR[1]


def test_estimate_uses_the_output_cap_and_choices() -> None:
    messages = [{"role": "user", "content": "hello there"}]
    prompt = prompt_estimate(messages)
    capped = {"messages": messages, "max_completion_tokens": 100, "max_tokens": 9}
    assert estimate_cost(capped, LINEAR) == linear_price(prompt, 100)
    legacy = {"messages": messages, "max_tokens": 50, "n": 3}
    assert estimate_cost(legacy, LINEAR) == linear_price(prompt, 150)
    uncapped = {"messages": messages}
    assert estimate_cost(uncapped, LINEAR, default_output=2048) == linear_price(prompt, 2048)
    assert estimate_cost(uncapped, NO_PRICE) == 0.0


@pytest.mark.parametrize(
    ("text", "real_tokens"),
    [
        ("The quick brown fox jumps over the lazy dog. " * 40, 400),  # 10 tokens a sentence
        ('{"id": 12345, "items": [1, 2, 3], "ok": true}\n' * 30, 750),  # JSON: ~25 a line
        ("東京は日本の首都です。" * 30, 430),  # CJK: up to ~1.3 tokens a character
    ],
)
def test_estimate_is_not_below_a_request_that_stops_at_max_tokens(
    text: str, real_tokens: int
) -> None:
    body = {"messages": [{"role": "user", "content": text}], "max_tokens": 64}
    real = linear_price(real_tokens + 8, 64)  # + message framing
    assert estimate_cost(body, LINEAR) >= real


def test_tiny_budgets_read_in_significant_digits() -> None:
    from tokenway.proxy.accounting.refusals import _money

    assert _money(0.00000048) == "$0.00000048"
    assert _money(0.0049) == "$0.0049"
    assert _money(0.0123) == "$0.01"
    assert _money(0.0) == "$0.00"
    assert _money(1234.5) == "$1,234.50"
