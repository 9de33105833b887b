"""Routing statistics shared by instances through Redis: approximate, one report late."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tokenway.proxy.accounting.router_stats import RouterStats
from tokenway.router.handles import DeploymentLimits
from tokenway.router.shared import SharedCooldowns
from tokenway.router.strategies import GroupShape, least_busy

LIMITS = [DeploymentLimits(), DeploymentLimits()]


@asynccontextmanager
async def instance(url: str, prefix: str, interval: float = 60.0) -> AsyncIterator[RouterStats]:
    """An instance's state and its reporter (``exchange`` called by the test)."""
    state = SharedCooldowns()
    state.add_group("m", ["d1", "d2"], LIMITS)
    stats = RouterStats(url, prefix, state, interval=interval)
    await stats.start()
    try:
        yield stats
    finally:
        await stats.aclose()


def view(stats: RouterStats) -> dict[str, tuple[int, float]]:
    return {s.deployment_id: (s.in_flight, s.latency) for s in stats._state.view("m", 0.0)}


async def test_least_busy_sees_the_calls_in_flight_on_other_instances(
    redis_url: str, redis_prefix: str
) -> None:
    async with instance(redis_url, redis_prefix) as a, instance(redis_url, redis_prefix) as b:
        for _ in range(3):
            a._state.begin("d1", 0.0)
        await a.exchange()
        await b.exchange()
        seen = view(b)
        stats = b._state.view("m", 0.0)
        shape = GroupShape.of(LIMITS)
        picks = {least_busy(shape, [0, 1], stats, random.Random(n)) for n in range(20)}
        for _ in range(3):
            a._state.end("d1", None)
        await a.exchange()
        await b.exchange()
        after = view(b)

    assert seen["d1"][0] == 3 and seen["d2"][0] == 0
    assert picks == {1}  # b sends to d2, though it has nothing in flight itself
    assert view(a)["d1"][0] == 0  # a counts its own calls once
    assert after["d1"][0] == 0


async def test_latencies_are_pulled_to_the_instances_mean(
    redis_url: str, redis_prefix: str
) -> None:
    async with instance(redis_url, redis_prefix) as a, instance(redis_url, redis_prefix) as b:
        a._state.end("d1", 1.0, finished=False)
        b._state.end("d1", 0.2, finished=False)
        await a.exchange()
        await b.exchange()
        assert view(b)["d1"][1] == 0.6
        assert view(b)["d2"][1] == 0.0  # measured nowhere


async def test_a_silent_instance_s_report_is_ignored_after_three_intervals(
    redis_url: str, redis_prefix: str
) -> None:
    async with (
        instance(redis_url, redis_prefix) as a,  # reports only when the test says
        instance(redis_url, redis_prefix, interval=0.05) as b,  # every 50 ms by itself
    ):
        a._state.begin("d1", 0.0)
        await a.exchange()
        await b.exchange()
        heard = view(b)["d1"][0]
        await asyncio.sleep(0.4)  # a says nothing more, as an instance that died
        later = view(b)["d1"][0]

    assert heard == 1
    assert later == 0
