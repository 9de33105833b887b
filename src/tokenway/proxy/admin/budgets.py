"""``/budget/*``: LiteLLM's shared budget objects.

A budget holds limits only: ``max_budget``, ``soft_budget``, rpm/tpm/parallel limits and
a ``budget_duration``. End users (``/end_user/*``) and organizations point at one by
``budget_id``; an end user's limits are enforced on every request that names it in
``user`` (``tokenway.proxy.accounting.end_users``). ``model_max_budget`` is stored and
shown, not enforced, and the answer says so. ``/budget/info`` takes
``{"budgets": [ids]}``, ``/budget/delete`` ``{"id": ...}``, as LiteLLM's do.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tokenway.errors import BadRequestError, NotFoundError
from tokenway.http.server import Request, Response
from tokenway.proxy.admin.context import AdminContext
from tokenway.proxy.admin.permissions import AdminCall, Route
from tokenway.proxy.admin.responses import iso, json_response
from tokenway.proxy.admin.validation import (
    FIELD_SCHEMAS,
    PAGE_FIELDS,
    Validator,
    count,
    duration,
    ids,
    instant,
    money,
    page_of,
    read_body,
    read_query,
    small_count,
    text,
)
from tokenway.store.durations import parse_duration
from tokenway.store.entities import BudgetRecord


def reset_time(name: str, value: Any) -> datetime | None:
    """When the first window ends (an ISO datetime), or null for now + budget_duration."""
    return None if value is None else instant(name, value)


FIELD_SCHEMAS[reset_time] = {"type": ["string", "null"], "format": "date-time"}

# The limits a budget holds, by LiteLLM's names (also accepted inline by /end_user/new
# and /organization/new, which then make a budget of their own).
BUDGET_LIMITS: dict[str, Validator] = {
    "max_budget": money,
    "soft_budget": money,
    "budget_duration": duration,
    "rpm_limit": small_count,  # PostgreSQL INTEGER columns
    "tpm_limit": count,
    "max_parallel_requests": small_count,
    "budget_reset_at": reset_time,
}
BUDGET_KEPT = frozenset({"model_max_budget"})  # stored and shown, not enforced
BUDGET_FIELDS: dict[str, Validator] = {"budget_id": text, **BUDGET_LIMITS}
_NOT_ENFORCED = "model_max_budget is stored and shown; requests are not capped by it"


class BudgetRoutes:
    def __init__(self, ctx: AdminContext) -> None:
        self._ctx = ctx

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/budget/new"): self.new,
            ("POST", "/budget/update"): self.update,
            ("POST", "/budget/info"): self.info,
            ("GET", "/budget/list"): self.listing,
            ("POST", "/budget/delete"): self.delete,
            ("GET", "/budget/settings"): self.settings,
        }

    async def new(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, BUDGET_FIELDS, kept=BUDGET_KEPT)
        budget = await create_budget(self._ctx, values, values.get("budget_id"))
        return json_response({**budget_json(budget), **_warnings(values)}, call)

    async def update(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, BUDGET_FIELDS, required=("budget_id",), kept=BUDGET_KEPT)
        budget_id = values.pop("budget_id")
        budget = await self._find(budget_id)
        changes = budget_changes(values, self._ctx.now(), budget.extra)
        changed = await self._ctx.store.update_budget(budget_id, changes)
        if changed is None:
            raise _missing(budget_id)
        self._ctx.end_users_changed(None)  # every end user on it is read again
        return json_response({**budget_json(changed), **_warnings(values)}, call)

    async def info(self, request: Request, call: AdminCall) -> Response:
        budget_ids = read_body(request.body, {"budgets": ids}, required=("budgets",))["budgets"]
        found = [await self._ctx.store.get_budget(budget_id) for budget_id in budget_ids]
        return json_response([budget_json(b) for b in found if b is not None], call)

    async def listing(self, request: Request, call: AdminCall) -> Response:
        page = page_of(read_query(request.query, PAGE_FIELDS), default_size=100, max_size=1000)
        budgets = await self._ctx.store.list_budgets(offset=page.offset, limit=page.size)
        return json_response([budget_json(b) for b in budgets], call)

    async def delete(self, request: Request, call: AdminCall) -> Response:
        budget_id = read_body(request.body, {"id": text}, required=("id",))["id"]
        budget = await self._find(budget_id)
        await self._ctx.store.delete_budgets([budget_id])
        self._ctx.end_users_changed(None)  # an end user on it has no limits any more
        return json_response(budget_json(budget), call)

    async def settings(self, request: Request, call: AdminCall) -> Response:
        """LiteLLM's ``/budget/settings``: each field of a budget with its value."""
        query = read_query(request.query, {"budget_id": text}, required=("budget_id",))
        shown = budget_json(await self._find(query["budget_id"]))
        return json_response(
            [
                {"field_name": name, "field_type": _TYPES[name], "field_value": shown[name]}
                for name in _TYPES
            ],
            call,
        )

    async def _find(self, budget_id: str) -> BudgetRecord:
        budget = await self._ctx.store.get_budget(budget_id)
        if budget is None:
            raise _missing(budget_id)
        return budget


