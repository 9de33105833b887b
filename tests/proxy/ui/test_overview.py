"""The overview: finished hours read once, the latest hour on each refresh, the result
kept OVERVIEW_TTL seconds and shared by callers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tokenway.proxy.ui.overview import OVERVIEW_TTL, RESCAN, Overview, merged
from tokenway.store import open_store
from tokenway.store.base import Bucket, SpendFilter, SpendRow, Store, UsageSlice


class CountingStore:
    """A real SQLite store that counts the overview's scans."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.scans = 0

    async def usage_slices(self, where: SpendFilter, bucket: Bucket) -> list[UsageSlice]:
        self.scans += 1
        await asyncio.sleep(0.01)  # callers arriving meanwhile wait for this scan
        return await self.store.usage_slices(where, bucket)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def spent(request_id: str, started_at: float, cost: float = 1.0) -> SpendRow:
    return SpendRow(
        request_id, None, None, None, "m", None, 1, 1, cost, 1.0, 200, None, False, started_at
    )


async def test_settled_rows_are_read_once_and_the_latest_on_each_refresh(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    await store.open()
    try:
        counting = CountingStore(store)
        now = [1_800_000_000.0 + 3400]  # 3 min 20 s before an hour ends
        overview = Overview(counting, lambda: now[0])  # type: ignore[arg-type]
        await store.add_spend([spent("old", now[0] - 5 * 3600), spent("new", now[0] - 60)])
        first, second = await asyncio.gather(overview.of("24h"), overview.of("24h"))
        assert first is second and counting.scans == 2  # the settled rows, then the rest
        assert first["totals"]["requests"] == 2
        now[0] += OVERVIEW_TTL - 0.1
        assert await overview.of("24h") is first and counting.scans == 2  # kept, shared
        await store.add_spend([spent("later", now[0] - 1)])
        now[0] += 0.2
        again = await overview.of("24h")
        assert counting.scans == 4  # only the rows since the last refresh
        assert again["totals"]["requests"] == 3 and again["as_of"] == now[0]
        await store.add_spend([spent("late", now[0] - 4 * 3600)])  # held back, then written
        now[0] += 400  # an old hour's late row: not read again until RESCAN
        assert (await overview.of("24h"))["totals"]["requests"] == 3
        assert counting.scans == 6
        now[0] += RESCAN  # the finished hours are read anew: the late row counts
        assert (await overview.of("24h"))["totals"]["requests"] == 4
        week = await overview.of("7d")  # a longer range reads further back
        assert week["totals"]["requests"] == 4 and week["bucket"] == "day"
        assert sum(p["requests"] for p in week["series"]) == 4
    finally:
        await store.close()


def test_slices_merge_per_group_in_time_order() -> None:
    def cut(bucket: float, model: str, requests: int) -> UsageSlice:
        return UsageSlice(bucket, model, None, None, requests, 1, 2, 0.5, 0)

    slices = [cut(0, "a", 1), cut(0, "b", 2), cut(3600, "a", 4)]
    by_time = merged(slices, lambda s: str(s.bucket), timed=True)
    assert [(t.bucket, t.group, t.requests) for t in by_time] == [(0, None, 3), (3600, None, 4)]
    by_model = merged(slices, lambda s: s.model)
    assert [(t.bucket, t.group, t.requests, t.cost) for t in by_model] == [
        (None, "a", 5, 1.0),
        (None, "b", 2, 0.5),
    ]
