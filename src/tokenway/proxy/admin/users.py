"""``/user/*``: users own keys and carry their own budget and limits.

Like LiteLLM, ``/user/new`` also makes a key for the new user unless
``"auto_create_key": false``; that key's secret is in the answer, once. Deleting a user
deletes their keys, so none outlives its owner. A user update drops the user's keys from
the auth cache, since the user's limits apply to every request those keys make.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from tokenway.http.server import Request, Response
from tokenway.proxy.admin.context import AdminContext, split_limits, store_changes
from tokenway.proxy.admin.keys import create_key
from tokenway.proxy.admin.litellm_fields import USER_NEW, USER_UPDATE
from tokenway.proxy.admin.members import memberships_of
from tokenway.proxy.admin.owners import Owners
from tokenway.proxy.admin.responses import (
    Call,
    Handler,
    json_response,
    key_json,
    team_json,
    user_json,
)
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
    one_of,
    page_of,
    read_body,
    read_query,
    small_count,
    spend,
    text,
)
from tokenway.store.base import UserRecord

# LiteLLM's role names; tokenway stores the role for compatibility and does not act on it.
USER_ROLES = (
    "proxy_admin",
    "proxy_admin_viewer",
    "internal_user",
    "internal_user_viewer",
    "team",
    "customer",
)


def user_fields(served: list[str]) -> dict[str, Validator]:
    return {
        "user_id": text,
        "user_email": text,
        "user_role": one_of(*USER_ROLES),
        "team_id": text,
        "models": model_aliases(served),
        "max_budget": money,
        "spend": spend,
        "budget_duration": duration,
        "rpm_limit": small_count,  # PostgreSQL INTEGER columns
        "tpm_limit": count,
        "max_parallel_requests": small_count,
        "metadata": metadata,
    }


def user_new_fields(served: list[str]) -> dict[str, Validator]:
    """``/user/new``'s: ``duration`` and ``key_alias`` are its key's, as in LiteLLM."""
    return {**user_fields(served), "auto_create_key": flag, "duration": duration, "key_alias": text}


class UserRoutes:
    def __init__(self, ctx: AdminContext) -> None:
        self._ctx = ctx
        self._fields = user_fields(list(ctx.served_models))
        self._new_fields = user_new_fields(list(ctx.served_models))
        self._users = Owners(
            ctx,
            "user",
            ctx.store.get_user,
            ctx.store.update_user,
            lambda user_ids: ctx.key_hashes_of(user_ids=user_ids),
        )

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("POST", "/user/new"): self.new,
            ("GET", "/user/info"): self.info,
            ("POST", "/user/update"): self.update,
            ("POST", "/user/delete"): self.delete,
            ("GET", "/user/list"): self.listing,
        }

    async def new(self, request: Request, call: Call) -> Response:
        values = read_body(request.body, self._new_fields, kept=USER_NEW)
        with_key = values.pop("auto_create_key", True)
        key_settings: dict[str, Any] = {
            name: values.pop(name) for name in ("duration", "key_alias") if name in values
        }
        await self._ctx.require_team(values.get("team_id"))
        now = self._ctx.now()
        fields, limits = split_limits(store_changes(values, now))
        fields["user_id"] = fields.get("user_id") or str(uuid.uuid4())
        user = UserRecord(limits=limits, created_at=now, updated_at=now, **fields)
        await self._ctx.store.create_user(user)
        answer = {**user_json(user), **self._ctx.model_warnings(user.models)}
        if with_key:
            key_values: dict[str, Any] = {
                "user_id": user.user_id,
                "team_id": user.team_id,
                "models": user.models,
                **key_settings,
            }
            secret, key = await create_key(self._ctx, key_values)
            answer.update(key=secret, token=key.key_hash, key_name=key.key_name)
        return json_response(answer, call)

    async def info(self, request: Request, call: Call) -> Response:
        user_id = read_query(request.query, {"user_id": text}, required=("user_id",))["user_id"]
        user = await self._users.find(user_id)
        keys = await self._ctx.all_keys(user_id=user_id)
        teams = memberships_of(user_id, await self._ctx.all_teams())
        listed = {team["team_id"] for team in teams}
        if user.team_id and user.team_id not in listed:  # its team, not as a member
            team = await self._ctx.store.get_team(user.team_id)
            teams += [team_json(team)] if team else []
        answer = {
            "user_id": user_id,
            "user_info": user_json(user),
            "keys": [key_json(key) for key in keys],
            "teams": teams,
        }
        return json_response(answer, call)

    async def update(self, request: Request, call: Call) -> Response:
        values = read_body(request.body, self._fields, required=("user_id",), kept=USER_UPDATE)
        user_id = values.pop("user_id")
        await self._ctx.require_team(values.get("team_id"))
        user = await self._users.change(user_id, values)
        warnings = self._ctx.model_warnings(values.get("models"))
        return json_response({**user_json(user), **warnings}, call)

    async def delete(self, request: Request, call: Call) -> Response:
        body = read_body(request.body, {"user_ids": ids}, required=("user_ids",))
        user_ids, hashes = await self._users.delete_keys_of(body["user_ids"])
        await self._ctx.store.delete_users(user_ids)
        return json_response({"deleted_users": user_ids, "deleted_keys": hashes}, call)

    async def listing(self, request: Request, call: Call) -> Response:
        page = page_of(read_query(request.query, PAGE_FIELDS), default_size=25, max_size=1000)
        users = await self._ctx.all_users()
        answer = {
            "users": [user_json(u) for u in users[page.offset : page.offset + page.size]],
            "total": len(users),
            "page": page.number,
            "page_size": page.size,
            "total_pages": math.ceil(len(users) / page.size),
        }
        return json_response(answer, call)
