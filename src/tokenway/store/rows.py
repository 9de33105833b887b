"""Records <-> table rows, shared by both dialects so they store exactly the same thing.

A row is a tuple in the column order below; rows read back are anything indexable by
column name (``sqlite3.Row``, ``asyncpg.Record``). Lists and dicts travel as JSON text,
flags as booleans, times as epoch seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

import orjson

from tokenway.store.base import (
    ConflictError,
    KeyRecord,
    Limits,
    SpendRow,
    SpendTotal,
    TeamRecord,
    UserRecord,
)
from tokenway.store.durations import parse_duration

Record = KeyRecord | UserRecord | TeamRecord


class RowLike(Protocol):
    def __getitem__(self, name: str, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class Table:
    """One principal table: its name, identity column and the columns a caller may set."""

    name: str
    id_column: str
    columns: tuple[str, ...]  # every column, in row order
    noun: str  # "key", "user", "team": for messages

    @property
    def settable(self) -> frozenset[str]:
        return frozenset(self.columns) - {self.id_column, "created_at", "updated_at"}


LIMIT_COLUMNS = tuple(f.name for f in fields(Limits))
_STAMPS = ("metadata", "created_at", "updated_at", "extra")
KEYS = Table(
    "keys",
    "key_hash",
    (
        *("key_hash", "key_name", "key_alias", "user_id", "team_id", "models"),
        *(*LIMIT_COLUMNS, "expires_at", "blocked", *_STAMPS),
    ),
    "key",
)
USERS = Table(
    "users",
    "user_id",
    ("user_id", "user_email", "user_role", "team_id", "models", *LIMIT_COLUMNS, *_STAMPS),
    "user",
)
TEAMS = Table(
    "teams",
    "team_id",
    (
        *("team_id", "team_alias", "models", *LIMIT_COLUMNS, "blocked", *_STAMPS),
        *("members_with_roles", "organization_id"),
    ),
    "team",
)
SPEND_COLUMNS: tuple[str, ...] = SpendRow._fields
_INTS = frozenset({"rpm_limit", "tpm_limit", "max_parallel_requests"})
_FLOATS = frozenset({"max_budget", "budget_reset_at", "spend", "expires_at"})
_EMPTY: dict[str, Any] = {"models": [], "metadata": {}, "extra": {}, "members_with_roles": []}
_JSON_COLUMNS = frozenset(_EMPTY)


def record_to_row(table: Table, record: Record, now: float) -> tuple[Any, ...]:
    """The row to insert; a record's missing timestamps become ``now``."""
    values = {**_flatten(record), **_defaults(record, now)}
    return tuple(column_value(name, values[name]) for name in table.columns)


