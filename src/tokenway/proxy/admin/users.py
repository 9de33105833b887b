"""``/user/*``: users own keys and carry their own budget and limits.

Like LiteLLM, ``/user/new`` also makes a key for the new user unless
``"auto_create_key": false``; that key's secret is in the answer, once. A new user's role
is ``internal_user`` unless given (what each role may do: ``permissions.py``).
``/user/update`` of an unknown user makes it, as LiteLLM's (an upsert) does. Deleting a user
deletes their keys, so none outlives its owner. A user update drops the user's keys from
the auth cache, since the user's limits apply to every request those keys make.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from tokenway.errors import BadRequestError
from tokenway.http.server import Request, Response
from tokenway.proxy.admin.context import AdminContext, split_limits, store_changes
from tokenway.proxy.admin.keys import create_key
from tokenway.proxy.admin.litellm_fields import USER_NEW, USER_UPDATE
from tokenway.proxy.admin.members import memberships_of
from tokenway.proxy.admin.owners import Owners
from tokenway.proxy.admin.permissions import INTERNAL_USER, AdminCall, Route
from tokenway.proxy.admin.responses import (
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
from tokenway.store.base import ConflictError, UserRecord

# LiteLLM's role names; what each may do is in ``permissions.py``.
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

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/user/new"): self.new,
            ("GET", "/user/info"): self.info,
            ("POST", "/user/update"): self.update,
            ("POST", "/user/delete"): self.delete,
            ("GET", "/user/list"): self.listing,
        }

    async def new(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, self._new_fields, kept=USER_NEW)
        with_key = values.pop("auto_create_key", True)
        key_settings: dict[str, Any] = {
            name: values.pop(name) for name in ("duration", "key_alias") if name in values
        }
        await self._ctx.require_team(values.get("team_id"))
        now = self._ctx.now()
        fields, limits = split_limits(store_changes(values, now))
        fields["user_id"] = fields.get("user_id") or str(uuid.uuid4())
        fields["user_role"] = fields.get("user_role") or INTERNAL_USER  # LiteLLM's default
        user = UserRecord(limits=limits, created_at=now, updated_at=now, **fields)
        try:
            await self._ctx.store.create_user(user)
        except ConflictError:
            user = await self._adopt(user)
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

    async def _adopt(self, user: UserRecord) -> UserRecord:
        """``/user/new`` for a user made on the fly (a key's owner or a team member, still
        without role, models, limits or metadata) fills that user in, as LiteLLM's upsert
        does; a user that was set up is a 409."""
        existing = await self._ctx.store.get_user(user.user_id)
        if existing is None or not _placeholder(existing):
            raise ConflictError("user_id", "another user already has this user_id; choose another")
        changes: dict[str, Any] = {
            "user_email": user.user_email or existing.user_email,
            "user_role": user.user_role,
            "team_id": user.team_id,
            "models": user.models,
            "metadata": user.metadata,
            "extra": user.extra,
            **{name: getattr(user.limits, name) for name in _SET_LIMITS},
        }
        adopted = await self._users.update(user.user_id, changes)
        if adopted is None:  # deleted meanwhile
            raise self._users.not_found([user.user_id])
        self._ctx.keys_changed(await self._ctx.key_hashes_of(user_ids=[user.user_id]))
        return adopted

    async def info(self, request: Request, call: AdminCall) -> Response:
        caller = call.caller
        required = ("user_id",) if caller.key_hash is None else ()
        given = read_query(request.query, {"user_id": text}, required)
        user_id = given.get("user_id") or caller.user_id  # none named: the key's own user
        if not isinstance(user_id, str):
            raise BadRequestError(
                "this key has no user; name one with ?user_id=",
                param="user_id",
                code="missing_field",
            )
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

    async def update(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, self._fields, required=("user_id",), kept=USER_UPDATE)
        user_id = values.pop("user_id")
        await self._ctx.require_team(values.get("team_id"))
        await self._ctx.ensure_user(user_id)  # LiteLLM's update makes an unknown user
        user = await self._users.change(user_id, values)
        warnings = self._ctx.model_warnings(values.get("models"))
        return json_response({**user_json(user), **warnings}, call)

    async def delete(self, request: Request, call: AdminCall) -> Response:
        body = read_body(request.body, {"user_ids": ids}, required=("user_ids",))
        user_ids, hashes = await self._users.delete_keys_of(body["user_ids"])
        await self._ctx.store.delete_users(user_ids)
        return json_response({"deleted_users": user_ids, "deleted_keys": hashes}, call)

    async def listing(self, request: Request, call: AdminCall) -> Response:
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


_SET_LIMITS = (
    "max_budget",
    "budget_duration",
    "budget_reset_at",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
)


def _placeholder(user: UserRecord) -> bool:
    """A user made on the fly, never set up: no role, models, limits, metadata or extras."""
    limits = user.limits
    return (
        user.user_role is None
        and not user.models
        and not user.metadata
        and not user.extra
        and all(getattr(limits, name) is None for name in _SET_LIMITS)
    )
