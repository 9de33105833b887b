"""Team membership, LiteLLM's way: a team's ``members_with_roles`` and
``/team/member_add``, ``/team/member_delete``, ``/team/member_update``.

A member is ``{"user_id", "user_email", "role"}`` (role ``admin`` or ``user``) plus the
member's settings in that team (``max_budget_in_team``, ``budget_duration``,
``rpm_limit``, ``tpm_limit``, ``allowed_models``), stored with the team. A member named
by id that is not a user yet becomes one, as in LiteLLM; a member named by email only is
the user with that email, or a new user. ``/user/info`` lists the teams a user is a member
of. A member's ``max_budget_in_team`` caps the requests of that user's keys in that team
(``accounting/member_budgets.py``); the other settings are stored and shown (``/user/info``'s
``team_memberships``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from tokenway.errors import BadRequestError
from tokenway.http.server import Request, Response
from tokenway.proxy.accounting.member_budgets import BUDGET_START
from tokenway.proxy.admin.context import AdminContext
from tokenway.proxy.admin.owners import Owners, team_owners
from tokenway.proxy.admin.permissions import AdminCall, Route
from tokenway.proxy.admin.responses import json_response, team_json, user_json
from tokenway.proxy.admin.validation import (
    FIELD_SCHEMAS,
    Validator,
    count,
    duration,
    money,
    one_of,
    read_body,
    small_count,
    text,
    text_list,
)
from tokenway.store.base import ConflictError, TeamRecord, UserRecord

ROLES = ("admin", "user")
_SETTINGS: dict[str, Validator] = {
    "max_budget_in_team": money,
    "budget_duration": duration,
    "rpm_limit": small_count,
    "tpm_limit": count,
    "allowed_models": text_list,
}
_ROLE = one_of(*ROLES)


def members(name: str, value: Any) -> list[dict[str, Any]]:
    """One member object or a list of them, each with a ``user_id`` or a ``user_email``
    and a ``role`` (default ``user``)."""
    items = value if isinstance(value, list) else [value]
    found: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict) or not set(item) <= {"user_id", "user_email", "role"}:
            raise _invalid(name)
        member = {
            "user_id": text(name, item.get("user_id")),
            "user_email": text(name, item.get("user_email")),
            "role": _ROLE(name, item.get("role", "user")) or "user",
        }
        if member["user_id"] is None and member["user_email"] is None:
            raise _invalid(name)
        found.append(member)
    return found


_NAME = {**FIELD_SCHEMAS[text], "type": "string"}
_MEMBER_SCHEMA = {
    "type": "object",
    "properties": {"user_id": _NAME, "user_email": _NAME, "role": {"enum": list(ROLES)}},
    "anyOf": [{"required": ["user_id"]}, {"required": ["user_email"]}],
    "additionalProperties": False,
}
FIELD_SCHEMAS[members] = {"anyOf": [_MEMBER_SCHEMA, {"type": "array", "items": _MEMBER_SCHEMA}]}


ADD_FIELDS: dict[str, Validator] = {"team_id": text, "member": members, **_SETTINGS}
WHO_FIELDS: dict[str, Validator] = {"team_id": text, "user_id": text, "user_email": text}
UPDATE_FIELDS: dict[str, Validator] = {**WHO_FIELDS, "role": _ROLE, **_SETTINGS}


def _invalid(name: str) -> BadRequestError:
    return BadRequestError(
        f"'{name}' must be a member or a list of members: objects with a user_id or a "
        f"user_email, and a role ({' or '.join(ROLES)})",
        param=name,
        code="invalid_value",
    )


async def resolve(ctx: AdminContext, given: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each member with both its user's id and email, its user created if need be."""
    by_email: dict[str | None, UserRecord] | None = None  # read only when one is by email
    resolved: list[dict[str, Any]] = []
    for member in given:
        user_id, email = member["user_id"], member["user_email"]
        if user_id:
            user = await ctx.store.get_user(user_id)
        else:
            if by_email is None:
                by_email = {u.user_email: u for u in await ctx.all_users() if u.user_email}
            user = by_email.get(email)
        if user is None:
            user = await _new_user(ctx, user_id or str(uuid.uuid4()), email)
            if by_email is not None and email:  # later members by this email find it
                by_email[email] = user
        resolved.append({**member, "user_id": user.user_id, "user_email": user.user_email})
    return resolved


