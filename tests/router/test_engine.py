"""The engine's decisions: retries, fallbacks, cooldowns, saturation, with scripted attempts."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.router.fakes import FAST, Clock, Handle, Script, counts, engine, handles

from tokenway.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)
from tokenway.router import DeploymentLimits, RouterSettings, RouteTrace

BOOM = InternalServerError("boom")


def test_a_failing_deployment_is_retried_elsewhere_then_cooled_down() -> None:
    router = engine(handles("g", "bad", "good"))
    script = Script({"bad": BOOM})
    results = [router.call("g", script) for _ in range(200)]
    assert {r.value for r in results} == {"good"}
    assert counts(script.calls)["bad"] == 4  # allowed_fails=3: the 4th failure cools it down
    assert {r.retries for r in results} == {0, 1}
    bad = router.stats("g")[0]
    assert bad.cooldown_until == 1005.0 and bad.in_flight == 0


def test_weights_3_to_1_split_2000_requests_within_5_percent() -> None:
    deployments = [
        Handle("heavy", "g", DeploymentLimits(weight=3)),
        Handle("light", "g", DeploymentLimits(weight=1)),
    ]
    router = engine(deployments, seed=42)
    picks = counts([router.call("g", Script()).value for _ in range(2000)])
    assert abs(picks["heavy"] / 2000 - 0.75) <= 0.05


def test_the_same_deployment_is_retried_after_a_backoff() -> None:
    router = engine(handles("g", "only"))
    failures = [BOOM, BOOM]

    def flaky(handle: Handle, budget: float) -> str:
        if failures:
            raise failures.pop()
        return handle.deployment_id

    result = router.call("g", flaky)
    assert (result.value, result.retries, result.fallbacks) == ("only", 2, 0)


def test_retries_stop_at_num_retries() -> None:
    router = engine(handles("g", "a", "b"), RouterSettings(num_retries=1, backoff=FAST))
    script = Script({"a": BOOM, "b": BOOM})
    trace: RouteTrace[Handle] = RouteTrace("g")
    with pytest.raises(InternalServerError):
        router.call("g", script, trace=trace)
    assert sorted(script.calls) == ["a", "b"]
    assert (trace.retries, trace.fallbacks) == (1, 0)
    assert trace.deployment is not None


def test_a_client_error_ends_the_call_at_once() -> None:
    router = engine(handles("g", "a", "b"))
    script = Script({"a": BadRequestError("bad"), "b": BadRequestError("bad")})
    with pytest.raises(BadRequestError):
        router.call("g", script)
    assert len(script.calls) == 1
    assert [len(s.failures) for s in router.stats("g")] == [0, 0]  # counts against nobody


def test_a_refused_key_moves_to_another_deployment_never_the_same() -> None:
    router = engine(handles("g", "a", "b"))
    script = Script({"a": AuthenticationError("no")})
    assert {router.call("g", script).value for _ in range(10)} == {"b"}
    lonely = engine(handles("g", "a"))
    script = Script({"a": AuthenticationError("no")})
    with pytest.raises(AuthenticationError):
        lonely.call("g", script)
    assert script.calls == ["a"]


def test_fallback_chain_in_order() -> None:
    deployments = handles("a", "a1") + handles("b", "b1") + handles("c", "c1")
    settings = RouterSettings(num_retries=0, fallbacks={"a": ("b", "c")}, backoff=FAST)
    router = engine(deployments, settings)
    script = Script({"a1": BOOM, "b1": BOOM})
    result = router.call("a", script)
    assert (result.value, result.group, result.fallbacks, result.retries) == ("c1", "c", 2, 0)
    assert script.calls == ["a1", "b1", "c1"]


def test_default_fallbacks_apply_to_groups_without_their_own() -> None:
    deployments = handles("a", "a1") + handles("safe", "s1")
    settings = RouterSettings(num_retries=0, default_fallbacks=("safe",), backoff=FAST)
    router = engine(deployments, settings)
    assert router.call("a", Script({"a1": BOOM})).value == "s1"


def test_context_window_is_checked_before_sending_and_falls_back() -> None:
    small = handles("small", "s1", limits=DeploymentLimits(context_window=100))
    big = handles("big", "b1", limits=DeploymentLimits(context_window=10_000))
    settings = RouterSettings(
        context_window_fallbacks={"small": ("big",)}, fallbacks={"small": ("other",)}
    )
    router = engine(small + big + handles("other", "o1"), settings)
    script = Script()
    result = router.call("small", script, needed_tokens=lambda: 500)
    assert (result.value, result.fallbacks) == ("b1", 1)
    assert script.calls == ["b1"]  # nothing was sent to the small one
    assert router.call("small", script, needed_tokens=lambda: 50).value == "s1"
    with pytest.raises(ContextWindowExceededError, match="context window of 10000"):
        router.call("small", script, needed_tokens=lambda: 20_000)


def test_an_upstream_context_window_error_takes_only_context_window_fallbacks() -> None:
    deployments = handles("a", "a1") + handles("b", "b1") + handles("long", "l1")
    settings = RouterSettings(
        fallbacks={"a": ("b",)}, context_window_fallbacks={"a": ("long",)}, backoff=FAST
    )
    router = engine(deployments, settings)
    script = Script({"a1": ContextWindowExceededError("too long")})
    assert router.call("a", script).value == "l1"
    assert script.calls == ["a1", "l1"]
    plain = engine(handles("a", "a1") + handles("b", "b1"), RouterSettings(fallbacks={"a": ("b",)}))
    with pytest.raises(ContextWindowExceededError):
        plain.call("a", Script({"a1": ContextWindowExceededError("too long")}))


def test_when_all_are_cooled_down_the_least_recently_failed_is_tried() -> None:
    clock = Clock()
    router = engine(handles("g", "a", "b", "c"), clock=clock)
    for name, failed_at in (("a", 990.0), ("b", 980.0), ("c", 995.0)):
        router.state.fail(name, failed_at, 60.0)
        router.state.cool_down(name, 2000.0)
    result = router.call("g", Script())
    assert result.value == "b"
    assert router.stats("g")[1].cooldown_until == 0.0  # it answered: back in rotation


def test_a_429_cools_down_for_its_retry_after() -> None:
    router = engine(handles("g", "a", "b"))
    script = Script({"a": RateLimitError("slow down", retry_after=30)})
    while "a" not in script.calls:
        router.call("g", script)
    assert router.stats("g")[0].cooldown_until == 1030.0


def test_rpm_60_means_at_most_60_requests_in_any_60_seconds() -> None:
    clock = Clock(0.0)
    limits = DeploymentLimits(rpm=60)
    settings = RouterSettings(max_wait_for_capacity=0)
    router = engine(handles("g", "a", limits=limits), settings, clock)
    sent: list[float] = []
    refused = 0
    for step in range(1200):  # four requests a second for five minutes
        clock.now = step * 0.25
        try:
            router.call("g", lambda h, budget: sent.append(clock.now))
        except RateLimitError as error:
            assert error.code == "deployments_saturated" and error.retry_after
            refused += 1
    assert refused > 0
    for i, start in enumerate(sent):
        in_window = [t for t in sent[i:] if t < start + 60]
        assert len(in_window) <= 60
    assert len(sent) >= 60 * 4  # and the limit is used, not starved
    assert not router.stats("g")[0].failures  # refusals are not failures


async def test_a_saturated_group_waits_for_capacity_then_says_429() -> None:
    limits = DeploymentLimits(max_parallel_requests=1)
    settings = RouterSettings(max_wait_for_capacity=0.1, backoff=FAST)
    router = engine(handles("g", "a", limits=limits), settings)
    router.clock = time.monotonic
    release = asyncio.Event()

    async def slow(handle: Handle, budget: float) -> str:
        await release.wait()
        return handle.deployment_id

    first = asyncio.create_task(router.acall("g", slow))
    await asyncio.sleep(0)
    with pytest.raises(RateLimitError) as info:
        await router.acall("g", Script().async_)
    assert info.value.code == "deployments_saturated"
    assert info.value.retry_after is not None and info.value.retry_after >= 1
    waiting = asyncio.create_task(router.acall("g", Script().async_))
    await asyncio.sleep(0.03)
    release.set()
    assert (await first).value == "a"
    assert (await waiting).value == "a"  # it waited for the slot instead of failing
    assert router.stats("g")[0].cooldown_until == 0.0  # saturation cools nothing down


async def test_async_calls_share_the_decisions() -> None:
    deployments = handles("a", "a1", "a2") + handles("b", "b1")
    router = engine(deployments, RouterSettings(num_retries=1, fallbacks={"a": ("b",)}))
    script = Script({"a1": BOOM, "a2": BOOM})
    result = await router.acall("a", script.async_)
    assert (result.value, result.retries, result.fallbacks) == ("b1", 1, 1)


async def test_an_abandoned_attempt_is_not_left_in_flight() -> None:
    router = engine(handles("g", "a"))

    async def cancelled(handle: Handle, budget: float) -> str:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await router.acall("g", cancelled)
    assert router.stats("g")[0].in_flight == 0


def test_the_call_deadline_ends_retries_with_the_last_error() -> None:
    clock = Clock()
    router = engine(handles("g", "a"), RouterSettings(num_retries=50, timeout=10, backoff=FAST))

    def slow_failure(handle: Handle, budget: float) -> str:
        assert budget <= 10
        clock.now += 4
        raise BOOM

    with pytest.raises(InternalServerError):
        router.call("g", slow_failure)


def test_attempt_budget_is_the_deployment_timeout_within_the_call() -> None:
    router = engine(handles("g", "a", limits=DeploymentLimits(timeout=3)))
    budgets: list[float] = []
    router.call("g", lambda h, budget: budgets.append(budget))
    router.call("g", lambda h, budget: budgets.append(budget), timeout=1)
    assert budgets == [3, 1]


def test_unknown_groups() -> None:
    router = engine(handles("g", "a"))
    with pytest.raises(NotFoundError, match="served models: g"):
        router.call("nope", Script())
    with pytest.raises(ValueError, match="not served: zz"):
        engine(handles("g", "a"), RouterSettings(fallbacks={"g": ("zz",)}))
    with pytest.raises(ValueError, match="used twice"):
        engine(handles("g", "a") + handles("h", "a"))


def test_a_held_call_stays_in_flight_until_released() -> None:
    router = engine(handles("g", "a"))
    routed = router.call("g", lambda d, budget: "answer", hold=True)
    assert router.stats("g")[0].in_flight == 1
    routed.release()
    routed.release()  # idempotent
    assert router.stats("g")[0].in_flight == 0
    assert router.call("g", lambda d, budget: "answer").deployment.deployment_id == "a"
    assert router.stats("g")[0].in_flight == 0


def test_deployments_set_while_running_are_routed_and_kept_ones_keep_their_state() -> None:
    router = engine(handles("g", "bad", "good"))
    script = Script({"bad": BOOM})
    for _ in range(50):
        router.call("g", script)
    assert router.stats("g")[0].cooldown_until > 0  # "bad" is cooled down
    router.set_deployments([*handles("g", "bad", "good"), *handles("new", "n1")])
    assert router.call("new", Script()).value == "n1"
    assert router.stats("g")[0].cooldown_until > 0  # same id: same state
    router.set_deployments(handles("new", "n1"))
    with pytest.raises(NotFoundError):
        router.call("g", Script())
