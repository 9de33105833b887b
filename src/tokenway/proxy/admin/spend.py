"""``/spend/logs`` and ``/global/spend/report``: what was spent, row by row and per day.

Both answer with JSON arrays, as LiteLLM's do. Dates are ISO dates or datetimes in UTC;
a bare ``end_date`` includes that whole day. ``/spend/logs`` pages with ``page``/``size``
(newest first, 100 rows a page unless asked); the store keeps no count of rows, so the
last page is the first one shorter than ``size``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tokenway.http.server import Request, Response
from tokenway.proxy.admin.context import AdminContext
from tokenway.proxy.admin.permissions import AdminCall, Route
from tokenway.proxy.admin.responses import json_response, spend_json
from tokenway.proxy.admin.validation import (
    PAGE_FIELDS,
    Validator,
    end_instant,
    instant,
    key_ref,
    one_of,
    page_of,
    read_query,
    text,
    time_range,
)
from tokenway.store.base import GroupBy, SpendFilter, SpendTotal

# group_by value -> (store grouping, list name in a day, an entry's id field)
_GROUPS: dict[str, tuple[GroupBy, str, str]] = {
    "key": ("key", "keys", "api_key"),
    "api_key": ("key", "keys", "api_key"),  # LiteLLM's name
    "user": ("user", "users", "user_id"),
    "team": ("team", "teams", "team_id"),
    "model": ("model", "models", "model"),
}

_FILTERS: dict[str, Validator] = {
    "api_key": key_ref,  # a secret or a hash
    "user_id": text,
    "team_id": text,
    "model": text,
    "start_date": instant,
    "end_date": end_instant,
}


class SpendRoutes:
    def __init__(self, ctx: AdminContext) -> None:
        self._ctx = ctx

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("GET", "/spend/logs"): self.logs,
            ("GET", "/global/spend/report"): self.report,
        }

    async def logs(self, request: Request, call: AdminCall) -> Response:
        spec = {**_FILTERS, "request_id": text, **PAGE_FIELDS}
        query = read_query(request.query, spec)
        page = page_of(query, default_size=100, max_size=1000)
        rows = await self._ctx.store.spend_logs(_filter(query), offset=page.offset, limit=page.size)
        return json_response([spend_json(row) for row in rows], call)

    async def report(self, request: Request, call: AdminCall) -> Response:
        query = read_query(request.query, {**_FILTERS, "group_by": one_of(*_GROUPS)})
        group_by, list_name, id_field = _GROUPS[query.get("group_by") or "team"]
        where = _filter(query)
        totals = await self._ctx.store.spend_totals(group_by, where)
        days = _by_day(totals, list_name, id_field)
        if group_by == "team":
            await self._name_teams(days, where)
        return json_response(days, call)

    async def _name_teams(self, days: list[dict[str, Any]], where: SpendFilter) -> None:
        """LiteLLM's ``team_name`` (the alias, else the id; "Unassigned" for spend outside
        any team) and ``metadata``: the team's spend that day per key."""
        names = {t.team_id: t.team_alias or t.team_id for t in await self._ctx.all_teams()}
        per_key: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        for total in await self._ctx.store.spend_by_team_and_key(where):
            per_key.setdefault((total.day, total.team_id), []).append(
                {
                    "api_key": total.key_hash,
                    "spend": total.cost,
                    "requests": total.requests,
                    "total_tokens": total.tokens,
                }
            )
        for day in days:
            date = day["group_by_day"][:10]
            for team in day["teams"]:
                team_id = team["team_id"]
                team["team_name"] = names.get(team_id, team_id) if team_id else "Unassigned"
                team["metadata"] = per_key.get((date, team_id), [])


def _filter(query: dict[str, Any]) -> SpendFilter:
    start, end = time_range(query)
    return SpendFilter(
        key_hash=query.get("api_key"),
        user_id=query.get("user_id"),
        team_id=query.get("team_id"),
        model_alias=query.get("model"),
        start=start,
        end=end,
        request_id=query.get("request_id"),
    )


def _by_day(totals: Iterable[SpendTotal], list_name: str, id_field: str) -> list[dict[str, Any]]:
    """Per UTC day (oldest first): each group's spend, requests and tokens."""
    days: dict[str, list[dict[str, Any]]] = {}
    for total in totals:
        days.setdefault(total.day, []).append(
            {
                id_field: total.group,
                "total_spend": total.cost,
                "requests": total.requests,
                "prompt_tokens": total.prompt_tokens,
                "completion_tokens": total.completion_tokens,
                "total_tokens": total.prompt_tokens + total.completion_tokens,
            }
        )
    # LiteLLM writes a report day as the midnight it starts at.
    return [
        {"group_by_day": f"{day}T00:00:00+00:00", list_name: entries}
        for day, entries in days.items()
    ]
