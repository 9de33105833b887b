"""Budget reservations shared by processes: the rules (``BudgetBook``), the same verdicts
from Redis's scripts, and the counter process of ``--workers N`` without Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tokenway.limits.budgets import ADMITTED, EXCEEDED, WAIT, BudgetBook, Hold, Verdict
from tokenway.limits.local_store import LocalLimitStore, start_counter
from tokenway.limits.redis_budgets import KEEP, RedisBudgets
from tokenway.limits.redis_store import RedisLimitStore
from tokenway.limits.window import Quota

KEY = Hold("key:k", "-", 1.0, 0.0)
TEAM = Hold("team:t", "100.0", 3.0, 0.0)


def test_a_budget_admits_until_it_is_spent_and_waits_while_it_is_held() -> None:
    book = BudgetBook()
    assert book.reserve([KEY], 0.4, "a") == Verdict(ADMITTED, 0, 0.0)
    assert book.reserve([KEY], 0.4, "b") == Verdict(ADMITTED, 0, 0.0)
    assert book.reserve([KEY], 0.4, "c") == Verdict(WAIT, 0, 0.0)  # 1.2 > 1.0, two in flight
    book.settle([KEY], "a", 0.1)
    assert book.reserve([KEY], 0.4, "c") == Verdict(ADMITTED, 0, 0.0)  # 0.1 + 0.8 fits
    book.settle([KEY], "b", 0.3)
    book.settle([KEY], "c", 0.7)
    assert book.reserve([KEY], 0.4, "d")[:2] == (EXCEEDED, 0)
    assert book.reserve([KEY], 0.4, "d").spend == pytest.approx(1.1)


def test_with_nothing_in_flight_a_request_is_admitted_while_spend_is_below_the_budget() -> None:
    book = BudgetBook()
    assert book.reserve([KEY], 5.0, "big").outcome == ADMITTED  # overruns by one request
    assert book.reserve([KEY], 0.1, "next").outcome == WAIT


def test_the_store_s_spend_is_a_floor_and_a_new_window_starts_from_it() -> None:
    book = BudgetBook()
    book.reserve([TEAM], 1.0, "a")
    book.settle([TEAM], "a", 1.0)
    assert book.reserve([Hold("team:t", "100.0", 3.0, 3.5)], 0.1, "b").outcome == EXCEEDED
    assert book.reserve([Hold("team:t", "200.0", 3.0, 0.0)], 0.1, "c").outcome == ADMITTED


def test_every_account_must_fit_and_nothing_is_reserved_otherwise() -> None:
    book = BudgetBook()
    assert book.reserve([KEY, TEAM], 0.9, "a").outcome == ADMITTED
    assert book.reserve([TEAM], 0.5, "b").outcome == ADMITTED
    assert book.reserve([KEY, TEAM], 0.5, "c") == Verdict(WAIT, 0, 0.0)
    assert book.in_flight("team:t") == 2  # "c" took nothing on the team


@asynccontextmanager
async def ledger(url: str, prefix: str, **options: float) -> AsyncIterator[RedisBudgets]:
    store = RedisLimitStore(url, prefix=prefix, **options)  # type: ignore[arg-type]
    await store.start()
    try:
        yield RedisBudgets(store)
    finally:
        await store.aclose()


async def test_redis_gives_the_verdicts_of_the_rules(redis_url: str, redis_prefix: str) -> None:
    """Random reservations and settlements, in both: the same verdicts and figures."""
    rng = random.Random(14)
    book = BudgetBook()
    open_leases: list[tuple[str, list[Hold]]] = []
    async with ledger(redis_url, redis_prefix) as redis:
        for step in range(300):
            if open_leases and rng.random() < 0.45:
                lease, holds = open_leases.pop(rng.randrange(len(open_leases)))
                cost = round(rng.uniform(0.0, 0.6), 6)
                book.settle(holds, lease, cost)
                redis.settle(holds, lease, cost)
                continue
            floor = rng.choice([0.0, 0.0, 0.0, 0.5])
            holds = rng.choice([[KEY], [TEAM], [KEY, TEAM]])
            holds = [Hold(h.name, h.window, h.budget, floor) for h in holds]
            if rng.random() < 0.03:  # the budget window rolls over
                holds = [Hold(h.name, f"{step}.0", h.budget, 0.0) for h in holds]
            estimate = round(rng.uniform(0.01, 0.7), 6)
            expected = book.reserve(holds, estimate, f"l{step}")
            got = await redis.reserve(holds, estimate, f"l{step}")
            assert got.outcome == expected.outcome and got.at == expected.at, step
            assert got.spend == pytest.approx(expected.spend), step
            if got.outcome == ADMITTED:
                open_leases.append((f"l{step}", holds))


async def test_every_key_of_an_account_expires(redis_url: str, redis_prefix: str) -> None:
    """A reservation's keys (state, leases, estimates) all expire within ``KEEP`` seconds,
    the sets a reservation creates after the last lease left too (the expiry is pushed
    back once a tenth of ``KEEP``, and at once for a new set)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        async with ledger(redis_url, redis_prefix) as budgets:
            for step in range(3):
                assert (await budgets.reserve([KEY], 0.1, f"l{step}")).outcome == ADMITTED
                keys = [key async for key in client.scan_iter(f"{redis_prefix}*")]
                assert len(keys) == 3, keys
                for key in keys:
                    assert 0 < await client.ttl(key) <= KEEP, key
                budgets.settle([KEY], f"l{step}", 0.01)  # the sets are empty: deleted
    finally:
        await client.aclose()