def key_from_row(row: RowLike) -> KeyRecord:
    return KeyRecord(
        key_hash=row["key_hash"],
        key_name=row["key_name"],
        key_alias=row["key_alias"],
        user_id=row["user_id"],
        team_id=row["team_id"],
        models=_json(row["models"]),
        limits=_limits(row),
        expires_at=_real(row["expires_at"]),
        blocked=bool(row["blocked"]),
        metadata=_json(row["metadata"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        extra=_json(row["extra"]),
    )


def user_from_row(row: RowLike) -> UserRecord:
    return UserRecord(
        user_id=row["user_id"],
        user_email=row["user_email"],
        user_role=row["user_role"],
        team_id=row["team_id"],
        models=_json(row["models"]),
        limits=_limits(row),
        metadata=_json(row["metadata"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        extra=_json(row["extra"]),
    )


def team_from_row(row: RowLike) -> TeamRecord:
    return TeamRecord(
        team_id=row["team_id"],
        team_alias=row["team_alias"],
        models=_json(row["models"]),
        limits=_limits(row),
        blocked=bool(row["blocked"]),
        metadata=_json(row["metadata"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        extra=_json(row["extra"]),
        members_with_roles=_json(row["members_with_roles"]),
        organization_id=row["organization_id"],
    )


def conflict(table_name: str, column: str) -> ConflictError:
    """The error for a unique violation on ``table_name.column``."""
    noun = {t.name: t.noun for t in (KEYS, USERS, TEAMS)}.get(table_name, "record")
    return ConflictError(column, f"another {noun} already has this {column}; choose another")


def changes_to_columns(table: Table, changes: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Column values for an update; ``limits`` may be given whole or field by field."""
    flat: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "limits":
            if not isinstance(value, Limits):
                raise ValueError(f"limits must be a Limits object, got {type(value).__name__}")
            flat.update({column: getattr(value, column) for column in LIMIT_COLUMNS})
        elif name in table.settable:
            flat[name] = value
        else:
            raise ValueError(_unknown_field(table, name))
    columns = {name: column_value(name, value) for name, value in flat.items()}
    if columns:
        columns["updated_at"] = now
    return columns


def column_value(name: str, value: Any) -> Any:
    """A field's value as stored, checked so both dialects accept (or refuse) the same."""
    if name in _JSON_COLUMNS:
        return orjson.dumps(value if value is not None else _EMPTY[name]).decode()
    if name in ("blocked", "stream"):
        return bool(value)
    if value is None:
        return None
    if name == "budget_duration":
        parse_duration(value)  # refuse what reset_budgets could never apply
        return value
    if name in _INTS:
        return _number(name, value, whole=True)
    if name in _FLOATS:
        return _number(name, value, whole=False)
    return value


def spend_to_row(row: SpendRow) -> tuple[Any, ...]:
    """A spend row is its table row already; only its flags must be real booleans."""
    stream, estimated = row.stream, row.usage_estimated
    if (stream is True or stream is False) and (estimated is True or estimated is False):
        return row
    return row._replace(stream=bool(stream), usage_estimated=bool(estimated))


def spend_from_row(row: RowLike) -> SpendRow:
    values = {name: row[name] for name in SPEND_COLUMNS}
    values["stream"] = bool(values["stream"])
    values["usage_estimated"] = bool(values["usage_estimated"])
    for name in ("cost", "latency_ms", "started_at"):
        values[name] = _real(values[name])
    return SpendRow(**values)


def total_from_row(row: RowLike) -> SpendTotal:
    # PostgreSQL sums BIGINT columns as NUMERIC, hence the int()/float() here.
    return SpendTotal(
        day=row["day"],
        group=row["grp"],
        requests=int(row["requests"]),
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        cost=float(row["cost"]),
    )


def next_reset(reset_at: float, duration: str | None, now: float) -> float | None:
    """The first ``reset_at + n * duration`` after ``now`` (``None``: no window, stop)."""
    try:
        seconds = parse_duration(duration) if duration else None
    except ValueError:
        seconds = None
    if seconds is None:
        return None
    return reset_at + seconds * (math.floor((now - reset_at) / seconds) + 1)


def _flatten(record: Record) -> dict[str, Any]:
    values = {f.name: getattr(record, f.name) for f in fields(record) if f.name != "limits"}
    values.update({name: getattr(record.limits, name) for name in LIMIT_COLUMNS})
    return values


def _defaults(record: Record, now: float) -> dict[str, float]:
    created = record.created_at or now
    return {"created_at": created, "updated_at": record.updated_at or created}


def _limits(row: RowLike) -> Limits:
    values = {name: row[name] for name in LIMIT_COLUMNS}
    for name in _FLOATS & values.keys():
        values[name] = _real(values[name])
    return Limits(**values)


def _real(value: float | None) -> float | None:
    # SQLite's RETURNING hands back whole REAL values as ints; records hold floats.
    return None if value is None else float(value)


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def _number(name: str, value: Any, *, whole: bool) -> float | int:
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if whole and not float(value).is_integer():
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value) if whole else float(value)


def _unknown_field(table: Table, name: str) -> str:
    if name == table.id_column:
        hint = " (use rehash_key to change a key's hash)" if table is KEYS else ""
        return f"{name} identifies the {table.noun} and cannot be updated{hint}"
    allowed = ", ".join(sorted(table.settable | {"limits"}))
    return f"unknown {table.noun} field {name!r}: expected one of {allowed}"
