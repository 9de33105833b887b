"""Spend rows: stored once per request id, totals added once, read back filtered."""

from __future__ import annotations

import asyncio

import pytest
from tests.store.records import DAY, T0, key, spend, team, user

from tokenway.store import SpendFilter, SpendTotal, Store


async def owners(store: Store) -> None:
    await store.create_key(key("hash-1"))
    await store.create_user(user("user-1"))
    await store.create_team(team("team-1"))


async def spent(store: Store) -> tuple[float, float, float]:
    k, u = await store.get_key("hash-1"), await store.get_user("user-1")
    t = await store.get_team("team-1")
    assert k is not None and u is not None and t is not None
    return k.limits.spend, u.limits.spend, t.limits.spend


async def test_replaying_rows_stores_and_counts_them_once(store: Store) -> None:
    await owners(store)
    rows = [spend("req-1", cost=0.5), spend("req-2", cost=0.25)]
    assert await store.add_spend(rows) == 2
    assert await store.add_spend(rows) == 0
    assert await store.add_spend([*rows, spend("req-3", cost=1.0)]) == 1
    assert await spent(store) == (1.75, 1.75, 1.75)
    assert len(await store.spend_logs(SpendFilter())) == 3


async def test_a_batch_of_several_inserts_counts_only_its_new_rows(store: Store) -> None:
    await owners(store)
    rows = [spend(f"req-{n:04d}", cost=0.5, started_at=T0 + n) for n in range(1200)]
    assert await store.add_spend(rows[600:601]) == 1
    assert await store.add_spend([*rows, rows[5]]) == 1199
    assert await spent(store) == (600.0, 600.0, 600.0)
    assert len(await store.spend_logs(SpendFilter(), limit=2000)) == 1200


async def test_a_request_id_twice_in_one_batch_counts_once(store: Store) -> None:
    await owners(store)
    assert await store.add_spend([spend("req-1", cost=0.5), spend("req-1", cost=0.5)]) == 1
    assert await spent(store) == (0.5, 0.5, 0.5)


async def test_unknown_cost_adds_nothing_but_the_row_is_kept(store: Store) -> None:
    await owners(store)
    assert await store.add_spend([spend("req-1", cost=None), spend("req-2", cost=0.0)]) == 2
    assert await spent(store) == (0.0, 0.0, 0.0)
    assert {row.cost for row in await store.spend_logs(SpendFilter())} == {None, 0.0}
    assert await store.add_spend([]) == 0


async def test_spend_goes_to_each_row_s_own_key_user_and_team(store: Store) -> None:
    await owners(store)
    await store.create_key(key("hash-2"))
    rows = [
        spend("req-1", cost=1.0),
        spend("req-2", key_hash="hash-2", user_id=None, team_id=None, cost=2.0),
        spend("req-3", key_hash=None, user_id="user-1", team_id="ghost-team", cost=4.0),
    ]
    assert await store.add_spend(rows) == 3
    assert await spent(store) == (1.0, 5.0, 1.0)
    second = await store.get_key("hash-2")
    assert second is not None and second.limits.spend == 2.0


async def test_concurrent_writers_with_overlapping_batches(store: Store) -> None:
    await owners(store)
    # 10 writers, each sending 10 of their own rows and 5 shared ones (in either order,
    # as replays of one journal may): 105 distinct rows.
    shared = [spend(f"shared-{i}", cost=0.5) for i in range(5)]

    async def writer(n: int) -> int:
        own = [spend(f"w{n}-{i}", cost=0.25) for i in range(10)]
        return await store.add_spend(own + (shared if n % 2 else shared[::-1]))

    inserted = await asyncio.gather(*(writer(n) for n in range(10)))
    assert sum(inserted) == 105
    assert await spent(store) == (27.5, 27.5, 27.5)
    assert len(await store.spend_logs(SpendFilter(), limit=1000)) == 105


async def test_a_row_reads_back_with_every_field(store: Store) -> None:
    row = spend(
        "req-1",
        deployment=None,
        status=200,
        error_code="upstream_cut",
        stream=True,
        payload='{"messages": []}',
        latency_ms=7.0,
        started_at=T0 + 0.125,
    )
    await store.add_spend([row])
    assert await store.spend_logs(SpendFilter()) == [row]


