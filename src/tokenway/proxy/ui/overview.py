"""The overview's figures: requests, tokens, spend and errors of a period over time, by
model, key and team, and the budgets most used.

Every view is summed from hourly slices (``Store.usage_slices``: usage per hour, model,
key and team, grouped by the database). Rows older than ``SETTLE`` seconds are taken as
all written: they are read once, summed into the kept slices (``HourlyUsage``), and each
refresh reads only the rows since, a range scan of the ``started_at`` index. Every
``RESCAN`` seconds the kept slices are read anew (rows a store outage held back in the
journal arrive late). The overview itself is kept ``OVERVIEW_TTL`` seconds and shared by
every session. A UI polling each second therefore costs the store a scan of the last
half minute's rows every ``OVERVIEW_TTL``, whatever the size of the table
(bench/ui_bench.py measures it against the chat throughput).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from tokenway.store.base import Bucket, SpendFilter, Store, UsageSlice, UsageTotal

OVERVIEW_TTL = 10.0  # seconds an overview is served again before it is computed anew
SETTLE = 20.0  # seconds after which rows are taken as written (spend is flushed each 1 s)
RESCAN = 600.0  # seconds the finished hours are kept before they are read anew
KEPT = 31 * 86_400.0  # how far back finished hours are kept (the longest range, and a day)
RANGES: dict[str, tuple[float, Bucket]] = {  # range → (its length, the series' bucket)
    "24h": (86_400.0, "hour"),
    "7d": (7 * 86_400.0, "day"),
    "30d": (30 * 86_400.0, "day"),
}
BUCKET_SECONDS: dict[Bucket, int] = {"hour": 3600, "day": 86_400}
TOP = 10  # entries in each ranking
_SCAN = 500  # records per store call when reading every key or team


class Overview:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._hourly = HourlyUsage(store)

    async def of(self, chosen: str) -> dict[str, Any]:
        """The overview of the range ``chosen`` (a key of ``RANGES``)."""
        fresh = self._fresh(chosen)
        if fresh is not None:
            return fresh
        async with self._locks.setdefault(chosen, asyncio.Lock()):
            fresh = self._fresh(chosen)  # computed while this call waited
            if fresh is None:
                now = self._clock()
                fresh = await self._compute(chosen, now)
                self._cache[chosen] = (now, fresh)
            return fresh

    def _fresh(self, chosen: str) -> dict[str, Any] | None:
        cached = self._cache.get(chosen)
        if cached is not None and self._clock() - cached[0] < OVERVIEW_TTL:
            return cached[1]
        return None

    async def _compute(self, chosen: str, now: float) -> dict[str, Any]:
        length, bucket = RANGES[chosen]
        start = bucket_start(now - length, bucket)
        slices = await self._hourly.since(start, now)
        series = merged(slices, lambda s: str(bucket_start(s.bucket, bucket)), timed=True)
        series.sort(key=lambda t: t.bucket or 0.0)
        by_key = top(merged(slices, lambda s: s.key_hash))
        names = await self._key_names([t.group for t in by_key if t.group])
        return {
            "range": chosen,
            "bucket": bucket,
            "start": start,
            "end": now,
            "as_of": now,
            "refresh_seconds": OVERVIEW_TTL,
            "series": [usage_json(t) for t in series],
            "totals": usage_json(total(series)),
            "by_model": [usage_json(t) for t in top(merged(slices, lambda s: s.model))],
            "by_key": [{**usage_json(t), "name": names.get(t.group or "")} for t in by_key],
            "by_team": [usage_json(t) for t in top(merged(slices, lambda s: s.team_id))],
            "budgets": await self._budgets(),
        }

    async def _key_names(self, hashes: list[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for key_hash in hashes:
            key = await self._store.get_key(key_hash)
            if key is not None:
                names[key_hash] = key.key_alias or key.key_name
        return names

    async def _budgets(self) -> list[dict[str, Any]]:
        """Keys and teams with a budget, the most used share first."""
        entries: list[dict[str, Any]] = []
        offset = 0
        while True:
            keys = await self._store.list_keys(offset=offset, limit=_SCAN)
            for key in keys:
                if key.limits.max_budget:
                    name = key.key_alias or key.key_name
                    entries.append(_burn("key", key.key_hash, name, key.limits))
            offset += len(keys)
            if len(keys) < _SCAN:
                break
        offset = 0
        while True:
            teams = await self._store.list_teams(offset=offset, limit=_SCAN)
            for team in teams:
                if team.limits.max_budget:
                    name = team.team_alias or team.team_id
                    entries.append(_burn("team", team.team_id, name, team.limits))
            offset += len(teams)
            if len(teams) < _SCAN:
                break
        entries.sort(key=lambda entry: entry["used"], reverse=True)
        return entries[:TOP]


class HourlyUsage:
    """Hourly slices of the spend rows: those of settled rows kept, the rest read."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._kept: dict[tuple[float, str, str | None, str | None], UsageSlice] = {}
        self._from: float | None = None  # the kept slices sum the rows of [_from, _until)
        self._until = 0.0
        self._read_at = 0.0  # when the kept slices were read from scratch

    async def since(self, start: float, now: float) -> list[UsageSlice]:
        """The slices of every hour from the one holding ``start`` up to ``now``."""
        first = bucket_start(start, "hour")
        settled = now - SETTLE
        stale = now - self._read_at >= RESCAN or settled < self._until
        if self._from is None or first < self._from or stale:
            oldest = first if self._from is None else min(first, self._from)
            self._from = max(oldest, bucket_start(now - KEPT, "hour"))
            self._kept = {}
            self._add(await self._read(self._from, settled))
            self._until, self._read_at = settled, now
        else:
            self._add(await self._read(self._until, settled))
            self._until = settled
        recent = await self._store.usage_slices(SpendFilter(start=self._until), "hour")
        return [s for s in self._kept.values() if s.bucket >= first] + recent

    def _add(self, slices: Iterable[UsageSlice]) -> None:
        for s in slices:
            key = (s.bucket, s.model, s.key_hash, s.team_id)
            kept = self._kept.get(key)
            self._kept[key] = s if kept is None else _plus(kept, s)

    async def _read(self, start: float, end: float) -> list[UsageSlice]:
        if end <= start:
            return []
        return await self._store.usage_slices(SpendFilter(start=start, end=end), "hour")


