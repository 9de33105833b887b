"""The overview is one scan per period, kept OVERVIEW_TTL seconds and shared by callers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tokenway.proxy.ui.overview import OVERVIEW_TTL, Overview, merged
from tokenway.store import open_store
from tokenway.store.base import Bucket, SpendFilter, Store, UsageSlice


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


async def test_one_scan_serves_every_caller_until_it_is_stale(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    await store.open()
    try:
        counting = CountingStore(store)
        now = [1_800_000_000.0]
        overview = Overview(counting, lambda: now[0])  # type: ignore[arg-type]
        first, second = await asyncio.gather(overview.of("24h"), overview.of("24h"))
        assert first is second and counting.scans == 1
        now[0] += OVERVIEW_TTL - 0.1
        assert await overview.of("24h") is first and counting.scans == 1
        await overview.of("7d")  # another period: its own scan
        assert counting.scans == 2
        now[0] += 0.2
        fresh = await overview.of("24h")
        assert fresh is not first and counting.scans == 3
        assert fresh["as_of"] == now[0]
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
