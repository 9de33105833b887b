"""Usage over time (the admin UI's overview): aggregated by the database, in UTC buckets,
with errors counted, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from tests.store.records import DAY, T0, spend

from tokenway.store import SpendFilter, Store
from tokenway.store.base import UsageTotal

HOUR = 3600.0


async def seeded(store: Store) -> None:
    await store.add_spend(
        [
            spend("r1", started_at=T0 + 10, cost=0.5, model_alias="a"),
            spend("r2", started_at=T0 + HOUR - 1, cost=0.25, model_alias="b", status=429),
            spend("r3", started_at=T0 + HOUR + 5, cost=1.0, model_alias="a", key_hash="h2"),
            spend("r4", started_at=T0 + DAY + 7, cost=None, model_alias="a", error_code="x"),
        ]
    )


async def test_hourly_buckets_start_on_the_hour_and_count_errors(store: Store) -> None:
    await seeded(store)
    totals = await store.usage_totals(SpendFilter(), bucket="hour")
    assert [(t.bucket, t.requests, t.errors, t.cost) for t in totals] == [
        (T0, 2, 1, 0.75),
        (T0 + HOUR, 1, 0, 1.0),
        (T0 + DAY, 1, 1, 0.0),
    ]
    assert totals[0].prompt_tokens == 20 and totals[0].completion_tokens == 10


async def test_daily_buckets_per_model(store: Store) -> None:
    await seeded(store)
    totals = await store.usage_totals(SpendFilter(), bucket="day", group_by="model")
    assert [(t.bucket, t.group, t.requests) for t in totals] == [
        (T0, "a", 2),
        (T0, "b", 1),
        (T0 + DAY, "a", 1),
    ]


async def test_whole_range_by_key_within_a_time_filter(store: Store) -> None:
    await seeded(store)
    where = SpendFilter(start=T0, end=T0 + DAY)
    totals = await store.usage_totals(where, group_by="key")
    assert totals == [
        UsageTotal(None, "h2", 1, 10, 5, 1.0, 0),
        UsageTotal(None, "hash-1", 2, 20, 10, 0.75, 1),
    ]
    assert await store.usage_totals(SpendFilter(start=T0 + 2 * DAY)) == []


async def test_spend_logs_filter_by_failure(store: Store) -> None:
    await seeded(store)
    failed = await store.spend_logs(SpendFilter(failed=True))
    ok = await store.spend_logs(SpendFilter(failed=False))
    assert {r.request_id for r in failed} == {"r2", "r4"}
    assert {r.request_id for r in ok} == {"r1", "r3"}


async def test_one_scan_slices_by_bucket_model_key_and_team(store: Store) -> None:
    await seeded(store)
    slices = await store.usage_slices(SpendFilter(start=T0, end=T0 + DAY), "hour")
    found = [(s.bucket, s.model, s.key_hash, s.team_id, s.requests, s.errors) for s in slices]
    assert sorted(found, key=repr) == sorted(
        [
            (T0, "a", "hash-1", "team-1", 1, 0),
            (T0, "b", "hash-1", "team-1", 1, 1),
            (T0 + HOUR, "a", "h2", "team-1", 1, 0),
        ],
        key=repr,
    )
    assert [s.bucket for s in slices] == sorted(s.bucket for s in slices)
    assert sum(s.cost for s in slices) == 1.75
