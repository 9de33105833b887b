"""``/team/*``: a team's budget, limits, models and block cap every key in it.

So every team change drops the team's keys from the auth cache. Deleting a team deletes
its keys (as LiteLLM does) and detaches its users, so no key keeps running uncapped.
``/team/list`` answers with a JSON array, as LiteLLM's does.
"""

from __future__ import annotations

import uuid
from typing import Any

from tokenway.http.server import Request, Response
from tokenway.proxy.admin.context import AdminContext, split_limits, store_changes
from tokenway.proxy.admin.litellm_fields import TEAM_NEW, TEAM_UPDATE
from tokenway.proxy.admin.members import members, resolve
from tokenway.proxy.admin.owners import team_owners
from tokenway.proxy.admin.permissions import (
    MASTER_USER_ID,
    TEAM_ADMIN,
    AdminCall,
    Caller,
    Route,
)
from tokenway.proxy.admin.responses import json_response, key_json, team_json
from tokenway.proxy.admin.validation import (
    PAGE_FIELDS,
    Validator,
    count,
    duration,
    flag,
    ids,
    metadata,
    model_aliases,
    money,
    page_of,
    read_body,
    read_query,
    small_count,
    text,
)
from tokenway.store.base import TeamRecord


def team_fields(served: list[str]) -> dict[str, Validator]:
    return {
        "team_id": text,
        "team_alias": text,
        "models": model_aliases(served),
        "max_budget": money,
        "budget_duration": duration,
        "rpm_limit": small_count,  # PostgreSQL INTEGER columns
        "tpm_limit": count,
        "max_parallel_requests": small_count,
        "metadata": metadata,
        "blocked": flag,
        "organization_id": text,  # an organization's (/organization/new)
    }


class TeamRoutes:
    def __init__(self, ctx: AdminContext) -> None:
        self._ctx = ctx
        self._fields = team_fields(list(ctx.served_models))
        self._teams = team_owners(ctx)
        self._new_fields = {**self._fields, "members_with_roles": members}

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/team/new"): self.new,
            ("GET", "/team/info"): self.info,
            ("POST", "/team/update"): self.update,
            ("POST", "/team/delete"): self.delete,
            ("GET", "/team/list"): self.listing,
        }

    async def new(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, self._new_fields, kept=TEAM_NEW)
        await self._ctx.require_organization(values.get("organization_id"))
        given = values.get("members_with_roles") or []
        if self._ctx.admins_join_teams or not call.caller.is_admin:
            given = _with_creator(given, call.caller)
        values["members_with_roles"] = await resolve(self._ctx, given)
        now = self._ctx.now()
        fields, limits = split_limits(store_changes(values, now))
        fields["team_id"] = fields.get("team_id") or str(uuid.uuid4())
        team = TeamRecord(limits=limits, created_at=now, updated_at=now, **fields)
        await self._ctx.store.create_team(team)
        return json_response({**team_json(team), **self._ctx.model_warnings(team.models)}, call)

    async def info(self, request: Request, call: AdminCall) -> Response:
        team_id = read_query(request.query, {"team_id": text}, required=("team_id",))["team_id"]
        team = await self._teams.find(team_id)
        keys = await self._ctx.all_keys(team_id=team_id)
        answer = {
            "team_id": team_id,
            "team_info": team_json(team),
            "keys": [key_json(key) for key in keys],
        }
        return json_response(answer, call)

    async def update(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, self._fields, required=("team_id",), kept=TEAM_UPDATE)
        await self._ctx.require_organization(values.get("organization_id"))
        team = await self._teams.change(values.pop("team_id"), values)
        warnings = self._ctx.model_warnings(values.get("models"))
        # LiteLLM answers {"team_id", "data": team}; the team's fields stay at the top
        # level too, for clients of earlier tokenway versions.
        shown = team_json(team)
        return json_response({**shown, "data": shown, **warnings}, call)

    async def delete(self, request: Request, call: AdminCall) -> Response:
        body = read_body(request.body, {"team_ids": ids}, required=("team_ids",))
        team_ids, hashes = await self._teams.delete_keys_of(body["team_ids"])
        for user in await self._ctx.all_users():
            if user.team_id in team_ids:
                await self._ctx.store.update_user(user.user_id, {"team_id": None})
        await self._ctx.store.delete_teams(team_ids)
        return json_response({"deleted_teams": team_ids, "deleted_keys": hashes}, call)

    async def listing(self, request: Request, call: AdminCall) -> Response:
        page = page_of(read_query(request.query, PAGE_FIELDS), default_size=100, max_size=1000)
        teams = await self._ctx.store.list_teams(offset=page.offset, limit=page.size)
        return json_response([team_json(team) for team in teams], call)


def _with_creator(given: list[dict[str, Any]], caller: Caller) -> list[dict[str, Any]]:
    """LiteLLM makes whoever creates a team its admin, unless already a member; the master
    key acts as LiteLLM's ``default_user_id``."""
    creator = caller.user_id or (MASTER_USER_ID if caller.key_hash is None else None)
    if creator is None or any(member["user_id"] == creator for member in given):
        return given
    return [*given, {"user_id": creator, "user_email": None, "role": TEAM_ADMIN}]
