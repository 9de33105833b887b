"""A real management API for tests: the real SQLite store in a temporary directory, the
handlers behind a real HTTP server on a loopback port, called with the real async client."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.server import HTTPServer, Request, Response
from tokenway.proxy.accounting.keys import KeyContext
from tokenway.proxy.admin import AdminAPI
from tokenway.proxy.errors import JSON_HEADERS, envelope
from tokenway.store import open_store
from tokenway.store.base import SpendRow, Store

SERVED = ("llama-3.1-8b-instruct", "llama-3.2-3b-instruct", "mistral-nemo-12b-instruct")
ACCESS_GROUPS = {"small-models": frozenset({SERVED[1]})}
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
_ids = itertools.count()


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)

    @property
    def error(self) -> dict[str, Any]:
        body = self.json
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        return dict(body["error"])


@dataclass
class Admin:
    """The running API plus what a test inspects: the store, its file, the callbacks."""

    store: Store
    db_path: Path | None  # the SQLite file; None on PostgreSQL
    store_url: str
    clock: Clock
    port: int
    http: AsyncHTTPClient
    changed: list[str] = field(default_factory=list)
    end_users_changed: list[str | None] = field(default_factory=list)

    async def post(self, path: str, body: Any) -> Reply:
        return await self.send("POST", path, body)

    async def send(self, method: str, path: str, body: Any) -> Reply:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self._send(method, path, raw)

    async def get(self, path: str, **query: Any) -> Reply:
        return await self._send("GET", f"{path}?{urlencode(query)}" if query else path, b"")

    async def _send(self, method: str, target: str, body: bytes) -> Reply:
        url = f"http://127.0.0.1:{self.port}{target}"
        headers = [("content-type", "application/json")] if body else []
        response = await self.http.request(method, url, headers=headers, body=body, timeout=5)
        return Reply(response.status, response.headers, await response.read(timeout=5))

    async def new_key(self, **fields: Any) -> dict[str, Any]:
        reply = await self.post("/key/generate", fields)
        assert reply.status == 200, reply.raw
        return dict(reply.json)


@dataclass
class _Call:
    request_id: str
    key: KeyContext | None = None  # the master key


@contextlib.asynccontextmanager
async def running_admin(
    store: Store,
    store_url: str,
    db_path: Path | None,
    on_key_change: Callable[[str], None] | None = None,
) -> AsyncIterator[Admin]:
    clock = Clock()
    changed: list[str] = []
    end_users_changed: list[str | None] = []
    notify = on_key_change or changed.append
    api = AdminAPI(
        store,
        served_models=SERVED,
        on_key_change=notify,
        clock=clock,
        access_groups=ACCESS_GROUPS,
        on_end_user_change=end_users_changed.append,
    )
    routes = api.routes()

    async def app(request: Request) -> Response:
        handler = routes.get((request.method, request.path))
        if handler is None:
            body = envelope(f"no route {request.method} {request.path}", "invalid_request_error")
            return Response(404, list(JSON_HEADERS), body)
        return await handler(request, _Call(f"req-{next(_ids)}"))

    server = HTTPServer(app)
    await server.start("127.0.0.1", 0)
    http = AsyncHTTPClient()
    try:
        yield Admin(store, db_path, store_url, clock, server.port, http, changed, end_users_changed)
    finally:
        await http.aclose()
        await server.shutdown(1.0)


async def stored_key_rows(admin: Admin) -> list[dict[str, Any]]:
    """The keys table as the database holds it, read around the store."""
    if admin.db_path is not None:
        with sqlite3.connect(admin.db_path) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM keys")]
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(admin.store_url, timeout=3)
    try:
        return [dict(row) for row in await conn.fetch("SELECT * FROM keys")]
    finally:
        await conn.close()


def spend_row(n: int, **fields: Any) -> SpendRow:
    values: dict[str, Any] = {
        "request_id": f"req-spend-{n}",
        "key_hash": None,
        "user_id": None,
        "team_id": None,
        "model_alias": SERVED[0],
        "deployment": "dep-1",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost": 0.25,
        "latency_ms": 120.0,
        "status": 200,
        "error_code": None,
        "stream": False,
        "started_at": START + n * 60,
        **fields,
    }
    return SpendRow(**values)


@contextlib.asynccontextmanager
async def admin_over(url: str) -> AsyncIterator[Admin]:
    db_path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:") else None
    store = open_store(url)
    await store.open()
    try:
        async with running_admin(store, url, db_path) as running:
            yield running
    finally:
        await store.close()
