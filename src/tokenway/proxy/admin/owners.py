"""What ``/user/*`` and ``/team/*`` share: users and teams both own keys and cap them.

So changing one drops its keys from the auth cache, deleting some deletes their keys
first, and an unknown one is a 404 that says where to list them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tokenway.errors import NotFoundError
from tokenway.proxy.admin.context import AdminContext, store_changes
from tokenway.proxy.admin.litellm_fields import merge_extra
from tokenway.store.base import TeamRecord, UserRecord

R = TypeVar("R", UserRecord, TeamRecord)


@dataclass(frozen=True, slots=True)
class Owners(Generic[R]):
    """One kind of key owner: ``kind`` ("user" or "team") names its id field, its list
    route and its error code; the callables are the store's for that kind."""

    ctx: AdminContext
    kind: str
    get: Callable[[str], Awaitable[R | None]]
    update: Callable[[str, Mapping[str, Any]], Awaitable[R | None]]
    key_hashes: Callable[[list[str]], Awaitable[list[str]]]

    async def find(self, owner_id: str) -> R:
        found = await self.get(owner_id)
        if found is None:
            raise self.not_found([owner_id])
        return found

    async def change(self, owner_id: str, values: dict[str, Any]) -> R:
        """Store validated ``values`` (none: just read it) and drop its keys from the
        auth cache, since its limits apply to every request they make."""
        changes = await merge_extra(
            store_changes(values, self.ctx.now()), lambda: self.get(owner_id)
        )
        updated = await (self.update(owner_id, changes) if changes else self.get(owner_id))
        if updated is None:
            raise self.not_found([owner_id])
        self.ctx.keys_changed(await self.key_hashes([owner_id]))
        return updated

    async def delete_keys_of(self, owner_ids: list[str]) -> tuple[list[str], list[str]]:
        """(the ids once each, the hashes of their keys, now deleted); 404 and nothing
        deleted if any id is unknown. Deleting the owners themselves is left to the caller."""
        unique = list(dict.fromkeys(owner_ids))
        missing = [owner_id for owner_id in unique if await self.get(owner_id) is None]
        if missing:
            raise self.not_found(missing)
        hashes = await self.key_hashes(unique)
        await self.ctx.delete_keys(hashes)
        return unique, hashes

    def not_found(self, owner_ids: list[str]) -> NotFoundError:
        return NotFoundError(
            f"no such {self.kind}: {', '.join(owner_ids)}; "
            f"list {self.kind}s with GET /{self.kind}/list",
            param=f"{self.kind}_id",
            code=f"{self.kind}_not_found",
        )


def team_owners(ctx: AdminContext) -> Owners[TeamRecord]:
    return Owners(
        ctx,
        "team",
        ctx.store.get_team,
        ctx.store.update_team,
        lambda team_ids: ctx.key_hashes_of(team_ids=team_ids),
    )
