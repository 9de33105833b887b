"""The operations both dialects share, written once over three primitives.

Each store implements ``_fetch_one``, ``_fetch_all`` and ``_execute`` (``?`` parameters)
in its own dialect and names its SQL for a spend row's UTC day in ``_day``; the
key/user/team methods of ``Store`` and the spend queries are the same calls for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from tokenway.store import queries as q
from tokenway.store.base import (
    GroupBy,
    KeyRecord,
    SpendFilter,
    SpendRow,
    SpendTotal,
    TeamRecord,
    UserRecord,
)
from tokenway.store.rows import (
    KEYS,
    TEAMS,
    USERS,
    Record,
    RowLike,
    Table,
    changes_to_columns,
    key_from_row,
    record_to_row,
    spend_from_row,
    team_from_row,
    total_from_row,
    user_from_row,
)
from tokenway.store.usage import UsageOperations

R = TypeVar("R", KeyRecord, UserRecord, TeamRecord)
T = TypeVar("T")


class RecordOperations(UsageOperations):
    _day: str  # SQL for the UTC day (YYYY-MM-DD) of a spend row's started_at

    async def _fetch_one(
        self, sql: str, args: Sequence[Any], make: Callable[[RowLike], T]
    ) -> T | None:
        """``make`` of the first row ``sql`` returns, ``None`` if none."""
        raise NotImplementedError

    async def _fetch_all(
        self, sql: str, args: Sequence[Any], make: Callable[[RowLike], T]
    ) -> list[T]:
        raise NotImplementedError

    async def _execute(self, sql: str, args: Sequence[Any]) -> int:
        """Run ``sql``; return how many rows it changed."""
        raise NotImplementedError

    # records
    async def _create(self, table: Table, record: Record) -> None:
        await self._execute(q.insert(table), record_to_row(table, record, time.time()))

    async def _get(self, table: Table, record_id: str, make: Callable[[RowLike], R]) -> R | None:
        return await self._fetch_one(q.select_one(table), (record_id,), make)

    async def _update(
        self, table: Table, record_id: str, changes: Mapping[str, Any], make: Callable[[RowLike], R]
    ) -> R | None:
        columns = changes_to_columns(table, changes, time.time())
        if not columns:
            return await self._get(table, record_id, make)
        return await self._fetch_one(*q.update(table, columns, record_id), make)

    async def _delete(self, table: Table, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return await self._execute(*q.delete(table, ids))

    async def _list(
        self,
        table: Table,
        equals: dict[str, str | None],
        offset: int,
        limit: int,
        make: Callable[[RowLike], R],
    ) -> list[R]:
        q.check_page(offset, limit)
        return await self._fetch_all(*q.list_records(table, equals, offset, limit), make)

    # keys
    async def create_key(self, key: KeyRecord) -> None:
        await self._create(KEYS, key)

    async def get_key(self, key_hash: str) -> KeyRecord | None:
        return await self._get(KEYS, key_hash, key_from_row)

    async def update_key(self, key_hash: str, changes: Mapping[str, Any]) -> KeyRecord | None:
        return await self._update(KEYS, key_hash, changes, key_from_row)

    async def delete_keys(self, key_hashes: Sequence[str]) -> int:
        return await self._delete(KEYS, key_hashes)

    async def rehash_key(self, old_hash: str, new_hash: str, key_name: str) -> KeyRecord | None:
        args = (new_hash, key_name, time.time(), old_hash)
        return await self._fetch_one(q.REHASH, args, key_from_row)

    async def list_keys(
        self,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[KeyRecord]:
        equals = {"user_id": user_id, "team_id": team_id}
        return await self._list(KEYS, equals, offset, limit, key_from_row)

    # users
    async def create_user(self, user: UserRecord) -> None:
        await self._create(USERS, user)

    async def get_user(self, user_id: str) -> UserRecord | None:
        return await self._get(USERS, user_id, user_from_row)

    async def update_user(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord | None:
        return await self._update(USERS, user_id, changes, user_from_row)

    async def delete_users(self, user_ids: Sequence[str]) -> int:
        return await self._delete(USERS, user_ids)

    async def list_users(self, *, offset: int = 0, limit: int = 100) -> list[UserRecord]:
        return await self._list(USERS, {}, offset, limit, user_from_row)

    # teams
    async def create_team(self, team: TeamRecord) -> None:
        await self._create(TEAMS, team)

    async def get_team(self, team_id: str) -> TeamRecord | None:
        return await self._get(TEAMS, team_id, team_from_row)

    async def update_team(self, team_id: str, changes: Mapping[str, Any]) -> TeamRecord | None:
        return await self._update(TEAMS, team_id, changes, team_from_row)

    async def delete_teams(self, team_ids: Sequence[str]) -> int:
        return await self._delete(TEAMS, team_ids)

    async def list_teams(self, *, offset: int = 0, limit: int = 100) -> list[TeamRecord]:
        return await self._list(TEAMS, {}, offset, limit, team_from_row)

    # spend
    async def spend_logs(
        self, where: SpendFilter, *, offset: int = 0, limit: int = 100
    ) -> list[SpendRow]:
        q.check_page(offset, limit)
        return await self._fetch_all(*q.spend_logs(where, offset, limit), spend_from_row)

    async def spend_totals(self, group_by: GroupBy, where: SpendFilter) -> list[SpendTotal]:
        sql, args = q.spend_totals(group_by, where, self._day)
        return q.sort_totals(await self._fetch_all(sql, args, total_from_row))
