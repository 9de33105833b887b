"""The SQL both dialects run, written once with ``?`` parameters.

SQLite takes it as is; the PostgreSQL store renumbers the parameters (``$1``, ``$2``...).
Only what truly differs (the day of a timestamp, the bulk spend insert) lives in a
dialect module. Identifiers come from the tables in ``rows``, never from callers.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from tokenway.store.base import GroupBy, SpendFilter, SpendRow, SpendTotal
from tokenway.store.durations import parse_duration
from tokenway.store.entities import END_USERS, ORGANIZATIONS
from tokenway.store.rows import KEYS, SPEND_COLUMNS, TEAMS, USERS, RowLike, Table, next_reset

Query = tuple[str, list[Any]]

GROUP_COLUMNS: dict[GroupBy, str] = {
    "key": "key_hash",
    "user": "user_id",
    "team": "team_id",
    "model": "model_alias",
}
PRINCIPALS = (KEYS, USERS, TEAMS)


def insert(table: Table) -> str:
    marks = ", ".join("?" for _ in table.columns)
    return f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})"


def select_one(table: Table) -> str:
    return f"SELECT * FROM {table.name} WHERE {table.id_column} = ?"


def update(table: Table, columns: dict[str, Any], record_id: str) -> Query:
    sets = ", ".join(f"{name} = ?" for name in columns)
    sql = f"UPDATE {table.name} SET {sets} WHERE {table.id_column} = ? RETURNING *"
    return sql, [*columns.values(), record_id]


REHASH = "UPDATE keys SET key_hash = ?, key_name = ?, updated_at = ? WHERE key_hash = ? RETURNING *"


def delete(table: Table, ids: Sequence[str]) -> Query:
    marks = ", ".join("?" for _ in ids)
    return f"DELETE FROM {table.name} WHERE {table.id_column} IN ({marks})", list(ids)


def list_records(table: Table, equals: dict[str, str | None], offset: int, limit: int) -> Query:
    """Records in creation order (stable pages), filtered by the non-``None`` columns."""
    conditions = [(name, value) for name, value in equals.items() if value is not None]
    where = " AND ".join(f"{name} = ?" for name, _ in conditions)
    sql = f"SELECT * FROM {table.name}" + (f" WHERE {where}" if where else "")
    sql += f" ORDER BY created_at, {table.id_column} LIMIT ? OFFSET ?"
    return sql, [value for _, value in conditions] + [limit, offset]


def check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 0:
        raise ValueError(f"offset and limit must not be negative (got {offset}, {limit})")


@functools.lru_cache(maxsize=64)  # bounded: a long statement for each row count seen
def insert_spend_rows(count: int) -> str:
    """One INSERT of ``count`` rows; those already stored (same request id) are skipped."""
    row = f"({', '.join('?' for _ in SPEND_COLUMNS)})"
    rows = ", ".join([row] * count)
    return f"INSERT INTO spend_logs ({', '.join(SPEND_COLUMNS)}) VALUES {rows} {_SKIP_STORED}"


_SKIP_STORED = "ON CONFLICT (request_id) DO NOTHING"
# SQLite only: a new row's rowid is one more than the largest (until 2**63 - 1).
LAST_SPEND_ROWID = "SELECT COALESCE(MAX(rowid), 0) FROM spend_logs"
SPEND_IDS_AFTER_ROWID = "SELECT request_id FROM spend_logs WHERE rowid > ?"


def add_to_spend(table: Table) -> str:
    return f"UPDATE {table.name} SET spend = spend + ? WHERE {table.id_column} = ?"


def spend_increments(rows: Iterable[SpendRow]) -> list[tuple[Table, list[tuple[float, str]]]]:
    """(amount, id) per principal table for newly stored rows, ids sorted so concurrent
    transactions lock rows in one order and cannot deadlock."""
    keys: dict[str, float] = defaultdict(float)
    users: dict[str, float] = defaultdict(float)
    teams: dict[str, float] = defaultdict(float)
    orgs: dict[str, float] = defaultdict(float)
    end_users: dict[str, float] = defaultdict(float)
    for row in rows:  # one pass, no per-row tuples: this runs for every spend row
        cost = row.cost
        if not cost:
            continue
        if row.key_hash is not None:
            keys[row.key_hash] += cost
        if row.user_id is not None:
            users[row.user_id] += cost
        if row.team_id is not None:
            teams[row.team_id] += cost
        if row.organization_id is not None:
            orgs[row.organization_id] += cost
        if row.end_user is not None:  # counted for end users that have a record
            end_users[row.end_user] += cost
    owners = ((KEYS, keys), (USERS, users), (TEAMS, teams), (ORGANIZATIONS, orgs))
    return [
        (table, [(amount, owner) for owner, amount in sorted(by_owner.items())])
        for table, by_owner in (*owners, (END_USERS, end_users))
        if by_owner
    ]


def spend_where(where: SpendFilter) -> Query:
    conditions: list[str] = []
    args: list[Any] = []
    for column in ("key_hash", "user_id", "team_id", "model_alias"):
        value = getattr(where, column)
        if value is not None:
            conditions.append(f"{column} = ?")
            args.append(value)
    if where.request_id is not None:  # the proxy's id, or the answer's (LiteLLM's)
        conditions.append("(request_id = ? OR response_id = ?)")
        args += (where.request_id, where.request_id)
    if where.failed is not None:
        conditions.append(("NOT " if not where.failed else "") + _FAILED)
    if where.start is not None:
        conditions.append("started_at >= ?")
        args.append(float(where.start))
    if where.end is not None:
        conditions.append("started_at < ?")
        args.append(float(where.end))
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), args


# A request failed when the client got an error status, or a stream that had started (200)
# was cut short by an error.
_FAILED = "(status >= 400 OR error_code IS NOT NULL)"


def spend_logs(where: SpendFilter, offset: int, limit: int) -> Query:
    clause, args = spend_where(where)
    sql = f"SELECT * FROM spend_logs{clause} ORDER BY started_at DESC, request_id DESC"
    return sql + " LIMIT ? OFFSET ?", [*args, limit, offset]


def spend_totals(group_by: GroupBy, where: SpendFilter, day_of_started_at: str) -> Query:
    """Totals per (UTC day, group); ``day_of_started_at`` is the dialect's YYYY-MM-DD."""
    if group_by not in GROUP_COLUMNS:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_COLUMNS)}, not {group_by!r}")
    clause, args = spend_where(where)
    sql = (
        f"SELECT {day_of_started_at} AS day, {GROUP_COLUMNS[group_by]} AS grp, "
        "COUNT(*) AS requests, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, "
        "COALESCE(SUM(completion_tokens), 0) AS completion_tokens, "
        f"COALESCE(SUM(cost), 0) AS cost FROM spend_logs{clause} GROUP BY 1, 2"
    )
    return sql, args


