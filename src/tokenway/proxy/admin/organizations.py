"""``/organization/*``: LiteLLM's organizations, which group teams and users.

Each organization has a budget object of its own (``litellm_budget_table``, made from the
limits given, as LiteLLM makes one) or a shared one (``budget_id``). A team belongs to an
organization through its ``organization_id`` (``/team/new``), and every spend row of its
keys names that organization; the organization's ``spend`` is the sum of those rows.
Its budget and limits are stored and shown, and not yet enforced on requests: the answer
says so when any is set. Members are users with an organization role (``org_admin``,
``internal_user``, ``internal_user_viewer``), created when named by an unknown email.
``/organization/list`` is a JSON array, each organization with its members, teams and
budget, as LiteLLM's is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from tokenway.errors import BadRequestError, NotFoundError
from tokenway.http.server import Request, Response
from tokenway.proxy.admin.budgets import (
    BUDGET_KEPT,
    BUDGET_LIMITS,
    budget_changes,
    budget_json,
    create_budget,
    unknown_budget,
)
from tokenway.proxy.admin.context import AdminContext
from tokenway.proxy.admin.members import member_index, resolve
from tokenway.proxy.admin.permissions import AdminCall, Route
from tokenway.proxy.admin.responses import iso, json_response, team_json, user_json
from tokenway.proxy.admin.validation import (
    FIELD_SCHEMAS,
    PAGE_FIELDS,
    Validator,
    ids,
    metadata,
    model_aliases,
    money,
    one_of,
    page_of,
    read_body,
    read_query,
    text,
)
from tokenway.store.base import TeamRecord
from tokenway.store.entities import OrganizationRecord

ORG_ROLES = ("org_admin", "internal_user", "internal_user_viewer")
_ROLE = one_of(*ORG_ROLES)
ORG_KEPT = BUDGET_KEPT | {"model_rpm_limit", "model_tpm_limit", "tags", "object_permission"}
_NOT_ENFORCED = (
    "an organization's budget and rate limits are stored and shown; requests are not "
    "capped by them yet (a team's and a key's own are)"
)


def not_blocked(name: str, value: Any) -> bool:
    """``blocked``: only false (tokenway cannot block a whole organization yet)."""
    if value is None or value is False:
        return False
    raise BadRequestError(
        "blocking an organization is not supported; block its teams instead "
        "(POST /team/update with blocked)",
        param=name,
        code="unsupported_value",
    )


FIELD_SCHEMAS[not_blocked] = {"type": ["boolean", "null"], "enum": [False, None]}


def member_list(name: str, value: Any) -> list[dict[str, Any]]:
    """One member or a list: objects with a ``user_id`` or a ``user_email`` and a role."""
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items:
        if not isinstance(item, dict) or not set(item) <= {"user_id", "user_email", "role"}:
            raise _bad_member(name)
        user_id, email = text(name, item.get("user_id")), text(name, item.get("user_email"))
        if user_id is None and email is None:
            raise _bad_member(name)
        role = _ROLE(name, item.get("role")) or "internal_user"
        found.append({"user_id": user_id, "user_email": email, "role": role})
    return found


_NAME = {**FIELD_SCHEMAS[text], "type": "string"}
_MEMBER_SCHEMA = {
    "type": "object",
    "properties": {"user_id": _NAME, "user_email": _NAME, "role": {"enum": [*ORG_ROLES, None]}},
    "anyOf": [{"required": ["user_id"]}, {"required": ["user_email"]}],
    "additionalProperties": False,
}
FIELD_SCHEMAS[member_list] = {
    "anyOf": [_MEMBER_SCHEMA, {"type": "array", "items": _MEMBER_SCHEMA, "minItems": 1}]
}

MEMBER_WHO: dict[str, Validator] = {"organization_id": text, "user_id": text, "user_email": text}
MEMBER_ADD: dict[str, Validator] = {
    "organization_id": text,
    "member": member_list,
    "max_budget_in_organization": money,
}
MEMBER_UPDATE: dict[str, Validator] = {
    **MEMBER_WHO,
    "role": _ROLE,
    "max_budget_in_organization": money,
}


def organization_fields(served: list[str]) -> tuple[dict[str, Validator], dict[str, Validator]]:
    """(/organization/new's fields, /organization/update's)."""
    own: dict[str, Validator] = {
        "organization_alias": text,
        "models": model_aliases(served),
        "budget_id": text,
        "metadata": metadata,
        "blocked": not_blocked,
        **BUDGET_LIMITS,
    }
    return {"organization_id": text, **own}, {"organization_id": text, "spend": money, **own}


class OrganizationRoutes:
    def __init__(self, ctx: AdminContext) -> None:
        self._ctx = ctx
        self._new, self._update = organization_fields(list(ctx.served_models))

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/organization/new"): self.new,
            ("GET", "/organization/info"): self.info,
            ("POST", "/organization/info"): self.info_many,
            ("GET", "/organization/list"): self.listing,
            ("PATCH", "/organization/update"): self.update,
            ("POST", "/organization/update"): self.update,
            ("DELETE", "/organization/delete"): self.delete,
            ("POST", "/organization/delete"): self.delete,
            ("POST", "/organization/member_add"): self.member_add,
            ("PATCH", "/organization/member_update"): self.member_update,
            ("POST", "/organization/member_update"): self.member_update,
            ("DELETE", "/organization/member_delete"): self.member_delete,
            ("POST", "/organization/member_delete"): self.member_delete,
        }

    async def new(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, self._new, kept=ORG_KEPT)
        budget_id = values.get("budget_id")
        if budget_id is not None:
            if await self._ctx.store.get_budget(budget_id) is None:
                raise unknown_budget(budget_id)
        else:
            budget_id = (await create_budget(self._ctx, values, None)).budget_id
        now = self._ctx.now()
        org = OrganizationRecord(
            values.get("organization_id") or str(uuid.uuid4()),
            values.get("organization_alias"),
            budget_id,
            values.get("models") or [],
            metadata=values.get("metadata") or {},
            extra=_kept(values),
            created_at=now,
            updated_at=now,
        )
        await self._ctx.store.create_organization(org)
        shown = await self._json(org, [])
        return json_response({**shown, **self._warnings(values, org.models)}, call)

    async def info(self, request: Request, call: AdminCall) -> Response:
        query = read_query(request.query, {"organization_id": text}, ("organization_id",))
        org = await self._find(query["organization_id"])
        return json_response(await self._json(org, await self._ctx.all_teams()), call)

    async def info_many(self, request: Request, call: AdminCall) -> Response:
        """The older form: ``{"organizations": [ids]}`` → a list."""
        org_ids = read_body(request.body, {"organizations": ids}, ("organizations",))
        teams = await self._ctx.all_teams()
        found = [await self._find(org_id) for org_id in org_ids["organizations"]]
        return json_response([await self._json(org, teams) for org in found], call)

    async def listing(self, request: Request, call: AdminCall) -> Response:
        page = page_of(read_query(request.query, PAGE_FIELDS), default_size=100, max_size=1000)
        orgs = await self._ctx.store.list_organizations(offset=page.offset, limit=page.size)
        teams = await self._ctx.all_teams() if orgs else []
        return json_response([await self._json(org, teams) for org in orgs], call)

    async def update(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, self._update, ("organization_id",), kept=ORG_KEPT)
        org = await self._find(values.pop("organization_id"))
        own = ("organization_alias", "models", "spend", "metadata")
        changes: dict[str, Any] = {n: values[n] for n in own if n in values}
        if values.get("extra"):
            changes["extra"] = {**org.extra, **_kept(values)}
        if "budget_id" in values and values["budget_id"] != org.budget_id:
            budget_id = values["budget_id"]
            if budget_id is not None and await self._ctx.store.get_budget(budget_id) is None:
                raise unknown_budget(budget_id)
            changes["budget_id"] = budget_id
        limits = budget_changes(values, self._ctx.now(), {})
        limits.pop("extra", None)
        if limits and org.budget_id is not None:
            await self._ctx.store.update_budget(org.budget_id, limits)
        changed = await self._ctx.store.update_organization(org.organization_id, changes)
        if changed is None:
            raise _missing([org.organization_id])
        shown = await self._json(changed, await self._ctx.all_teams())
        return json_response({**shown, **self._warnings(values, values.get("models"))}, call)

    async def delete(self, request: Request, call: AdminCall) -> Response:
        """Its teams stay, outside any organization (their keys are read again)."""
        body = read_body(request.body, {"organization_ids": ids}, ("organization_ids",))
        org_ids = list(dict.fromkeys(body["organization_ids"]))
        orgs = [await self._ctx.store.get_organization(org_id) for org_id in org_ids]
        missing = [org_id for org_id, org in zip(org_ids, orgs, strict=True) if org is None]
        if missing:
            raise _missing(missing)
        teams = await self._ctx.all_teams()
        shown = [await self._json(org, teams) for org in orgs if org is not None]
        detached = [t.team_id for t in teams if t.organization_id in org_ids]
        for team_id in detached:
            await self._ctx.store.update_team(team_id, {"organization_id": None})
        self._ctx.keys_changed(await self._ctx.key_hashes_of(team_ids=detached))
        await self._ctx.store.delete_organizations(org_ids)
        return json_response(shown, call)

    async def member_add(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, MEMBER_ADD, ("organization_id", "member"))
        org = await self._find(values["organization_id"])
        added = await resolve(self._ctx, values["member"])
        present = {m["user_id"] for m in org.members}
        twice = [m["user_id"] for m in added if m["user_id"] in present]
        if twice:
            raise BadRequestError(
                f"already a member of organization '{org.organization_id}': {', '.join(twice)}",
                param="member",
                code="member_exists",
            )
        now = self._ctx.now()
        new = [_membership(org, m, now, values.get("max_budget_in_organization")) for m in added]
        await self._ctx.store.update_organization(
            org.organization_id, {"members": [*org.members, *new]}
        )
        users = [await self._ctx.store.get_user(m["user_id"]) for m in added]
        answer = {
            "organization_id": org.organization_id,
            "updated_users": [user_json(user) for user in users if user is not None],
            "updated_organization_memberships": [_membership_json(m) for m in new],
        }
        return json_response(answer, call)

    async def member_update(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, MEMBER_UPDATE, ("organization_id",))
        org = await self._find(values["organization_id"])
        index = member_index(org.members, values, f"organization '{org.organization_id}'")
        member = dict(org.members[index])
        if values.get("role") is not None:
            member["user_role"] = values["role"]
        if "max_budget_in_organization" in values:
            member["max_budget_in_organization"] = values["max_budget_in_organization"]
        member["updated_at"] = self._ctx.now()
        members = list(org.members)
        members[index] = member
        await self._ctx.store.update_organization(org.organization_id, {"members": members})
        return json_response(_membership_json(member), call)

    async def member_delete(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, MEMBER_WHO, ("organization_id",))
        org = await self._find(values["organization_id"])
        index = member_index(org.members, values, f"organization '{org.organization_id}'")
        gone = org.members[index]
        kept = [m for i, m in enumerate(org.members) if i != index]
        await self._ctx.store.update_organization(org.organization_id, {"members": kept})
        return json_response(
            {"organization_id": org.organization_id, **_membership_json(gone)}, call
        )

    async def _find(self, org_id: str) -> OrganizationRecord:
        org = await self._ctx.store.get_organization(org_id)
        if org is None:
            raise _missing([org_id])
        return org

    async def _json(self, org: OrganizationRecord, teams: Sequence[TeamRecord]) -> dict[str, Any]:
        budget = await self._ctx.store.get_budget(org.budget_id) if org.budget_id else None
        return {
            **org.extra,
            "organization_id": org.organization_id,
            "organization_alias": org.organization_alias,
            "budget_id": org.budget_id,
            "models": org.models,
            "spend": org.spend,
            "model_spend": {},
            "metadata": org.metadata,
            "litellm_budget_table": budget_json(budget) if budget is not None else None,
            "members": [_membership_json(m) for m in org.members],
            "teams": [team_json(t) for t in teams if t.organization_id == org.organization_id],
            "created_at": iso(org.created_at),
            "updated_at": iso(org.updated_at),
        }

    def _warnings(self, values: dict[str, Any], models: Sequence[str] | None) -> dict[str, Any]:
        warnings = list(self._ctx.model_warnings(models).get("warnings", []))
        limits = ("max_budget", "soft_budget", "rpm_limit", "tpm_limit", "max_parallel_requests")
        if any(values.get(name) is not None for name in limits):
            warnings.append(_NOT_ENFORCED)
        return {"warnings": warnings} if warnings else {}


def _kept(values: dict[str, Any]) -> dict[str, Any]:
    return dict(values.get("extra") or {})


def _membership(
    org: OrganizationRecord, member: dict[str, Any], now: float, max_budget: float | None
) -> dict[str, Any]:
    return {
        "user_id": member["user_id"],
        "user_email": member["user_email"],
        "user_role": member["role"],
        "organization_id": org.organization_id,
        "max_budget_in_organization": max_budget,
        "created_at": now,
        "updated_at": now,
    }


def _membership_json(member: dict[str, Any]) -> dict[str, Any]:
    return {
        **member,
        "spend": 0.0,
        "budget_id": None,
        "created_at": iso(member.get("created_at")),
        "updated_at": iso(member.get("updated_at")),
    }


def _bad_member(name: str) -> BadRequestError:
    return BadRequestError(
        f"'{name}' must be a member or a list of members: objects with a user_id or a "
        f"user_email, and a role ({' or '.join(ORG_ROLES)})",
        param=name,
        code="invalid_value",
    )


def _missing(org_ids: list[str]) -> NotFoundError:
    return NotFoundError(
        f"no such organization: {', '.join(org_ids)}; list them with GET /organization/list",
        param="organization_id",
        code="organization_not_found",
    )
