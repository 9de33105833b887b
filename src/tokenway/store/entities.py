"""Budgets, organizations and end users: LiteLLM's shared budget objects and the records
that point at them, with their rows (both dialects store exactly the same thing).

A budget holds limits only (``max_budget``, rpm/tpm/parallel, ``budget_duration``);
organizations and end users name one by ``budget_id`` and carry their own ``spend``.
An end user is whoever a request names in its ``user`` field; its ``budget_reset_at`` is
when its spend next returns to 0 (its budget's ``budget_duration``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from tokenway.store.rows import RowLike, Table, column_value


@dataclass(slots=True)
class BudgetRecord:
    budget_id: str
    max_budget: float | None = None
    soft_budget: float | None = None
    budget_duration: str | None = None
    budget_reset_at: float | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # LiteLLM fields kept as given
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(slots=True)
class OrganizationRecord:
    organization_id: str
    organization_alias: str | None = None
    budget_id: str | None = None
    models: list[str] = field(default_factory=list)
    spend: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)
    # LiteLLM's memberships: {"user_id", "user_role", "created_at", "updated_at"}
    members: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(slots=True)
class EndUserRecord:
    user_id: str
    alias: str | None = None
    budget_id: str | None = None
    spend: float = 0.0
    budget_reset_at: float | None = None
    blocked: bool = False
    allowed_model_region: str | None = None
    default_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0


Entity = BudgetRecord | OrganizationRecord | EndUserRecord


def _table(name: str, record: type, noun: str) -> Table:
    columns = tuple(f.name for f in fields(record))
    return Table(name, columns[0], columns, noun)


BUDGETS = _table("budgets", BudgetRecord, "budget")
ORGANIZATIONS = _table("organizations", OrganizationRecord, "organization")
END_USERS = _table("end_users", EndUserRecord, "end user")
_JSON = frozenset({"models", "metadata", "members", "extra"})
_WHOLE = frozenset({"rpm_limit", "tpm_limit", "max_parallel_requests"})
_REAL = frozenset({"max_budget", "soft_budget", "budget_reset_at", "spend"})


def entity_to_row(table: Table, record: Entity, now: float) -> tuple[Any, ...]:
    """The row to insert; a record's missing timestamps become ``now``."""
    values = {name: getattr(record, name) for name in table.columns}
    values["created_at"] = created = record.created_at or now
    values["updated_at"] = record.updated_at or created
    return tuple(entity_value(name, values[name]) for name in table.columns)


def entity_value(name: str, value: Any) -> Any:
    """A field as stored: JSON as text, the rest checked as the key tables' are."""
    if name in _JSON:
        return orjson.dumps(value if value is not None else ({} if name in _DICTS else [])).decode()
    return column_value(name, value)


_DICTS = frozenset({"metadata", "extra"})


def entity_from_row(table: Table, row: RowLike) -> Any:
    """The record of ``table`` that ``row`` holds."""
    make = _RECORDS[table.name]
    values: dict[str, Any] = {}
    for name in table.columns:
        value = row[name]
        if name in _JSON:
            value = orjson.loads(value) if value else None
        elif name in _REAL or name in ("created_at", "updated_at"):
            value = None if value is None else float(value)
        elif name == "blocked":
            value = bool(value)
        values[name] = value
    return make(**values)


_RECORDS: dict[str, type] = {
    "budgets": BudgetRecord,
    "organizations": OrganizationRecord,
    "end_users": EndUserRecord,
}
