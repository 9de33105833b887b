import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.proxy.key_helpers import (
    Clock,
    CountingStore,
    add_key,
    add_team,
    add_user,
    open_sqlite,
    resolved,
    settle_refreshes,
)

from tokenway.errors import AuthenticationError, ServiceUnavailableError
from tokenway.proxy.accounting.gate import Gate
from tokenway.proxy.accounting.keys import Account, KeyCache
from tokenway.proxy.auth import hash_key
from tokenway.store.base import Limits, SpendRow
from tokenway.store.sqlite import SQLiteStore

NOW = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await open_sqlite(tmp_path / "keys.db")
    yield opened
    await opened.close()


@pytest.fixture
def counting(store: SQLiteStore) -> CountingStore:
    return CountingStore(store)


def cache_on(counting: CountingStore, clock: Clock, **options: object) -> KeyCache:
    return KeyCache(counting.as_store(), clock=clock, **options)  # type: ignore[arg-type]


async def test_resolve_gives_the_key_with_its_user_and_team(store: SQLiteStore) -> None:
    await add_team(store, "ml", models=("a", "b"), max_budget=50.0)
    await add_user(store, "ada", rpm_limit=10)
    key_hash = await add_key(store, "sk-one", team_id="ml", user_id="ada", models=("a", "z"))
    ctx = await resolved(KeyCache(store), key_hash)
    assert ctx.key.key_hash == key_hash
    assert ctx.user is not None and ctx.user.user_id == "ada"
    assert ctx.team is not None and ctx.team.team_id == "ml"
    assert [a.kind for a in ctx.accounts] == ["key", "user", "team"]
    assert ctx.models == {"a"}  # the key's models capped by the team's
    assert [q.name for q in ctx.quotas] == ["user:ada"]
    assert not ctx.unrestricted


async def test_a_fresh_hit_does_no_io(store: SQLiteStore, counting: CountingStore) -> None:
    clock = Clock()
    key_hash = await add_key(store, "sk-one")
    cache = cache_on(counting, clock)
    first = await cache.resolve(key_hash)
    clock.advance(1.9)
    assert await cache.resolve(key_hash) is first
    assert counting.key_reads == 1


async def test_unknown_keys_are_remembered_for_a_second(counting: CountingStore) -> None:
    clock = Clock()
    cache = cache_on(counting, clock)
    assert await cache.resolve(hash_key("sk-nobody")) is None
    clock.advance(0.9)
    assert await cache.resolve(hash_key("sk-nobody")) is None
    assert counting.key_reads == 1
    clock.advance(0.2)
    assert await cache.resolve(hash_key("sk-nobody")) is None
    assert counting.key_reads == 2


async def test_concurrent_misses_share_one_query(
    store: SQLiteStore, counting: CountingStore
) -> None:
    key_hash = await add_key(store, "sk-one")
    cache = cache_on(counting, Clock())
    counting.hold = asyncio.Event()
    waiting = [asyncio.create_task(cache.resolve(key_hash)) for _ in range(50)]
    await asyncio.sleep(0.01)
    waiting[0].cancel()  # one caller leaving does not cancel the others' query
    counting.hold.set()
    results = await asyncio.gather(*waiting[1:])
    assert counting.key_reads == 1
    assert all(ctx is results[0] and ctx is not None for ctx in results)


async def test_a_stale_hit_is_served_at_once_and_refreshed_once(
    store: SQLiteStore, counting: CountingStore
) -> None:
    clock = Clock()
    key_hash = await add_key(store, "sk-one")
    cache = cache_on(counting, clock)
    before = await resolved(cache, key_hash)
    await store.update_key(key_hash, {"blocked": True})
    clock.advance(2.5)
    counting.hold = asyncio.Event()
    served = await asyncio.gather(*(cache.resolve(key_hash) for _ in range(20)))
    assert all(ctx is before for ctx in served)  # no caller waited for the store
    assert counting.key_reads == 2  # the first load and one refresh
    counting.hold.set()
    await settle_refreshes()
    after = await resolved(cache, key_hash)
    assert after.accounts[0].blocked


