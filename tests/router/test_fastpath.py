"""The engine's short way for the common case decides exactly as its general loop does.

Each scenario runs twice on a fake clock: once on the real engine, once on an engine whose
short way is switched off, with the same seeded plan (groups, attempt outcomes, held
streams, token reports, needed tokens). Every result, error, trace, attempt (with its
budget) and every deployment's stats after each call must be the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Sequence

import pytest
from tests.router.fakes import FAST, Clock, Handle, handles

from tokenway.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    RateLimitError,
    TokenwayError,
)
from tokenway.router import DeploymentLimits, Routed, RouterSettings, RouteTrace, RoutingEngine
from tokenway.router.cooldown import CooldownPolicy

FAILURES: tuple[Callable[[], TokenwayError] | None, ...] = (
    *([None] * 12),
    lambda: InternalServerError("boom"),
    lambda: APIConnectionError("lost"),
    lambda: RateLimitError("slow down", retry_after=2),
    lambda: AuthenticationError("bad key"),
    lambda: BadRequestError("bad request"),
    lambda: ContextWindowExceededError("too long"),
)


class GeneralOnly(RoutingEngine[Handle]):
    """The engine with its short way switched off: every call takes the general loop."""

    # ``_start`` takes ``_first``'s arguments and always answers with the general loop's call.
    _first = RoutingEngine._start


def settings() -> RouterSettings:
    return RouterSettings(
        num_retries=2,
        timeout=30,
        fallbacks={"a": ("b", "c"), "b": ("c",)},
        context_window_fallbacks={"a": ("c",), "b": ("c",)},
        cooldown=CooldownPolicy(allowed_fails=1, cooldown_time=5),
        max_wait_for_capacity=0,
        backoff=FAST,
    )


def single_groups() -> list[Handle]:
    return [
        Handle("a1", "a", DeploymentLimits(rpm=30, tpm=20_000, context_window=1000, timeout=4)),
        Handle("b1", "b", DeploymentLimits(max_parallel_requests=2, context_window=4000)),
        *handles("c", "c1"),
    ]


def multi_groups() -> list[Handle]:
    return [
        Handle("a1", "a", DeploymentLimits(rpm=30, weight=3, context_window=1000)),
        Handle("a2", "a", DeploymentLimits(max_parallel_requests=1, context_window=1000)),
        Handle("a3", "a", DeploymentLimits(tpm=5000, timeout=2, context_window=1000)),
        *handles("b", "b1", "b2", limits=DeploymentLimits(max_parallel_requests=2)),
        *handles("c", "c1", "c2"),
    ]


def snapshot(router: RoutingEngine[Handle]) -> list[tuple[object, ...]]:
    return [
        (s.deployment_id, s.in_flight, s.latency, s.rpm_used, s.tpm_used, s.usage)
        for group in router.groups()
        for s in router.stats(group)
    ] + [
        (s.cooldown_until, s.last_failed_at, tuple(s.failures))
        for group in router.groups()
        for s in router.stats(group)
    ]


class Step:
    """One call of a scenario: its planned outcomes, and what the engine asked of it."""

    def __init__(self, plan: random.Random, clock: Clock) -> None:
        self.clock = clock
        self.outcomes = [plan.choice(FAILURES) for _ in range(6)]
        self.took = [plan.choice((0.0, 0.1, 2.5)) for _ in range(6)]
        self.tokens = plan.choice((10, 800, 3000, 9000))
        self.asked = 0
        self.calls: list[tuple[str, float]] = []

    def needed(self) -> int:
        self.asked += 1
        return self.tokens

    def attempt(self, handle: Handle, budget: float) -> str:
        self.calls.append((handle.deployment_id, budget))
        self.clock.now += self.took.pop() if self.took else 0.0
        failure = self.outcomes.pop() if self.outcomes else None
        if failure is not None:
            raise failure()
        return handle.deployment_id

    async def aattempt(self, handle: Handle, budget: float) -> str:
        return self.attempt(handle, budget)


async def scenario(
    kind: type[RoutingEngine[Handle]],
    deployments: Sequence[Handle],
    strategy: str,
    use_async: bool,
    steps: int = 150,
) -> list[object]:
    clock = Clock()
    options = dataclasses.replace(settings(), routing_strategy=strategy)
    router = kind(deployments, options, clock=clock, rng=random.Random(5))
    plan = random.Random(11)
    record: list[object] = []
    held: list[Routed[Handle, str]] = []
    for _ in range(steps):
        clock.now += plan.choice((0.0, 0.25, 1.0, 4.0, 30.0))
        step = Step(plan, clock)
        group = plan.choice(("a", "a", "a", "b", "c"))
        trace: RouteTrace[Handle] | None = RouteTrace(group) if plan.random() < 0.8 else None
        hold = plan.random() < 0.2
        report = plan.randint(0, 400)
        needs = step.needed if plan.random() < 0.7 else None
        try:
            if use_async:
                routed = await router.acall(
                    group, step.aattempt, needed_tokens=needs, trace=trace, hold=hold
                )
            else:
                routed = router.call(
                    group, step.attempt, needed_tokens=needs, trace=trace, hold=hold
                )
        except TokenwayError as error:
            context = type(error.__context__).__name__  # raised while handling what
            record.append(("error", type(error).__name__, error.message, error.code, context))
        else:
            record.append(("ok", routed.value, routed.deployment, routed.group))
            record.append((routed.retries, routed.fallbacks))
            router.add_tokens(routed.deployment, report)
            if hold:
                held.append(routed)
        if trace is not None:
            record.append((trace.group, trace.deployment, trace.retries, trace.fallbacks))
        if held and plan.random() < 0.4:
            held.pop(0).release()
        record.append((step.asked, step.calls, snapshot(router)))
    return record


STRATEGIES = ("simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing")


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_single_deployment_groups_route_as_the_general_loop(strategy: str) -> None:
    for use_async in (False, True):
        fast = await scenario(RoutingEngine, single_groups(), strategy, use_async)
        general = await scenario(GeneralOnly, single_groups(), strategy, use_async)
        assert fast == general
        assert any(item[0] == "error" for item in fast if isinstance(item, tuple))


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_larger_groups_route_as_the_general_loop(strategy: str) -> None:
    for use_async in (False, True):
        fast = await scenario(RoutingEngine, multi_groups(), strategy, use_async)
        general = await scenario(GeneralOnly, multi_groups(), strategy, use_async)
        assert fast == general


def test_needed_tokens_is_asked_once_even_after_a_failed_first_attempt() -> None:
    router = RoutingEngine(
        [Handle("a1", "a", DeploymentLimits(context_window=100))],
        RouterSettings(backoff=FAST),
        clock=Clock(),
    )
    asked: list[int] = []
    failures = [InternalServerError("boom")]

    def attempt(handle: Handle, budget: float) -> str:
        if failures:
            raise failures.pop()
        return "ok"

    def needed() -> int:
        asked.append(50)
        return 50

    routed = router.call("a", attempt, needed_tokens=needed)
    assert (routed.value, routed.retries, asked) == ("ok", 1, [50])
    assert router.stats("a")[0].in_flight == 0


async def test_an_abandoned_first_attempt_leaves_nothing_in_flight() -> None:
    router = RoutingEngine(handles("a", "a1"), RouterSettings(backoff=FAST), clock=Clock())

    async def cancelled(handle: Handle, budget: float) -> str:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await router.acall("a", cancelled)
    stats = router.stats("a")[0]
    assert (stats.in_flight, stats.rpm_used, stats.cooldown_until) == (0, 1, 0.0)


def test_routed_from_the_short_way_is_the_same_frozen_record() -> None:
    router = RoutingEngine(handles("a", "a1"), RouterSettings(backoff=FAST), clock=Clock())
    routed = router.call("a", lambda handle, budget: "ok")
    assert routed == Routed("ok", routed.deployment, "a", 0, 0)
    with pytest.raises(AttributeError):
        routed.value = "changed"  # type: ignore[misc]
    routed.release()  # holds nothing: a no-op
