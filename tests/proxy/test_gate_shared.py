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
from tokenway.limits.redis_budgets import RedisBudgets
from tokenway.limits.redis_store import RedisLimitStore
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