async def test_revocation_reaches_another_instance_within_refresh_after(
    store: SQLiteStore, tmp_path: Path
) -> None:
    other_store = await open_sqlite(tmp_path / "keys.db")  # a second proxy, same database
    try:
        clock = Clock()
        keep, drop = await add_key(store, "sk-keep"), await add_key(store, "sk-drop")
        here = KeyCache(store, clock=clock)
        there = KeyCache(other_store, clock=clock, refresh_after=2.0)
        gate = Gate(clock=lambda: NOW)
        await resolved(there, keep), await resolved(there, drop)

        await store.update_key(keep, {"blocked": True})
        await store.delete_keys([drop])
        here.invalidate(keep)
        here.invalidate(drop)
        with pytest.raises(AuthenticationError):  # immediately on the instance that did it
            await gate.admit(await resolved(here, keep), "m", 0.0, NOW)
        assert await here.resolve(drop) is None

        clock.advance(1.0)  # the other instance still serves what it read
        await gate.admit(await resolved(there, keep), "m", 0.0, NOW)
        clock.advance(1.0)  # refresh_after: served once more while the store is read
        await there.resolve(keep), await there.resolve(drop)
        await settle_refreshes()
        with pytest.raises(AuthenticationError) as info:
            await gate.admit(await resolved(there, keep), "m", 0.0, NOW)
        assert info.value.code == "key_blocked"
        assert await there.resolve(drop) is None
    finally:
        await other_store.close()


async def test_a_key_idle_past_max_age_waits_for_the_store(
    store: SQLiteStore, counting: CountingStore
) -> None:
    clock = Clock()
    key_hash = await add_key(store, "sk-one")
    cache = cache_on(counting, clock, max_age=4.0)
    await cache.resolve(key_hash)
    await store.update_key(key_hash, {"blocked": True})
    clock.advance(60.0)
    ctx = await resolved(cache, key_hash)
    assert ctx.accounts[0].blocked  # the very first use after the idle time sees it


async def test_invalidate_and_forget_are_immediate(store: SQLiteStore) -> None:
    await add_team(store, "ml")
    key_hash = await add_key(store, "sk-one", team_id="ml", models=("a",))
    cache = KeyCache(store, clock=Clock())
    assert (await resolved(cache, key_hash)).models == {"a"}
    await store.update_key(key_hash, {"models": ["a", "b"]})
    cache.invalidate(key_hash)
    assert (await resolved(cache, key_hash)).models == {"a", "b"}
    await store.update_team("ml", {"blocked": True})
    cache.forget(team_id="ml")
    assert (await resolved(cache, key_hash)).accounts[-1].blocked


async def test_store_outage_refuses_unknown_keys_by_default(store: SQLiteStore) -> None:
    key_hash = await add_key(store, "sk-one")
    cache = KeyCache(store, clock=Clock())
    await store.close()
    with pytest.raises(ServiceUnavailableError) as info:
        await cache.resolve(key_hash)
    assert info.value.status_code == 503
    assert info.value.code == "key_store_unavailable"
    assert "key store unavailable" in info.value.message


async def test_store_outage_can_admit_unknown_keys_unrestricted(store: SQLiteStore) -> None:
    clock = Clock()
    key_hash = await add_key(store, "sk-one", max_budget=0.0, models=("a",))
    cache = KeyCache(store, clock=clock, allow_on_store_outage=True)
    await store.close()
    ctx = await resolved(cache, key_hash)
    assert ctx.unrestricted
    admission = await Gate().admit(ctx, "anything", 5.0, NOW)  # nothing can be checked
    admission.settle(1.0, 10)
    await store.open()  # the store is back: the real record replaces the stand-in
    clock.advance(1.5)
    assert (await resolved(cache, key_hash)).unrestricted
    await settle_refreshes()
    ctx = await resolved(cache, key_hash)
    assert not ctx.unrestricted and ctx.models == {"a"}


async def test_a_refresh_during_an_outage_keeps_the_cached_state(store: SQLiteStore) -> None:
    clock = Clock()
    key_hash = await add_key(store, "sk-one", max_budget=10.0)
    cache = KeyCache(store, clock=clock)
    cached = await resolved(cache, key_hash)
    await store.close()
    clock.advance(3.0)
    assert await cache.resolve(key_hash) is cached
    await settle_refreshes()
    clock.advance(60.0)  # long past max_age: still served, without waiting on a dead store
    assert await asyncio.wait_for(cache.resolve(key_hash), 1.0) is cached
    await store.open()


