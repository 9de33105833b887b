"""Usage over time for the admin UI's overview: requests, tokens, spend and errors per time
bucket and group, aggregated by the database (one GROUP BY, never rows in Python).

A bucket is ``started_at`` rounded down to a multiple of its width (an hour or a day,
UTC), written once per dialect in ``UsageOperations._bucket``; widths come from
``BUCKETS`` only, so they are inlined in the SQL, never taken from a caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tokenway.store.base import Bucket, GroupBy, SpendFilter, UsageSlice, UsageTotal
from tokenway.store.queries import GROUP_COLUMNS, spend_where
from tokenway.store.rows import RowLike

BUCKETS: dict[Bucket, int] = {"hour": 3600, "day": 86_400}
T = TypeVar("T")

# A request counts as an error when the client got an error status, or a stream that
# started (200) was cut short by one.
_ERROR = "CASE WHEN status >= 400 OR error_code IS NOT NULL THEN 1 ELSE 0 END"

_SUMS = (
    "COUNT(*) AS requests, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, "
    "COALESCE(SUM(completion_tokens), 0) AS completion_tokens, "
    f"COALESCE(SUM(cost), 0) AS cost, COALESCE(SUM({_ERROR}), 0) AS errors"
)


def usage_query(
    bucket_sql: str | None, group_by: GroupBy | None, where: SpendFilter
) -> tuple[str, list[Any]]:
    """``bucket_sql``: the dialect's bucket of ``started_at`` (None: the whole range)."""
    if group_by is not None and group_by not in GROUP_COLUMNS:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_COLUMNS)}, not {group_by!r}")
    clause, args = spend_where(where)
    bucket = bucket_sql or "NULL"
    group = GROUP_COLUMNS[group_by] if group_by is not None else "NULL"
    sql = (
        f"SELECT {bucket} AS bucket, {group} AS grp, {_SUMS} "
        f"FROM spend_logs{clause} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return sql, args


def slices_query(bucket_sql: str, where: SpendFilter) -> tuple[str, list[Any]]:
    clause, args = spend_where(where)
    sql = (
        f"SELECT {bucket_sql} AS bucket, model_alias, key_hash, team_id, {_SUMS} "
        f"FROM spend_logs{clause} GROUP BY 1, 2, 3, 4 ORDER BY 1"
    )
    return sql, args


def slice_from_row(row: RowLike) -> UsageSlice:
    return UsageSlice(
        bucket=float(row["bucket"]),
        model=row["model_alias"],
        key_hash=row["key_hash"],
        team_id=row["team_id"],
        requests=int(row["requests"]),
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        cost=float(row["cost"]),
        errors=int(row["errors"]),
    )


def usage_from_row(row: RowLike) -> UsageTotal:
    # PostgreSQL sums BIGINT columns as NUMERIC, hence the int()/float().
    bucket = row["bucket"]
    return UsageTotal(
        bucket=float(bucket) if bucket is not None else None,
        group=row["grp"],
        requests=int(row["requests"]),
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        cost=float(row["cost"]),
        errors=int(row["errors"]),
    )


class UsageOperations:
    """Mixed into both stores; ``_bucket`` is the dialect's SQL with ``{width}``."""

    _bucket: str

    async def _fetch_all(
        self, sql: str, args: Sequence[Any], make: Callable[[RowLike], T]
    ) -> list[T]:
        raise NotImplementedError

    async def usage_totals(
        self, where: SpendFilter, *, group_by: GroupBy | None = None, bucket: Bucket | None = None
    ) -> list[UsageTotal]:
        """Totals per bucket (oldest first) and group, over the rows ``where`` selects."""
        bucket_sql = None
        if bucket is not None:
            bucket_sql = self._bucket.format(width=BUCKETS[bucket])
        sql, args = usage_query(bucket_sql, group_by, where)
        return await self._fetch_all(sql, args, usage_from_row)

    async def usage_slices(self, where: SpendFilter, bucket: Bucket) -> list[UsageSlice]:
        """Usage per (bucket, model, key, team), oldest bucket first, in one scan."""
        sql, args = slices_query(self._bucket.format(width=BUCKETS[bucket]), where)
        return await self._fetch_all(sql, args, slice_from_row)