_TYPES = {
    "max_budget": "float",
    "soft_budget": "float",
    "max_parallel_requests": "integer",
    "tpm_limit": "integer",
    "rpm_limit": "integer",
    "budget_duration": "string",
}


async def create_budget(
    ctx: AdminContext, values: dict[str, Any], budget_id: str | None
) -> BudgetRecord:
    """A new budget from validated ``values`` (the limits among them; others ignored)."""
    now = ctx.now()
    changes = budget_changes(values, now, {})
    budget = BudgetRecord(budget_id or str(uuid.uuid4()), created_at=now, updated_at=now)
    for name, value in changes.items():
        setattr(budget, name, value)
    await ctx.store.create_budget(budget)
    return budget


def budget_changes(values: dict[str, Any], now: float, extra: dict[str, Any]) -> dict[str, Any]:
    """The store's changes for the budget fields among ``values``: a new duration starts
    its first window now, unless ``budget_reset_at`` is given."""
    changes: dict[str, Any] = {n: values[n] for n in BUDGET_LIMITS if n in values}
    reset_at = changes.pop("budget_reset_at", None)
    if isinstance(reset_at, datetime):
        changes["budget_reset_at"] = reset_at.timestamp()
    elif "budget_duration" in changes:
        period = changes["budget_duration"]
        changes["budget_reset_at"] = None if period is None else now + parse_duration(period)
    kept = values.get("extra") or {}
    if kept:
        changes["extra"] = {**extra, **{n: v for n, v in kept.items() if n in BUDGET_KEPT}}
    return changes


def budget_json(budget: BudgetRecord) -> dict[str, Any]:
    return {
        **budget.extra,
        "budget_id": budget.budget_id,
        "max_budget": budget.max_budget,
        "soft_budget": budget.soft_budget,
        "max_parallel_requests": budget.max_parallel_requests,
        "tpm_limit": budget.tpm_limit,
        "rpm_limit": budget.rpm_limit,
        "budget_duration": budget.budget_duration,
        "budget_reset_at": iso(budget.budget_reset_at),
        "created_at": iso(budget.created_at),
        "updated_at": iso(budget.updated_at),
    }


def _warnings(values: dict[str, Any]) -> dict[str, Any]:
    kept = values.get("extra") or {}
    return {"warnings": [_NOT_ENFORCED]} if kept.get("model_max_budget") else {}


def _missing(budget_id: str) -> NotFoundError:
    return NotFoundError(f"budget '{budget_id}' does not exist", code="budget_not_found")


def unknown_budget(budget_id: str) -> BadRequestError:
    return BadRequestError(
        f"budget '{budget_id}' does not exist; create it first with POST /budget/new",
        param="budget_id",
        code="unknown_budget",
    )