async def test_flushed_spend_moves_from_unflushed_to_spend(store: SQLiteStore) -> None:
    await add_team(store, "ml", max_budget=100.0)
    key_hash = await add_key(store, "sk-one", team_id="ml", user_id=None, max_budget=10.0)
    cache = KeyCache(store, clock=Clock())
    ctx = await resolved(cache, key_hash)
    admission = await Gate().admit(ctx, "m", 1.0, NOW)
    admission.settle(0.75, 100)
    key_account, team_account = ctx.accounts
    assert (key_account.spend, key_account.unflushed) == (0.0, 0.75)
    row = _row("r1", key_hash, "ml", 0.75)
    await store.add_spend([row])
    cache.add_flushed_spend([row])
    assert (key_account.spend, key_account.unflushed) == (0.75, 0.0)
    assert (team_account.spend, team_account.unflushed) == (0.75, 0.0)


async def test_flushed_rows_of_many_payers_reach_each_account(store: SQLiteStore) -> None:
    await add_team(store, "ml", max_budget=100.0)
    one = await add_key(store, "sk-one", team_id="ml", user_id=None, max_budget=10.0)
    two = await add_key(store, "sk-two", team_id=None, user_id=None, max_budget=10.0)
    cache = KeyCache(store, clock=Clock())
    first, second = await resolved(cache, one), await resolved(cache, two)
    first.accounts[0].unflushed, second.accounts[0].unflushed = 0.5, 0.25
    rows = [_row("r1", one, "ml", 0.25), _row("r2", two, None, 0.5), _row("r3", one, "ml", 0.5)]
    cache.add_flushed_spend([*rows, _row("free", one, "ml", 0.0), _row("gone", "x", "y", 1.0)])
    assert (first.accounts[0].spend, first.accounts[0].unflushed) == (0.75, 0.0)
    assert first.accounts[1].spend == 0.75  # the team
    assert (second.accounts[0].spend, second.accounts[0].unflushed) == (0.5, 0.0)


async def test_peek_sees_fresh_entries_only(store: SQLiteStore) -> None:
    clock = Clock()
    key_hash = await add_key(store, "sk-one")
    cache = KeyCache(store, clock=clock)
    assert cache.peek(key_hash) is None  # not loaded: resolve reads it
    ctx = await resolved(cache, key_hash)
    assert cache.peek(key_hash) is ctx
    clock.advance(2.0)
    assert cache.peek(key_hash) is None  # stale: resolve serves it and refreshes


async def test_a_refresh_takes_spend_other_instances_flushed(store: SQLiteStore) -> None:
    clock = Clock()
    key_hash = await add_key(store, "sk-one", max_budget=10.0)
    cache = KeyCache(store, clock=clock)
    ctx = await resolved(cache, key_hash)
    await store.add_spend([_row("elsewhere", key_hash, None, 2.5)])
    clock.advance(2.0)
    await cache.resolve(key_hash)
    await settle_refreshes()
    assert ctx.accounts[0] is (await resolved(cache, key_hash)).accounts[0]  # kept across loads
    assert ctx.accounts[0].spend == 2.5


def test_a_read_that_raced_a_flush_keeps_the_larger_spend() -> None:
    account = Account("key", "h", "key 'x'")
    account.load(Limits(spend=1.0, budget_reset_at=100.0), False, raced=False)
    account.spend += 2.0  # rows flushed while the store was being read
    account.load(Limits(spend=1.0, budget_reset_at=100.0), False, raced=True)
    assert account.spend == 3.0
    account.load(Limits(spend=0.5, budget_reset_at=100.0), False, raced=False)
    assert account.spend == 0.5  # an administrator lowered it: the store wins
    account.load(Limits(spend=0.0, budget_reset_at=200.0), False, raced=True)
    assert account.spend == 0.0  # a new window: the store wins


def _row(request_id: str, key_hash: str, team_id: str | None, cost: float) -> SpendRow:
    return SpendRow(
        request_id=request_id,
        key_hash=key_hash,
        user_id=None,
        team_id=team_id,
        model_alias="m",
        deployment=None,
        prompt_tokens=10,
        completion_tokens=90,
        cost=cost,
        latency_ms=5.0,
        status=200,
        error_code=None,
        stream=False,
        started_at=NOW,
    )
