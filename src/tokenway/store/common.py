"""The record operations both dialects share, written once over five primitives.

Each store implements ``_create``, ``_get``, ``_update``, ``_delete`` and ``_list`` in its
own dialect; the public key/user/team methods of ``Store`` are the same calls for both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from tokenway.store.base import KeyRecord, TeamRecord, UserRecord
from tokenway.store.rows import (
    KEYS,
    TEAMS,
    USERS,
    Record,
    RowLike,
    Table,
    key_from_row,
    team_from_row,
    user_from_row,
)

R = TypeVar("R", KeyRecord, UserRecord, TeamRecord)


class RecordOperations:
    async def _create(self, table: Table, record: Record) -> None:
        raise NotImplementedError

    async def _get(self, table: Table, record_id: str, make: Callable[[RowLike], R]) -> R | None:
        raise NotImplementedError

    async def _update(
        self, table: Table, record_id: str, changes: Mapping[str, Any], make: Callable[[RowLike], R]
    ) -> R | None:
        raise NotImplementedError

    async def _delete(self, table: Table, ids: Sequence[str]) -> int:
        raise NotImplementedError

    async def _list(
        self,
        table: Table,
        equals: dict[str, str | None],
        offset: int,
        limit: int,
        make: Callable[[RowLike], R],
    ) -> list[R]:
        raise NotImplementedError

    # keys
    async def create_key(self, key: KeyRecord) -> None:
        await self._create(KEYS, key)

    async def get_key(self, key_hash: str) -> KeyRecord | None:
        return await self._get(KEYS, key_hash, key_from_row)

    async def update_key(self, key_hash: str, changes: Mapping[str, Any]) -> KeyRecord | None:
        return await self._update(KEYS, key_hash, changes, key_from_row)

    async def delete_keys(self, key_hashes: Sequence[str]) -> int:
        return await self._delete(KEYS, key_hashes)

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
