"""Cooldowns told to other processes and taken from them."""

from __future__ import annotations

import asyncio

import pytest
from tests.router.fakes import Handle, handles

from tokenway.errors import RateLimitError, ServiceUnavailableError
from tokenway.limits.redis_store import RedisLimitStore
from tokenway.limits.window import MemoryLimitStore
from tokenway.router import RouterSettings, RoutingEngine
from tokenway.router.handles import DeploymentLimits
from tokenway.router.shared import SharedCooldowns


def state(now: list[float]) -> SharedCooldowns:
    shared = SharedCooldowns(clock=lambda: now[0])
    shared.add_group("m", ["d1", "d2"], [DeploymentLimits(), DeploymentLimits()])
    return shared


def test_a_cooldown_is_published_as_the_seconds_it_has_left() -> None:
    now = [100.0]
    shared, sent = state(now), []
    shared.publish = lambda deployment, seconds: sent.append((deployment, seconds))

    shared.cool_down("d1", 130.0)
    shared.recover("d1")

    assert sent == [("d1", 30.0), ("d1", 0.0)]


def test_a_cooldown_heard_applies_on_this_process_s_clock_and_is_not_sent_back() -> None:
    now = [5_000.0]
    shared, sent = state(now), []
    shared.publish = lambda deployment, seconds: sent.append((deployment, seconds))

    shared.apply("d2", 30.0)
    cooled = {s.deployment_id: s.cooldown_until for s in shared.view("m", now[0])}
    shared.apply("d2", 0.0)
    shared.apply("not-here", 10.0)  # another config's deployment: ignored

    assert cooled == {"d1": 0.0, "d2": 5_030.0}
    assert all(s.cooldown_until == 0.0 for s in shared.view("m", now[0]))
    assert sent == []


def engines(store: MemoryLimitStore, limits: DeploymentLimits) -> list[RoutingEngine[Handle]]:
    """Two processes' engines on one shared limit store (the proxy's is Redis)."""
    made = []
    for _ in range(2):
        shared = SharedCooldowns(limits=store)
        router = RoutingEngine(
            handles("m", "d1", limits=limits),
            RouterSettings(max_wait_for_capacity=0.0, num_retries=0),
            state=shared,
        )
        router.admission = shared.admit
        made.append(router)
    return made


async def answer(handle: Handle, budget: float) -> str:
    await asyncio.sleep(0.01)
    return handle.deployment_id


async def test_a_deployment_s_rpm_is_counted_once_for_every_engine_sharing_a_store() -> None:
    a, b = engines(MemoryLimitStore(), DeploymentLimits(rpm=3))
    outcomes = []
    for n in range(8):
        try:
            await (a if n % 2 else b).acall("m", answer)
        except RateLimitError as error:
            outcomes.append(error.code)
        else:
            outcomes.append("ok")

    assert outcomes.count("ok") == 3
    assert set(outcomes) == {"ok", "deployments_saturated"}


async def test_a_deployment_s_parallel_slots_are_shared_and_given_back() -> None:
    store = MemoryLimitStore()
    a, b = engines(store, DeploymentLimits(max_parallel_requests=1))
    first = asyncio.ensure_future(a.acall("m", answer))
    await asyncio.sleep(0)  # a holds the slot, its answer not in yet
    with pytest.raises(RateLimitError):
        await b.acall("m", answer)
    await first
    assert store.in_flight("deployment:d1") == 0
    await asyncio.sleep(0.06)  # b's mark of "full elsewhere" lapses
    assert (await b.acall("m", answer)).value == "d1"


async def test_a_store_that_refuses_outright_leaves_nothing_in_flight() -> None:
    """``redis_outage: refuse`` with Redis away: the call gets the store's 503, and the
    attempt it had begun is no longer counted in flight."""
    store = RedisLimitStore("redis://127.0.0.1:1/0", refuse_on_outage=True, timeout=0.2)
    await store.start()  # nothing listens there: the store is unavailable from the start
    shared = SharedCooldowns(limits=store)
    router = RoutingEngine(handles("m", "d1", limits=DeploymentLimits(rpm=5)), state=shared)
    router.admission = shared.admit
    try:
        with pytest.raises(ServiceUnavailableError):
            await router.acall("m", answer)
        assert router.stats("m")[0].in_flight == 0
    finally:
        await store.aclose()