async def _new_user(ctx: AdminContext, user_id: str, email: str | None) -> UserRecord:
    now = ctx.now()
    user = UserRecord(user_id, user_email=email, created_at=now, updated_at=now)
    try:
        await ctx.store.create_user(user)
    except ConflictError:  # created concurrently
        return await ctx.store.get_user(user_id) or user
    return user


def memberships_of(user_id: str, teams: Sequence[TeamRecord]) -> list[dict[str, Any]]:
    """The teams ``user_id`` is a member of, each as ``/user/info`` lists it."""
    listed: list[dict[str, Any]] = []
    for team in teams:
        for member in team.members_with_roles:
            if member.get("user_id") == user_id:
                budget = {name: member.get(name) for name in _SETTINGS}
                budget["max_budget"] = budget.pop("max_budget_in_team")
                membership = {"team_id": team.team_id, "user_id": user_id, "role": member["role"]}
                listed.append(
                    {
                        **team_json(team),
                        "team_memberships": [{**membership, "litellm_budget_table": budget}],
                    }
                )
    return listed


class MemberRoutes:
    def __init__(self, ctx: AdminContext) -> None:
        self._ctx = ctx
        self._teams: Owners[TeamRecord] = team_owners(ctx)

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/team/member_add"): self.add,
            ("POST", "/team/member_delete"): self.delete,
            ("POST", "/team/member_update"): self.update,
        }

    async def add(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, ADD_FIELDS, required=("team_id", "member"))
        team = await self._teams.find(values.pop("team_id"))
        added = await resolve(self._ctx, values.pop("member"))
        present = {m["user_id"] for m in team.members_with_roles}
        twice = [m["user_id"] for m in added if m["user_id"] in present]
        if twice or len({m["user_id"] for m in added}) < len(added):
            raise BadRequestError(
                f"already a member of team '{team.team_id}': {', '.join(twice) or 'repeated'}",
                param="member",
                code="member_exists",
            )
        settings = _budget_started(
            {name: value for name, value in values.items() if value is not None}, self._ctx
        )
        new = [*team.members_with_roles, *({**m, **settings} for m in added)]
        updated = await self._teams.change(team.team_id, {"members_with_roles": new})
        users = [await self._ctx.store.get_user(m["user_id"]) for m in added]
        answer = {
            **team_json(updated),
            "updated_users": [user_json(u) for u in users if u is not None],
        }
        return json_response(answer, call)

    async def delete(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, WHO_FIELDS, required=("team_id",))
        team = await self._teams.find(values["team_id"])
        index = member_index(team.members_with_roles, values, f"team '{team.team_id}'")
        kept = [m for i, m in enumerate(team.members_with_roles) if i != index]
        updated = await self._teams.change(team.team_id, {"members_with_roles": kept})
        return json_response(team_json(updated), call)

    async def update(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, UPDATE_FIELDS, required=("team_id",))
        team = await self._teams.find(values.pop("team_id"))
        index = member_index(team.members_with_roles, values, f"team '{team.team_id}'")
        for name in ("user_id", "user_email"):
            values.pop(name, None)
        member = {**team.members_with_roles[index], **_budget_started(values, self._ctx)}
        if member.get("role") is None:
            member["role"] = team.members_with_roles[index]["role"]
        new = list(team.members_with_roles)
        new[index] = member
        await self._teams.change(team.team_id, {"members_with_roles": new})
        return json_response({"team_id": team.team_id, **member}, call)


def _budget_started(settings: dict[str, Any], ctx: AdminContext) -> dict[str, Any]:
    """A member budget given now counts spend from now (``accounting.member_budgets``)."""
    if any(name in settings for name in ("max_budget_in_team", "budget_duration")):
        return {**settings, BUDGET_START: ctx.now()}
    return settings


def member_index(members: Sequence[Mapping[str, Any]], values: Mapping[str, Any], of: str) -> int:
    """Where the member named by ``user_id`` or ``user_email`` is in ``members`` (a
    team's or an organization's, ``of`` naming it); 400 if not a member."""
    user_id, email = values.get("user_id"), values.get("user_email")
    if user_id is None and email is None:
        raise BadRequestError(
            "name the member with 'user_id' or 'user_email'", param="user_id", code="missing_field"
        )
    for index, member in enumerate(members):
        if (user_id is not None and member.get("user_id") == user_id) or (
            user_id is None and member.get("user_email") == email
        ):
            return index
    raise BadRequestError(
        f"{user_id or email} is not a member of {of}",
        param="user_id" if user_id is not None else "user_email",
        code="not_a_member",
    )
