"""``/end_user/*`` and its ``/customer/*`` aliases: the callers a request names in its
``user`` field (LiteLLM's end users, or customers).

An end user may point at a shared budget (``budget_id``) or be given limits inline
(``max_budget``, ``tpm_limit``, ...), which make a budget of its own, as LiteLLM does.
Every request naming a blocked end user is refused, and one over its budget or rate
limits too (``tokenway.proxy.accounting.end_users``); its spend is counted from the
spend rows. ``allowed_model_region`` keeps its requests on deployments of that region
(``litellm_params.region_name``); ``default_model`` is stored and shown, not acted on,
and the answer says so. Every change is passed to the request path's cache.
"""

from __future__ import annotations

from typing import Any

from tokenway.errors import BadRequestError, NotFoundError
from tokenway.http.server import Request, Response
from tokenway.proxy.admin.budgets import (
    BUDGET_KEPT,
    BUDGET_LIMITS,
    budget_json,
    create_budget,
    unknown_budget,
)
from tokenway.proxy.admin.context import AdminContext
from tokenway.proxy.admin.permissions import AdminCall, Route
from tokenway.proxy.admin.responses import iso, json_response
from tokenway.proxy.admin.validation import (
    PAGE_FIELDS,
    Validator,
    flag,
    ids,
    one_of,
    page_of,
    read_body,
    read_query,
    spend,
    text,
)
from tokenway.store.durations import parse_duration
from tokenway.store.entities import EndUserRecord

_OWN: dict[str, Validator] = {
    "user_id": text,
    "alias": text,
    "blocked": flag,
    "budget_id": text,
    "allowed_model_region": one_of("eu", "us"),
    "default_model": text,
}
END_USER_FIELDS: dict[str, Validator] = {**_OWN, **BUDGET_LIMITS, "spend": spend}
END_USER_KEPT = BUDGET_KEPT | {"object_permission"}
_NOT_ACTED_ON = ("default_model",)