async def test_two_processes_share_one_budget(redis_url: str, redis_prefix: str) -> None:
    async with ledger(redis_url, redis_prefix) as a, ledger(redis_url, redis_prefix) as b:
        assert (await a.reserve([KEY], 0.6, "a1")).outcome == ADMITTED
        assert (await b.reserve([KEY], 0.6, "b1")).outcome == WAIT
        a.settle([KEY], "a1", 0.5)
        assert (await b.reserve([KEY], 0.4, "b1")).outcome == ADMITTED
        b.settle([KEY], "b1", 0.5)
        refused = await a.reserve([KEY], 0.1, "a2")
        assert refused[:2] == (EXCEEDED, 0) and refused.spend == pytest.approx(1.0)


async def test_a_dead_process_s_reservations_expire(redis_url: str, redis_prefix: str) -> None:
    async with ledger(redis_url, redis_prefix, lease_ttl=0.3) as dead:
        assert (await dead.reserve([KEY], 0.9, "gone")).outcome == ADMITTED
    async with ledger(redis_url, redis_prefix, lease_ttl=30.0) as alive:
        assert (await alive.reserve([KEY], 0.5, "x")).outcome == WAIT
        await asyncio.sleep(0.4)
        assert (await alive.reserve([KEY], 0.5, "x")).outcome == ADMITTED


async def test_a_dead_process_s_reservations_are_dropped_in_time(
    redis_url: str, redis_prefix: str
) -> None:
    """Expired reservations that hold nothing back stay until the keys' expiry is pushed
    back (once a tenth of ``keep``), then go with their estimates."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, decode_responses=True)
    state = f"{redis_prefix}b:{KEY.name}"
    try:
        async with ledger(redis_url, redis_prefix, lease_ttl=0.2) as dead:
            assert (await dead.reserve([KEY], 0.25, "gone")).outcome == ADMITTED
        store = RedisLimitStore(redis_url, prefix=redis_prefix, lease_ttl=30.0)
        await store.start()
        try:
            alive = RedisBudgets(store, keep=10)  # pushed back once a second
            await asyncio.sleep(0.3)
            assert (await alive.reserve([KEY], 0.125, "a")).outcome == ADMITTED
            assert float(await client.hget(state, "r")) == pytest.approx(0.375)
            await asyncio.sleep(1.1)
            assert (await alive.reserve([KEY], 0.125, "b")).outcome == ADMITTED
            assert float(await client.hget(state, "r")) == pytest.approx(0.25)
        finally:
            await store.aclose()
    finally:
        await client.aclose()


async def test_a_live_process_keeps_its_reservations(redis_url: str, redis_prefix: str) -> None:
    async with (
        ledger(redis_url, redis_prefix, lease_ttl=0.3) as a,
        ledger(redis_url, redis_prefix, lease_ttl=0.3) as b,
    ):
        assert (await a.reserve([KEY], 0.9, "long")).outcome == ADMITTED
        await asyncio.sleep(0.8)  # renewed every 0.1 s
        assert (await b.reserve([KEY], 0.5, "x")).outcome == WAIT


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "counter.sock")
    pid = start_counter(path)
    try:
        yield path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


async def test_workers_share_reservations_through_the_counter(counter: str) -> None:
    a, b = LocalLimitStore(counter), LocalLimitStore(counter)
    await a.start()
    await b.start()
    assert a.shared and b.shared
    assert (await a.reserve([KEY], 0.9, "a1")).outcome == ADMITTED
    assert (await b.reserve([KEY], 0.5, "b1")).outcome == WAIT
    await a.aclose()  # a worker that dies frees what it held
    deadline = time.monotonic() + 5
    while (await b.reserve([KEY], 0.5, "b1")).outcome != ADMITTED:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    b.settle([KEY], "b1", 1.2)
    refused = await b.reserve([KEY], 0.1, "b2")
    assert refused[:2] == (EXCEEDED, 0) and refused.spend == pytest.approx(1.2)
    await b.aclose()


async def test_the_counter_takes_limits_with_the_budget_in_one_call(counter: str) -> None:
    """A refusal by the limits gives the reservation back; a budget that must wait takes
    no limit."""
    rpm = (Quota("key:k", "key 'k'", rpm=1),)
    worker = LocalLimitStore(counter)
    await worker.start()
    first = await worker.reserve([KEY], 0.9, "l1", rpm, time.time())
    assert first.outcome == ADMITTED and first.rate is not None and first.rate.refused is None
    waiting = await worker.reserve([KEY], 0.5, "l2", rpm, time.time())
    assert waiting.outcome == WAIT and waiting.rate is None
    worker.settle([KEY], "l1", 0.1)
    refused = await worker.reserve([KEY], 0.5, "l3", rpm, time.time())
    assert refused.outcome == ADMITTED and refused.rate is not None
    assert refused.rate.refused == "requests"
    # l3 was given back: 0.1 spent + 0.85 fits with nothing in flight or reserved
    assert (await worker.reserve([KEY], 0.85, "l4")).outcome == ADMITTED
    assert (await worker.reserve([KEY], 0.1, "l5")).outcome == WAIT
    await worker.aclose()
