"""The Redis ``LimitStore``: the memory store's verdicts, counted once for every process,
with leases for parallel slots and per-process counting while Redis is away."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from tests.conftest import RedisServer

from tokenway.limits.redis_store import SLOTS, RedisLimitStore, redacted
from tokenway.limits.window import MemoryLimitStore, Quota, RateState

KEY = Quota("key:k1", "key 'k1'", rpm=6, tpm=300, parallel=3)
TEAM = Quota("team:t1", "team 't1'", rpm=9, tpm=None, parallel=None)
USER = Quota("user:u1", "user 'u1'", rpm=None, tpm=200, parallel=2)


@asynccontextmanager
async def redis_store(url: str, prefix: str, **options: float) -> AsyncIterator[RedisLimitStore]:
    store = RedisLimitStore(url, prefix=prefix, **options)  # type: ignore[arg-type]
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


async def settled(store: RedisLimitStore) -> None:
    """Let the background releases reach Redis."""
    for _ in range(200):
        if store._batches is None or not store._batches.pending:
            return
        await asyncio.sleep(0.005)


def figures(state: RateState) -> tuple[object, ...]:
    refused_by = state.refused_by.name if state.refused_by else None
    return (state.refused, refused_by, round(state.retry_after, 2), state.headroom())


async def test_the_same_verdicts_as_the_memory_store(redis_url: str, redis_prefix: str) -> None:
    rng = random.Random(14)
    memory = MemoryLimitStore()
    now = 1_000_000.25
    async with redis_store(redis_url, redis_prefix, lease_ttl=10_000.0) as shared:
        held: list[tuple[Quota, ...]] = []
        for _ in range(300):
            now += rng.choice((0.0, 0.1, 0.7, 3.0, 11.0, 65.0))
            if held and rng.random() < 0.45:
                quotas = held.pop(rng.randrange(len(held)))
                tokens = rng.choice((0, 10, 60))
                memory.release(quotas, tokens, now)
                shared.release(quotas, tokens, now)
                await settled(shared)
                continue
            quotas = rng.choice(((KEY,), (KEY, TEAM), (KEY, USER, TEAM), (USER,)))
            expected = await memory.acquire(quotas, now)
            got = await shared.acquire(quotas, now)
            assert figures(got) == figures(expected)
            if got.refused is None:
                held.append(quotas)


async def test_a_clock_behind_counts_in_the_window_s_newest_second(
    redis_url: str, redis_prefix: str
) -> None:
    """A process whose clock is behind the window's (another process's) counts its units
    in the window's newest second: they leave the window with it, neither never (a count
    that no sweep reaches would fill the window for good) nor at once."""
    quota = (Quota("key:skew", "key 'skew'", rpm=None, tpm=100),)
    now = 2_000_000.5
    async with (
        redis_store(redis_url, redis_prefix) as ahead,
        redis_store(redis_url, redis_prefix) as behind,
    ):
        ahead.release(quota, 10, now)
        await settled(ahead)
        behind.release(quota, 90, now - 120.0)  # two minutes behind
        await settled(behind)
        refused = await ahead.acquire(quota, now + 60.0)
        assert refused.refused == "tokens"
        assert refused.retry_after == pytest.approx(0.5)  # its second leaves at now + 60.5
        after = await ahead.acquire(quota, now + 61.0)
        assert after.refused is None
        assert after.headroom()[4] == 100  # nothing left behind in the window


async def test_two_processes_share_one_limit(redis_url: str, redis_prefix: str) -> None:
    quota = (Quota("key:shared", "key 'shared'", rpm=10),)
    now = time.time()
    async with (
        redis_store(redis_url, redis_prefix) as a,
        redis_store(redis_url, redis_prefix) as b,
    ):
        states = [await (a if i % 2 else b).acquire(quota, now) for i in range(40)]

    admitted = [s for s in states if s.refused is None]
    assert len(admitted) == 10
    assert [s.headroom()[1] for s in admitted] == list(range(9, -1, -1))
    assert all(s.refused == "requests" for s in states[10:])


async def test_parallel_slots_hold_across_processes(redis_url: str, redis_prefix: str) -> None:
    quota = (Quota("key:p", "key 'p'", parallel=2),)
    now = time.time()
    async with (
        redis_store(redis_url, redis_prefix) as a,
        redis_store(redis_url, redis_prefix) as b,
    ):
        assert (await a.acquire(quota, now)).refused is None
        assert (await b.acquire(quota, now)).refused is None
        assert (await a.acquire(quota, now)).refused == "parallel"
        b.release(quota, 0, now)
        await settled(b)
        assert (await a.acquire(quota, now)).refused is None


async def test_a_dead_process_s_slots_expire(redis_url: str, redis_prefix: str) -> None:
    quota = (Quota("key:dead", "key 'dead'", parallel=1),)
    now = 5_000.0
    async with redis_store(redis_url, redis_prefix, lease_ttl=30.0) as dead:
        assert (await dead.acquire(quota, now)).refused is None
    async with redis_store(redis_url, redis_prefix, lease_ttl=30.0) as alive:
        assert (await alive.acquire(quota, now + 29.0)).refused == "parallel"
        assert (await alive.acquire(quota, now + 30.5)).refused is None


async def test_a_dead_process_s_slots_are_dropped_once_a_second(
    redis_url: str, redis_prefix: str
) -> None:
    """Below the limit, expired leases are dropped by the first acquire of a second (the
    requests window moves), not by every acquire: they never pile up."""
    from redis.asyncio import Redis

    quota = (Quota("key:lazy", "key 'lazy'", rpm=1000, parallel=5),)
    slots = f"{redis_prefix}{SLOTS}:key:lazy"
    client = Redis.from_url(redis_url)
    try:
        async with redis_store(redis_url, redis_prefix, lease_ttl=30.0) as dead:
            for _ in range(2):
                assert (await dead.acquire(quota, 5_000.0)).refused is None
        async with redis_store(redis_url, redis_prefix, lease_ttl=30.0) as alive:
            assert (await alive.acquire(quota, 5_030.5)).refused is None  # a new second
            assert await client.zcard(slots) == 1  # only its own
            assert (await alive.acquire(quota, 5_030.7)).refused is None
            assert await client.zcard(slots) == 2
    finally:
        await client.aclose()


async def test_a_live_process_keeps_its_slots(redis_url: str, redis_prefix: str) -> None:
    """Its leases are renewed while the request runs, however long."""
    quota = (Quota("key:long", "key 'long'", parallel=1),)
    async with (
        redis_store(redis_url, redis_prefix, lease_ttl=0.3) as a,
        redis_store(redis_url, redis_prefix, lease_ttl=0.3) as b,
    ):
        assert (await a.acquire(quota, time.time())).refused is None
        await asyncio.sleep(0.8)
        assert (await b.acquire(quota, time.time())).refused == "parallel"
        a.release(quota, 0, time.time())
        await settled(a)
        assert (await b.acquire(quota, time.time())).refused is None


async def _until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.02)


async def test_an_outage_counts_here_warns_once_and_resumes(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    quota = (Quota("key:o", "key 'o'", rpm=3, parallel=5),)
    caplog.set_level(logging.INFO, "tokenway.limits")
    async with redis_store(own_redis.url, "o:", timeout=0.3, probe_interval=0.05) as store:
        now = time.time()
        assert (await store.acquire(quota, now)).refused is None  # 1 in Redis
        own_redis.kill()
        outage = [await store.acquire(quota, now) for _ in range(4)]
        assert not store.available
        assert [s.refused for s in outage] == [None, None, None, "requests"]  # memory's 3
        for _ in outage[:3]:
            store.release(quota, 0, now)
        store.release(quota, 0, now)  # the Redis one: its lease just expires
        assert store.fallback.in_flight("key:o") == 0

        own_redis.start()  # an empty Redis: its windows start afresh
        await _until(lambda: store.available)
        back = [await store.acquire(quota, now) for _ in range(4)]
        assert [s.refused for s in back] == [None, None, None, "requests"]

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "counted per process" in warnings[0].getMessage()
    assert any("is back" in r.getMessage() for r in caplog.records)


async def test_a_redis_that_never_answers_does_not_hold_requests() -> None:
    """A server that accepts and stays silent: the call gives up after ``timeout``."""
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    quota = (Quota("key:slow", "key 'slow'", rpm=1),)
    try:
        store = RedisLimitStore(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        await asyncio.wait_for(store.start(), 5)
        state = await asyncio.wait_for(store.acquire(quota, time.time()), 5)
        assert state.refused is None and not store.available
        await store.aclose()
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()


def test_urls_are_shown_without_their_password() -> None:
    assert redacted("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redacted("rediss://user:pw@h:6379/0") == "rediss://user:***@h:6379/0"
    assert redacted("redis://h:6379/0") == "redis://h:6379/0"