class EndUserRoutes:
    def __init__(self, ctx: AdminContext) -> None:
        self._ctx = ctx

    def routes(self) -> dict[tuple[str, str], Route]:
        table: dict[tuple[str, str], Route] = {}
        for prefix in ("/end_user", "/customer"):
            table.update(
                {
                    ("POST", f"{prefix}/new"): self.new,
                    ("GET", f"{prefix}/info"): self.info,
                    ("GET", f"{prefix}/list"): self.listing,
                    ("POST", f"{prefix}/update"): self.update,
                    ("POST", f"{prefix}/delete"): self.delete,
                    ("POST", f"{prefix}/block"): self.block,
                    ("POST", f"{prefix}/unblock"): self.unblock,
                }
            )
        return table

    async def new(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, END_USER_FIELDS, required=("user_id",), kept=END_USER_KEPT)
        now = self._ctx.now()
        end_user = EndUserRecord(values.pop("user_id"), created_at=now, updated_at=now)
        await self._apply(end_user, values)
        await self._ctx.store.create_end_user(end_user)
        self._ctx.end_users_changed(end_user.user_id)  # it may have been cached as unknown
        return json_response({**await self._json(end_user), **_warnings(values)}, call)

    async def update(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, END_USER_FIELDS, required=("user_id",), kept=END_USER_KEPT)
        end_user = await self._find(values.pop("user_id"))
        await self._apply(end_user, values)
        changes = {name: getattr(end_user, name) for name in _STORED}
        changed = await self._ctx.store.update_end_user(end_user.user_id, changes)
        if changed is None:
            raise _missing(end_user.user_id)
        self._ctx.end_users_changed(changed.user_id)
        return json_response({**await self._json(changed), **_warnings(values)}, call)

    async def info(self, request: Request, call: AdminCall) -> Response:
        query = read_query(request.query, {"end_user_id": text}, required=("end_user_id",))
        return json_response(await self._json(await self._find(query["end_user_id"])), call)

    async def listing(self, request: Request, call: AdminCall) -> Response:
        page = page_of(read_query(request.query, PAGE_FIELDS), default_size=100, max_size=1000)
        found = await self._ctx.store.list_end_users(offset=page.offset, limit=page.size)
        return json_response([await self._json(end_user) for end_user in found], call)

    async def delete(self, request: Request, call: AdminCall) -> Response:
        user_ids = read_body(request.body, {"user_ids": ids}, required=("user_ids",))["user_ids"]
        deleted = await self._ctx.store.delete_end_users(user_ids)
        for user_id in user_ids:
            self._ctx.end_users_changed(user_id)
        return json_response({"deleted_customers": deleted, "user_ids": user_ids}, call)

    async def block(self, request: Request, call: AdminCall) -> Response:
        return await self._set_blocked(request, call, True)

    async def unblock(self, request: Request, call: AdminCall) -> Response:
        return await self._set_blocked(request, call, False)

    async def _set_blocked(self, request: Request, call: AdminCall, blocked: bool) -> Response:
        """LiteLLM blocks a name whether or not it has a record: one is made for it."""
        user_ids = read_body(request.body, {"user_ids": ids}, required=("user_ids",))["user_ids"]
        store = self._ctx.store
        for user_id in user_ids:
            if await store.update_end_user(user_id, {"blocked": blocked}) is None:
                now = self._ctx.now()
                await store.create_end_user(
                    EndUserRecord(user_id, blocked=blocked, created_at=now, updated_at=now)
                )
            self._ctx.end_users_changed(user_id)
        name = "blocked_users" if blocked else "unblocked_users"
        return json_response({name: user_ids}, call)

    async def _apply(self, end_user: EndUserRecord, values: dict[str, Any]) -> None:
        """Set the validated ``values`` on ``end_user``; inline limits make a budget."""
        for name in ("alias", "blocked", "allowed_model_region", "default_model", "spend"):
            if name in values:
                setattr(end_user, name, values[name])
        if "extra" in values:
            end_user.extra = {**end_user.extra, **values["extra"]}
        limits = {name: values[name] for name in BUDGET_LIMITS if name in values}
        budget_id = values.get("budget_id")
        if any(value is not None for value in limits.values()):
            if budget_id is not None:
                raise BadRequestError(
                    "give either budget_id or the limits of a new budget, not both",
                    param="budget_id",
                    code="budget_and_limits",
                )
            budget = await create_budget(self._ctx, limits, None)
            budget_id = budget.budget_id
        elif "budget_id" not in values:
            return
        await self._use_budget(end_user, budget_id)

    async def _use_budget(self, end_user: EndUserRecord, budget_id: str | None) -> None:
        """Point at ``budget_id``; its duration's first window starts now."""
        end_user.budget_id, end_user.budget_reset_at = budget_id, None
        if budget_id is None:
            return
        budget = await self._ctx.store.get_budget(budget_id)
        if budget is None:
            raise unknown_budget(budget_id)
        if budget.budget_duration:
            end_user.budget_reset_at = self._ctx.now() + parse_duration(budget.budget_duration)

    async def _find(self, user_id: str) -> EndUserRecord:
        end_user = await self._ctx.store.get_end_user(user_id)
        if end_user is None:
            raise _missing(user_id)
        return end_user

    async def _json(self, end_user: EndUserRecord) -> dict[str, Any]:
        budget_id = end_user.budget_id
        budget = await self._ctx.store.get_budget(budget_id) if budget_id else None
        return {
            **end_user.extra,
            "user_id": end_user.user_id,
            "alias": end_user.alias,
            "spend": end_user.spend,
            "blocked": end_user.blocked,
            "allowed_model_region": end_user.allowed_model_region,
            "default_model": end_user.default_model,
            "budget_id": budget_id,
            "budget_reset_at": iso(end_user.budget_reset_at),
            "litellm_budget_table": budget_json(budget) if budget is not None else None,
            "created_at": iso(end_user.created_at),
            "updated_at": iso(end_user.updated_at),
        }


_STORED = (
    "alias", "blocked", "allowed_model_region", "default_model", "spend", "extra",
    "budget_id", "budget_reset_at",
)  # fmt: skip


def _warnings(values: dict[str, Any]) -> dict[str, Any]:
    named = [name for name in _NOT_ACTED_ON if values.get(name) is not None]
    if not named:
        return {}
    return {
        "warnings": [
            f"{' and '.join(named)}: stored and shown; tokenway does not choose models by it yet"
        ]
    }


def _missing(user_id: str) -> NotFoundError:
    return NotFoundError(f"end user '{user_id}' does not exist", code="end_user_not_found")