async def test_logs_filter_by_each_field_and_time_range(store: Store) -> None:
    rows = [
        spend("r1", key_hash="k1", user_id="u1", team_id="t1", model_alias="m1", started_at=T0),
        spend("r2", key_hash="k2", user_id="u1", team_id="t2", model_alias="m1", started_at=T0 + 1),
        spend("r3", key_hash="k1", user_id="u2", team_id="t2", model_alias="m2", started_at=T0 + 2),
        spend("r4", key_hash=None, user_id=None, team_id=None, model_alias="m2", started_at=T0 + 3),
    ]
    await store.add_spend(rows)

    async def ids(**where: object) -> list[str]:
        found = await store.spend_logs(SpendFilter(**where))  # type: ignore[arg-type]
        return [row.request_id for row in found]

    assert await ids() == ["r4", "r3", "r2", "r1"]
    assert await ids(key_hash="k1") == ["r3", "r1"]
    assert await ids(user_id="u1") == ["r2", "r1"]
    assert await ids(team_id="t2") == ["r3", "r2"]
    assert await ids(model_alias="m2") == ["r4", "r3"]
    assert await ids(start=T0 + 1, end=T0 + 3) == ["r3", "r2"]  # start inclusive, end not
    assert await ids(key_hash="k1", model_alias="m2", start=T0) == ["r3"]


async def test_logs_are_newest_first_and_paginated(store: Store) -> None:
    await store.add_spend([spend(f"r{i:02d}", started_at=T0 + i) for i in range(25)])
    pages = [await store.spend_logs(SpendFilter(), offset=o, limit=10) for o in (0, 10, 20)]
    assert [len(page) for page in pages] == [10, 10, 5]
    times = [row.started_at for page in pages for row in page]
    assert times == sorted(times, reverse=True) and len(set(times)) == 25
    assert await store.spend_logs(SpendFilter(), offset=30) == []
    with pytest.raises(ValueError):
        await store.spend_logs(SpendFilter(), limit=-1)


async def test_totals_per_utc_day_and_group(store: Store) -> None:
    rows = [
        spend("a", model_alias="m1", started_at=T0 + 10, prompt_tokens=1, completion_tokens=2),
        spend("b", model_alias="m1", started_at=T0 + DAY - 1, prompt_tokens=3, cost=None),
        spend("c", model_alias="m2", started_at=T0 + 20, completion_tokens=7, cost=1.0),
        spend("d", model_alias="m1", started_at=T0 + DAY, prompt_tokens=4, cost=0.5),
    ]
    await store.add_spend(rows)
    totals = await store.spend_totals("model", SpendFilter())
    assert totals == [
        SpendTotal("2026-01-01", "m1", requests=2, prompt_tokens=4, completion_tokens=7, cost=0.25),
        SpendTotal("2026-01-01", "m2", requests=1, prompt_tokens=10, completion_tokens=7, cost=1.0),
        SpendTotal("2026-01-02", "m1", requests=1, prompt_tokens=4, completion_tokens=5, cost=0.5),
    ]
    later = await store.spend_totals("model", SpendFilter(start=T0 + DAY))
    assert [(t.day, t.group) for t in later] == [("2026-01-02", "m1")]


async def test_totals_by_key_user_and_team_put_the_unowned_last(store: Store) -> None:
    await store.add_spend(
        [
            spend("a", key_hash="k2", user_id="u1", team_id=None),
            spend("b", key_hash="k1", user_id="u1", team_id=None),
            spend("c", key_hash=None, user_id=None, team_id="t1"),
        ]
    )
    by_key = await store.spend_totals("key", SpendFilter())
    assert [(t.group, t.requests) for t in by_key] == [("k1", 1), ("k2", 1), (None, 1)]
    by_user = await store.spend_totals("user", SpendFilter())
    assert [(t.group, t.requests, t.cost) for t in by_user] == [("u1", 2, 0.5), (None, 1, 0.25)]
    by_team = await store.spend_totals("team", SpendFilter(key_hash="k1"))
    assert [(t.group, t.requests) for t in by_team] == [(None, 1)]
    with pytest.raises(ValueError, match="group_by"):
        await store.spend_totals("region", SpendFilter())  # type: ignore[arg-type]
    assert await store.spend_totals("key", SpendFilter(start=T0 + DAY)) == []
