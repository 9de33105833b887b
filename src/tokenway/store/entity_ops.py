"""The store operations on budgets, organizations and end users, for both dialects.

Written once over the three primitives of ``RecordOperations`` (``_fetch_one``,
``_fetch_all``, ``_execute``); the stores inherit them. Spend reaches organizations and
end users with the rest of a batch (``queries.spend_increments``); an end user's spend
restarts with its budget's window (``reset_end_user_budgets``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from tokenway.store import queries as q
from tokenway.store.base import SpendFilter
from tokenway.store.common import RecordOperations
from tokenway.store.durations import parse_duration
from tokenway.store.entities import (
    BUDGETS,
    END_USERS,
    ORGANIZATIONS,
    BudgetRecord,
    EndUserRecord,
    Entity,
    OrganizationRecord,
    entity_from_row,
    entity_to_row,
    entity_value,
)
from tokenway.store.rows import RowLike, Table, next_reset


class TeamKeyTotal(NamedTuple):
    """One (UTC day, team, key)'s spend: what a spend report breaks a team down into."""

    day: str
    team_id: str | None
    key_hash: str | None
    requests: int
    tokens: int
    cost: float


_DUE_END_USERS = (
    "SELECT e.user_id AS id, b.budget_duration AS budget_duration, "
    "e.budget_reset_at AS budget_reset_at FROM end_users e "
    "JOIN budgets b ON b.budget_id = e.budget_id "
    "WHERE e.budget_reset_at <= ? AND b.budget_duration IS NOT NULL ORDER BY e.user_id"
)
# Matching the old reset time makes a reset by another instance win, not count twice.
_RESET_END_USER = (
    "UPDATE end_users SET spend = (SELECT COALESCE(SUM(cost), 0) FROM spend_logs "
    "WHERE end_user = ? AND started_at >= ?), budget_reset_at = ?, updated_at = ? "
    "WHERE user_id = ? AND budget_reset_at = ?"
)


class EntityOperations(RecordOperations):
    # budgets
    async def create_budget(self, budget: BudgetRecord) -> None:
        await self._create_entity(BUDGETS, budget)

    async def get_budget(self, budget_id: str) -> BudgetRecord | None:
        found: BudgetRecord | None = await self._get_entity(BUDGETS, budget_id)
        return found

    async def update_budget(
        self, budget_id: str, changes: Mapping[str, Any]
    ) -> BudgetRecord | None:
        found: BudgetRecord | None = await self._update_entity(BUDGETS, budget_id, changes)
        return found

    async def delete_budgets(self, budget_ids: Sequence[str]) -> int:
        return await self._delete_entities(BUDGETS, budget_ids)

    async def list_budgets(self, *, offset: int = 0, limit: int = 100) -> list[BudgetRecord]:
        return await self._list_entities(BUDGETS, offset, limit)

    # organizations
    async def create_organization(self, org: OrganizationRecord) -> None:
        await self._create_entity(ORGANIZATIONS, org)

    async def get_organization(self, organization_id: str) -> OrganizationRecord | None:
        found: OrganizationRecord | None = await self._get_entity(ORGANIZATIONS, organization_id)
        return found

    async def update_organization(
        self, organization_id: str, changes: Mapping[str, Any]
    ) -> OrganizationRecord | None:
        found: OrganizationRecord | None = await self._update_entity(
            ORGANIZATIONS, organization_id, changes
        )
        return found

    async def delete_organizations(self, organization_ids: Sequence[str]) -> int:
        return await self._delete_entities(ORGANIZATIONS, organization_ids)

    async def list_organizations(
        self, *, offset: int = 0, limit: int = 100
    ) -> list[OrganizationRecord]:
        return await self._list_entities(ORGANIZATIONS, offset, limit)

    # end users
    async def create_end_user(self, end_user: EndUserRecord) -> None:
        await self._create_entity(END_USERS, end_user)

    async def get_end_user(self, user_id: str) -> EndUserRecord | None:
        found: EndUserRecord | None = await self._get_entity(END_USERS, user_id)
        return found

    async def update_end_user(
        self, user_id: str, changes: Mapping[str, Any]
    ) -> EndUserRecord | None:
        found: EndUserRecord | None = await self._update_entity(END_USERS, user_id, changes)
        return found

    async def delete_end_users(self, user_ids: Sequence[str]) -> int:
        return await self._delete_entities(END_USERS, user_ids)

    async def list_end_users(self, *, offset: int = 0, limit: int = 100) -> list[EndUserRecord]:
        return await self._list_entities(END_USERS, offset, limit)

    async def reset_end_user_budgets(self, now: float) -> int:
        """Start the next window of every end user whose budget has a duration and whose
        ``budget_reset_at`` <= now (as ``reset_budgets`` does for keys)."""
        due = await self._fetch_all(_DUE_END_USERS, (now,), _as_dict)
        count = 0
        for row in due:
            following = next_reset(row["budget_reset_at"], row["budget_duration"], now)
            start = None
            if following is not None:
                start = following - parse_duration(row["budget_duration"])
            args = (row["id"], start, following, now, row["id"], row["budget_reset_at"])
            count += await self._execute(_RESET_END_USER, args)
        return count

    # spend
    async def spend_by_team_and_key(self, where: SpendFilter) -> list[TeamKeyTotal]:
        """Per (UTC day, team, key): requests, tokens and cost; oldest day first."""
        clause, args = q.spend_where(where)
        sql = (
            f"SELECT {self._day} AS day, team_id, key_hash, COUNT(*) AS requests, "
            "COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens, "
            f"COALESCE(SUM(cost), 0) AS cost FROM spend_logs{clause} GROUP BY 1, 2, 3"
        )
        found = await self._fetch_all(sql, args, _team_key_total)
        return sorted(found, key=lambda t: (t.day, t.team_id or "", t.key_hash or ""))

    # plumbing
    async def _create_entity(self, table: Table, record: Entity) -> None:
        await self._execute(q.insert(table), entity_to_row(table, record, time.time()))

    async def _get_entity(self, table: Table, record_id: str) -> Any:
        return await self._fetch_one(
            q.select_one(table), (record_id,), lambda row: entity_from_row(table, row)
        )

    async def _update_entity(self, table: Table, record_id: str, changes: Mapping[str, Any]) -> Any:
        settable = table.settable
        unknown = sorted(set(changes) - settable)
        if unknown:
            raise ValueError(f"unknown {table.noun} field(s): {', '.join(unknown)}")
        columns = {name: entity_value(name, value) for name, value in changes.items()}
        if not columns:
            return await self._get_entity(table, record_id)
        columns["updated_at"] = time.time()
        sql, args = q.update(table, columns, record_id)
        return await self._fetch_one(sql, args, lambda row: entity_from_row(table, row))

    async def _delete_entities(self, table: Table, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return await self._execute(*q.delete(table, ids))

    async def _list_entities(self, table: Table, offset: int, limit: int) -> list[Any]:
        q.check_page(offset, limit)
        sql, args = q.list_records(table, {}, offset, limit)
        return await self._fetch_all(sql, args, lambda row: entity_from_row(table, row))


def _as_dict(row: RowLike) -> dict[str, Any]:
    return {name: row[name] for name in ("id", "budget_duration", "budget_reset_at")}


def _team_key_total(row: RowLike) -> TeamKeyTotal:
    # PostgreSQL sums BIGINT columns as NUMERIC, hence the int()/float() here.
    return TeamKeyTotal(
        row["day"],
        row["team_id"],
        row["key_hash"],
        int(row["requests"]),
        int(row["tokens"]),
        float(row["cost"]),
    )
