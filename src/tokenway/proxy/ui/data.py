"""The UI's own JSON views (under ``/ui/api``), over the store and the router's state:
key search with pages, the overview's series and rankings, filtered logs, a key's usage,
and the models' state. Management changes are not here: the UI sends those to the
management endpoints themselves (``app.py``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from tokenway.errors import NotFoundError
from tokenway.http.server import Request, Response
from tokenway.proxy.admin.responses import Call, Handler, guarded, json_response, key_json
from tokenway.proxy.admin.responses import spend_json as spend_row_json
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
from tokenway.proxy.ui.models_view import ModelsView
from tokenway.proxy.ui.overview import RANGES, Overview, bucket_start, total, usage_json
from tokenway.store.base import KeyRecord, SpendFilter, Store

_SCAN = 500  # keys per store call when searching them all

_LOG_FILTERS: dict[str, Validator] = {
    "key": key_ref,
    "team_id": text,
    "user_id": text,
    "model": text,
    "status": one_of("success", "failure"),
    "start_date": instant,
    "end_date": end_instant,
    "request_id": text,
}


class UIData:
    def __init__(
        self, store: Store, models: ModelsView, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._models = models
        self._clock = clock
        self._overview = Overview(store, clock)

    def routes(self) -> dict[tuple[str, str], Handler]:
        table: dict[tuple[str, str], Handler] = {
            ("GET", "/overview"): self.overview,
            ("GET", "/keys"): self.keys,
            ("GET", "/key/usage"): self.key_usage,
            ("GET", "/logs"): self.logs,
            ("GET", "/models"): self.models,
            ("POST", "/models/test"): self.test_model,
        }
        return {route: guarded(handler) for route, handler in table.items()}

    async def overview(self, request: Request, call: Call) -> Response:
        chosen = read_query(request.query, {"range": one_of(*RANGES)}).get("range") or "24h"
        return json_response(await self._overview.of(chosen), call)

    async def keys(self, request: Request, call: Call) -> Response:
        query = read_query(request.query, {"search": text, "team_id": text, **PAGE_FIELDS})
        page = page_of(query, default_size=20, max_size=200)
        found = await self._all_keys(query.get("team_id"))
        needle = (query.get("search") or "").lower()
        if needle:
            found = [key for key in found if needle in _searchable(key)]
        found.sort(key=lambda key: key.created_at, reverse=True)  # newest first
        shown = found[page.offset : page.offset + page.size]
        return json_response(
            {
                "keys": [key_json(key) for key in shown],
                "total": len(found),
                "page": page.number,
                "pages": max(1, math.ceil(len(found) / page.size)),
            },
            call,
        )

    async def key_usage(self, request: Request, call: Call) -> Response:
        key_hash = read_query(request.query, {"key": key_ref}, required=("key",))["key"]
        key = await self._store.get_key(key_hash)
        if key is None:
            raise NotFoundError("no such key (deleted?)", param="key", code="key_not_found")
        length, bucket = RANGES["30d"]
        now = self._clock()
        where = SpendFilter(key_hash=key_hash, start=now - length)
        series = await self._store.usage_totals(where, bucket="day")
        recent = await self._store.spend_logs(SpendFilter(key_hash=key_hash), limit=10)
        return json_response(
            {
                "key": key_json(key),
                "bucket": bucket,
                "start": bucket_start(now - length, bucket),
                "end": now,
                "series": [usage_json(t) for t in series],
                "totals": usage_json(total(series)),
                "recent": [_log_json(row) for row in recent],
            },
            call,
        )

    async def logs(self, request: Request, call: Call) -> Response:
        query = read_query(request.query, {**_LOG_FILTERS, **PAGE_FIELDS})
        page = page_of(query, default_size=50, max_size=500)
        start, end = time_range(query)
        status = query.get("status")
        where = SpendFilter(
            key_hash=query.get("key"),
            team_id=query.get("team_id"),
            user_id=query.get("user_id"),
            model_alias=query.get("model"),
            start=start,
            end=end,
            request_id=query.get("request_id"),
            failed=None if status is None else status == "failure",
        )
        # One row more than the page tells whether a next page exists (no count query).
        rows = await self._store.spend_logs(where, offset=page.offset, limit=page.size + 1)
        shown = [_log_json(row) for row in rows[: page.size]]
        return json_response(
            {"rows": shown, "page": page.number, "more": len(rows) > page.size}, call
        )

    async def models(self, request: Request, call: Call) -> Response:
        now = self._clock()
        recent = await self._store.usage_totals(SpendFilter(start=now - 3600), group_by="model")
        by_alias = {t.group: usage_json(t) for t in recent}
        groups = self._models.snapshot(now)
        for group in groups:
            group["last_hour"] = by_alias.get(group["alias"])
        return json_response({"models": groups}, call)

    async def test_model(self, request: Request, call: Call) -> Response:
        return json_response(await self._models.test_call(request.body), call)

    async def _all_keys(self, team_id: str | None) -> list[KeyRecord]:
        found: list[KeyRecord] = []
        while True:
            batch = await self._store.list_keys(team_id=team_id, offset=len(found), limit=_SCAN)
            found.extend(batch)
            if len(batch) < _SCAN:
                return found


def _searchable(key: KeyRecord) -> str:
    parts = (key.key_alias, key.key_name, key.user_id, key.team_id, key.key_hash)
    return " ".join(part for part in parts if part).lower()


def _log_json(row: Any) -> dict[str, Any]:
    """A spend row without what the request said (``payload``, when the config keeps it)."""
    entry = spend_row_json(row)
    entry.pop("payload", None)
    return entry
