"""The gate with a budget ledger shared by processes: two gates, each with its own key
cache (as two instances have), reserving in one Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import RedisServer
from tests.proxy.key_helpers import add_key, open_sqlite, resolved

from tokenway.errors import AuthenticationError, BudgetExceededError
from tokenway.limits.budgets import Hold
from tokenway.limits.redis_budgets import LEASES, RedisBudgets
from tokenway.limits.redis_store import SLOTS, RedisLimitStore
from tokenway.limits.window import Quota
from tokenway.proxy.accounting.gate import Gate, LimitExceededError
from tokenway.proxy.accounting.keys import KeyCache, KeyContext
from tokenway.store.sqlite import SQLiteStore


@asynccontextmanager
async def instance(url: str, prefix: str, wait: float = 30.0) -> AsyncIterator[Gate]:
    store = RedisLimitStore(url, prefix=prefix)
    await store.start()
    try:
        yield Gate(store, budgets=RedisBudgets(store), budget_wait=wait)
    finally:
        await store.aclose()


@pytest.fixture
async def keys(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await open_sqlite(tmp_path / "keys.db")
    yield store
    await store.close()


async def seen_by_two(store: SQLiteStore, **options: Any) -> tuple[KeyContext, KeyContext]:
    """One key as two instances resolve it: separate ``Account`` objects."""
    key_hash = await add_key(store, "sk-shared-0001", **options)
    return (
        await resolved(KeyCache(store), key_hash),
        await resolved(KeyCache(store), key_hash),
    )


async def test_a_reservation_on_one_instance_holds_the_other_until_it_settles(
    keys: SQLiteStore, redis_url: str, redis_prefix: str
) -> None:
    mine, theirs = await seen_by_two(keys, max_budget=1.0)
    async with instance(redis_url, redis_prefix) as a, instance(redis_url, redis_prefix) as b:
        held = await a.admit(mine, "m", 0.8, time.time())
        waiting = asyncio.ensure_future(b.admit(theirs, "m", 0.5, time.time()))
        await asyncio.sleep(0.15)
        assert not waiting.done()  # 0.8 + 0.5 does not fit while a's request runs
        held.settle(0.3, 10)
        admitted = await asyncio.wait_for(waiting, 2.0)
        admitted.settle(0.8, 10)
        with pytest.raises(BudgetExceededError) as refused:
            await a.admit(mine, "m", 0.1, time.time())
    assert "spend $1.10 of max_budget $1.00" in refused.value.message


async def test_a_budget_held_longer_than_the_wait_is_429(
    keys: SQLiteStore, redis_url: str, redis_prefix: str
) -> None:
    mine, theirs = await seen_by_two(keys, max_budget=1.0)
    async with (
        instance(redis_url, redis_prefix) as a,
        instance(redis_url, redis_prefix, wait=0.3) as b,
    ):
        held = await a.admit(mine, "m", 0.9, time.time())
        with pytest.raises(LimitExceededError) as busy:
            await b.admit(theirs, "m", 0.5, time.time())
        held.settle(0.0, 0)
    assert busy.value.code == "budget_reserved" and busy.value.status_code == 429


async def test_a_blocked_key_is_refused_as_blocked_before_its_budget(
    keys: SQLiteStore, redis_url: str, redis_prefix: str
) -> None:
    mine, _ = await seen_by_two(keys, max_budget=1.0, spend=5.0, blocked=True)
    async with instance(redis_url, redis_prefix) as a:
        with pytest.raises(AuthenticationError) as refused:
            await a.admit(mine, "m", 0.1, time.time())
    assert refused.value.code == "key_blocked"


async def test_without_redis_each_instance_reserves_on_its_own(
    keys: SQLiteStore, own_redis: RedisServer
) -> None:
    """Serving never stops: the ledger lost, the budget is this process's again."""
    mine, _ = await seen_by_two(keys, max_budget=1.0)
    async with instance(own_redis.url, "k:") as a:
        own_redis.kill()
        first = await a.admit(mine, "m", 0.6, time.time())  # the outage is found here
        with pytest.raises(LimitExceededError):  # held in this process: it waits, then 429
            await Gate(a.limits, budget_wait=0.1).admit(mine, "m", 0.6, time.time())
        first.settle(1.0, 1)
        with pytest.raises(BudgetExceededError):
            await a.admit(mine, "m", 0.1, time.time())


async def _redis_state(url: str, prefix: str) -> tuple[float, float, int, int]:
    """The key's budget state (reserved, spend) and how many parallel slots and budget
    leases are held, as Redis has them."""
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=2, decode_responses=True)
    try:
        (state,) = [key async for key in client.scan_iter(match=f"{prefix}b:key:*")]
        reserved, spend = await client.hmget(state, ["r", "s"])
        slots = [await client.zcard(k) async for k in client.scan_iter(f"{prefix}{SLOTS}:*")]
        leases = [await client.zcard(k) async for k in client.scan_iter(f"{prefix}{LEASES}:*")]
    finally:
        await client.aclose()
    return float(str(reserved)), float(str(spend)), sum(slots), sum(leases)


async def test_a_budget_and_its_limits_are_taken_and_freed_together_across_instances(
    keys: SQLiteStore, redis_url: str, redis_prefix: str
) -> None:
    """One script call reserves the budget and acquires the limits; a limit that refuses
    gives the reservation back; one call settles the cost and frees the slot."""
    mine, theirs = await seen_by_two(keys, max_budget=1.0, rpm_limit=2, max_parallel_requests=2)
    async with instance(redis_url, redis_prefix) as a, instance(redis_url, redis_prefix) as b:
        held = await a.admit(mine, "m", 0.6, time.time())
        other = await b.admit(theirs, "m", 0.1, time.time())
        assert await _redis_state(redis_url, redis_prefix) == pytest.approx((0.7, 0.0, 2, 2))
        other.settle(0.1, 5)
        await asyncio.sleep(0.1)  # the settle is sent without waiting for its reply
        assert await _redis_state(redis_url, redis_prefix) == pytest.approx((0.6, 0.1, 1, 1))
        with pytest.raises(LimitExceededError) as refused:  # the budget fits, rpm does not
            await b.admit(theirs, "m", 0.3, time.time())
        assert refused.value.code == "rpm_limit_exceeded"
        assert await _redis_state(redis_url, redis_prefix) == pytest.approx((0.6, 0.1, 1, 1))
        held.settle(0.5, 7)
        await asyncio.sleep(0.1)
        assert await _redis_state(redis_url, redis_prefix) == pytest.approx((0.0, 0.6, 0, 0))


async def test_a_limit_refused_in_the_budgets_call_leaves_no_reservation(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisLimitStore(redis_url, prefix=redis_prefix)
    await store.start()
    try:
        ledger = RedisBudgets(store)
        quotas = (Quota("key:k", "key k", 1, None, None),)  # rpm 1
        holds = [Hold("key:k", "-", 1.0, 0.0)]
        first = await ledger.reserve(holds, 0.2, "lease-1", quotas, time.time())
        second = await ledger.reserve(holds, 0.3, "lease-2", quotas, time.time())
        assert first.outcome == 0 and first.rate is not None and first.rate.refused is None
        assert second.outcome == 0 and second.rate is not None
        assert second.rate.refused == "requests"
        assert await _redis_state(redis_url, redis_prefix) == pytest.approx((0.2, 0.0, 0, 1))
    finally:
        await store.aclose()