def sort_totals(totals: Iterable[SpendTotal]) -> list[SpendTotal]:
    """Oldest day first, then by group with the ``None`` group last in both dialects."""
    return sorted(totals, key=lambda t: (t.day, t.group is None, t.group or ""))


def due_for_reset(table: Table) -> str:
    # In id order, like spend_increments: writers lock rows in one order, never a cycle.
    return (
        f"SELECT {table.id_column} AS id, budget_duration, budget_reset_at "
        f"FROM {table.name} WHERE budget_reset_at <= ? ORDER BY {table.id_column}"
    )


def reset_spend(table: Table) -> str:
    """Start the next window: its spend is what rows already stored in it cost (rows
    flushed after the window began, before this sweep; usually none)."""
    # Matching the old reset time makes a reset by another instance win, not count twice.
    owner = table.id_column  # spend_logs names its owner columns as the tables do
    return (
        f"UPDATE {table.name} SET spend = (SELECT COALESCE(SUM(cost), 0) FROM spend_logs "
        f"WHERE {owner} = ? AND started_at >= ?), budget_reset_at = ?, updated_at = ? "
        f"WHERE {table.id_column} = ? AND budget_reset_at = ?"
    )


def reset_args(due: Iterable[RowLike], now: float) -> list[tuple[Any, ...]]:
    """Arguments for ``reset_spend``, one tuple per record that is due."""
    args: list[tuple[Any, ...]] = []
    for row in due:
        following = next_reset(row["budget_reset_at"], row["budget_duration"], now)
        # No next window: spend restarts at 0 (started_at >= NULL matches no row).
        start: float | None = None
        if following is not None:
            start = following - parse_duration(row["budget_duration"])
        args.append((row["id"], start, following, now, row["id"], row["budget_reset_at"]))
    return args
