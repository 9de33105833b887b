"""What every management handler works with: the store, the served aliases, the clock,
and the callback that tells the auth cache a key changed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenway.errors import BadRequestError
from tokenway.proxy.accounting.model_lists import ALL_MODELS
from tokenway.proxy.admin.validation import LIMIT_FIELDS
from tokenway.router.patterns import compile_patterns, match
from tokenway.store.base import ConflictError, KeyRecord, Limits, Store, TeamRecord, UserRecord
from tokenway.store.durations import parse_duration

log = logging.getLogger("tokenway.proxy.admin")

_SCAN_BATCH = 500  # records per store call when a listing needs every row


@dataclass(frozen=True, slots=True)
class AdminContext:
    store: Store
    served_models: Sequence[str]
    on_key_change: Callable[[str], None]
    clock: Callable[[], float]
    access_groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # LiteLLM adds whoever creates a team as its admin; for admins, unless
    # general_settings.disable_auto_add_proxy_admin_to_teams
    admins_join_teams: bool = True
    # An end user changed (None: any of them, e.g. a budget they share): the request
    # path's end-user cache reads it again.
    on_end_user_change: Callable[[str | None], None] = lambda user_id: None

    def model_warnings(self, models: Sequence[str] | None) -> dict[str, Any]:
        """``{"warnings": [...]}`` when ``models`` names something this proxy does not
        serve (LiteLLM accepts any name; tokenway stores it too, and says so), else ``{}``.
        Served: an alias, a model a wildcard deployment matches, an access group,
        ``"*"`` and ``"all-proxy-models"``."""
        patterns = compile_patterns(self.served_models)
        known = {*self.served_models, *self.access_groups, *ALL_MODELS}
        unserved = [m for m in models or () if m not in known and not match(patterns, m)]
        if not unserved:
            return {}
        return {
            "warnings": [
                f"'models' names what this proxy does not serve: {', '.join(unserved)}; "
                "they allow nothing until a deployment or access group has that name"
            ]
        }

    def end_users_changed(self, user_id: str | None) -> None:
        try:
            self.on_end_user_change(user_id)
        except Exception:
            log.exception("on_end_user_change failed; the end-user cache may keep a stale entry")

    def now(self) -> float:
        return self.clock()

    def keys_changed(self, key_hashes: Iterable[str]) -> None:
        """Tell the auth cache; the change is already stored, so a failing callback is
        logged rather than turned into an error for a change that did happen."""
        for key_hash in key_hashes:
            try:
                self.on_key_change(key_hash)
            except Exception:
                log.exception("on_key_change failed; the auth cache may keep a stale entry")

    async def all_keys(
        self, *, user_id: str | None = None, team_id: str | None = None
    ) -> list[KeyRecord]:
        """Every key (of a user or team): the store has no count or alias filter, so
        listings that need a total or an alias read them all, in batches."""
        found: list[KeyRecord] = []
        while True:
            batch = await self.store.list_keys(
                user_id=user_id, team_id=team_id, offset=len(found), limit=_SCAN_BATCH
            )
            found.extend(batch)
            if len(batch) < _SCAN_BATCH:
                return found

    async def key_hashes_of(
        self, *, user_ids: Iterable[str] = (), team_ids: Iterable[str] = ()
    ) -> list[str]:
        """The hashes of every key that belongs to these users or teams."""
        hashes = [k.key_hash for uid in user_ids for k in await self.all_keys(user_id=uid)]
        return hashes + [k.key_hash for tid in team_ids for k in await self.all_keys(team_id=tid)]

    async def delete_keys(self, key_hashes: list[str]) -> None:
        """Delete keys (of a user or team being deleted) and drop them from the auth cache."""
        if key_hashes:
            await self.store.delete_keys(key_hashes)
            self.keys_changed(key_hashes)

    async def all_users(self) -> list[UserRecord]:
        found: list[UserRecord] = []
        while True:
            batch = await self.store.list_users(offset=len(found), limit=_SCAN_BATCH)
            found.extend(batch)
            if len(batch) < _SCAN_BATCH:
                return found

    async def all_teams(self) -> list[TeamRecord]:
        found: list[TeamRecord] = []
        while True:
            batch = await self.store.list_teams(offset=len(found), limit=_SCAN_BATCH)
            found.extend(batch)
            if len(batch) < _SCAN_BATCH:
                return found

    async def require_team(self, team_id: str | None) -> None:
        """A team a record points at must exist: a typo would silently drop its caps."""
        if team_id is not None and await self.store.get_team(team_id) is None:
            raise BadRequestError(
                f"team '{team_id}' does not exist; create it first with POST /team/new",
                param="team_id",
                code="unknown_team",
            )

    async def require_organization(self, organization_id: str | None) -> None:
        """A team's organization must exist: its spend rows would name a phantom."""
        if organization_id is not None and not await self.store.get_organization(organization_id):
            raise BadRequestError(
                f"organization '{organization_id}' does not exist; create it first with "
                "POST /organization/new",
                param="organization_id",
                code="unknown_organization",
            )

    async def ensure_user(self, user_id: str | None) -> bool:
        """A key may name a user that does not exist yet: it is created, empty, as LiteLLM
        does, so scripts written for it keep working. True if this call created it."""
        if user_id is None or await self.store.get_user(user_id) is not None:
            return False
        now = self.now()
        try:
            await self.store.create_user(UserRecord(user_id, created_at=now, updated_at=now))
        except ConflictError:  # created concurrently: fine
            return False
        return True


def store_changes(values: dict[str, Any], now: float) -> dict[str, Any]:
    """Validated fields as the store's changes: a new ``budget_duration`` starts its first
    window now (``budget_reset_at``), and clearing it stops the resets."""
    changes = dict(values)
    if "budget_duration" in values:
        period = values["budget_duration"]
        changes["budget_reset_at"] = None if period is None else now + parse_duration(period)
    return changes


def split_limits(changes: dict[str, Any]) -> tuple[dict[str, Any], Limits]:
    """(record fields, ``Limits``) of a new record's changes."""
    limit_names = (*LIMIT_FIELDS, "budget_reset_at")
    limits = Limits(**{name: changes[name] for name in limit_names if name in changes})
    rest = {name: value for name, value in changes.items() if name not in limit_names}
    return rest, limits