def _plus(a: UsageSlice, b: UsageSlice) -> UsageSlice:
    return UsageSlice(
        a.bucket,
        a.model,
        a.key_hash,
        a.team_id,
        a.requests + b.requests,
        a.prompt_tokens + b.prompt_tokens,
        a.completion_tokens + b.completion_tokens,
        a.cost + b.cost,
        a.errors + b.errors,
    )


def merged(
    slices: Iterable[UsageSlice], group: Callable[[UsageSlice], str | None], *, timed: bool = False
) -> list[UsageTotal]:
    """The slices summed per ``group``, in first-seen order (the slices come oldest first);
    ``timed``: the groups are buckets, and each total keeps its bucket's start."""
    sums: dict[str | None, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0])
    for s in slices:
        entry = sums[group(s)]
        entry[0] += s.requests
        entry[1] += s.prompt_tokens
        entry[2] += s.completion_tokens
        entry[3] += s.cost
        entry[4] += s.errors
    return [
        UsageTotal(float(g) if timed and g else None, None if timed else g, *_counts(e))
        for g, e in sums.items()
    ]


def _counts(e: list[float]) -> tuple[int, int, int, float, int]:
    return int(e[0]), int(e[1]), int(e[2]), e[3], int(e[4])


def top(totals: list[UsageTotal]) -> list[UsageTotal]:
    return sorted(totals, key=lambda t: (-t.cost, -t.requests))[:TOP]


def total(totals: list[UsageTotal]) -> UsageTotal:
    return UsageTotal(
        None,
        None,
        sum(t.requests for t in totals),
        sum(t.prompt_tokens for t in totals),
        sum(t.completion_tokens for t in totals),
        sum(t.cost for t in totals),
        sum(t.errors for t in totals),
    )


def usage_json(usage: UsageTotal) -> dict[str, Any]:
    return {
        "t": usage.bucket,
        "group": usage.group,
        "requests": usage.requests,
        "tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost": usage.cost,
        "errors": usage.errors,
        "error_rate": usage.errors / usage.requests if usage.requests else 0.0,
    }


def bucket_start(moment: float, bucket: Bucket) -> float:
    width = BUCKET_SECONDS[bucket]
    return float(int(moment // width) * width)


def _burn(kind: str, ident: str, name: str, limits: Any) -> dict[str, Any]:
    budget = float(limits.max_budget)
    return {
        "kind": kind,
        "id": ident,
        "name": name,
        "spend": limits.spend,
        "max_budget": budget,
        "used": limits.spend / budget,
    }
