"""The route table, and failures that are not the caller's: the store down, the cache
callback failing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from tests.proxy.admin.admin_helpers import SERVED, Admin, running_admin

from tokenway.proxy.admin import AdminAPI
from tokenway.proxy.admin.responses import scrub
from tokenway.store import open_store

ENDPOINTS = [
    ("POST", "/key/generate"), ("GET", "/key/info"), ("GET", "/key/list"),
    ("POST", "/key/update"), ("POST", "/key/delete"), ("POST", "/key/regenerate"),
    ("POST", "/key/block"), ("POST", "/key/unblock"),
    ("POST", "/user/new"), ("GET", "/user/info"), ("POST", "/user/update"),
    ("POST", "/user/delete"), ("GET", "/user/list"),
    ("POST", "/team/new"), ("GET", "/team/info"), ("POST", "/team/update"),
    ("POST", "/team/delete"), ("GET", "/team/list"),
    ("POST", "/team/member_add"), ("POST", "/team/member_delete"),
    ("POST", "/team/member_update"),
    ("GET", "/spend/logs"), ("GET", "/global/spend/report"),
    ("POST", "/budget/new"), ("POST", "/budget/update"), ("POST", "/budget/info"),
    ("GET", "/budget/list"), ("POST", "/budget/delete"), ("GET", "/budget/settings"),
    ("POST", "/organization/new"), ("GET", "/organization/info"),
    ("POST", "/organization/info"), ("GET", "/organization/list"),
    ("PATCH", "/organization/update"), ("POST", "/organization/update"),
    ("DELETE", "/organization/delete"), ("POST", "/organization/delete"),
    ("POST", "/organization/member_add"), ("PATCH", "/organization/member_update"),
    ("POST", "/organization/member_update"), ("DELETE", "/organization/member_delete"),
    ("POST", "/organization/member_delete"),
    *(
        (method, f"{prefix}/{action}")
        for prefix in ("/end_user", "/customer")
        for method, action in (
            ("POST", "new"), ("GET", "info"), ("GET", "list"), ("POST", "update"),
            ("POST", "delete"), ("POST", "block"), ("POST", "unblock"),
        )
    ),
]  # fmt: skip


def test_the_route_table_is_the_litellm_surface(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'unused.db'}")  # never opened: no I/O here
    api = AdminAPI(store, served_models=SERVED, on_key_change=lambda key_hash: None)
    assert sorted(api.routes()) == sorted(ENDPOINTS)


# A valid call per endpoint, so only the store can fail it.
_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/key/generate", {"key_alias": "x"}),
    ("GET", "/key/info", {"key": "sk-some-key-1234"}),
    ("GET", "/key/list", {}),
    ("POST", "/key/update", {"key": "sk-some-key-1234", "rpm_limit": 1}),
    ("POST", "/key/delete", {"keys": ["sk-some-key-1234"]}),
    ("POST", "/key/regenerate", {"key": "sk-some-key-1234"}),
    ("POST", "/key/block", {"key": "sk-some-key-1234"}),
    ("POST", "/user/new", {"user_id": "u"}),
    ("GET", "/user/list", {}),
    ("POST", "/team/delete", {"team_ids": ["t"]}),
    ("GET", "/team/list", {}),
    ("GET", "/spend/logs", {"api_key": "sk-some-key-1234"}),
    ("GET", "/global/spend/report", {}),
]


@pytest.mark.parametrize(("method", "path", "data"), _CALLS)
async def test_store_down_is_503_without_secrets(
    admin_store_url: str, method: str, path: str, data: dict[str, Any]
) -> None:
    store = open_store(admin_store_url)  # never opened: every call fails as StoreError
    async with running_admin(store, admin_store_url, None) as admin:
        reply = await (admin.post(path, data) if method == "POST" else admin.get(path, **data))
    assert reply.status == 503, reply.raw
    assert reply.error["type"] == "server_error"
    assert reply.error["code"] == "store_unavailable"
    assert "retry" in reply.error["message"]
    assert "sk-some-key" not in reply.raw.decode()
    assert reply.headers["x-request-id"].startswith("req-")


def test_store_messages_lose_passwords_and_keys() -> None:
    message = (
        "cannot reach postgresql://admin:hunter2@db.internal:5432/tokenway "
        "while looking up sk-live-abcdef123456"
    )
    scrubbed = scrub(message)
    assert "hunter2" not in scrubbed and "abcdef123456" not in scrubbed
    assert "postgresql://admin:***@db.internal:5432/tokenway" in scrubbed
    assert scrub("SQLite database 'x.db': disk I/O error") == (
        "SQLite database 'x.db': disk I/O error"
    )


async def test_a_failing_cache_callback_does_not_undo_the_change(
    admin_store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(key_hash: str) -> None:
        raise RuntimeError("cache gone")

    store = open_store(admin_store_url)
    await store.open()
    try:
        async with running_admin(store, admin_store_url, None, on_key_change=broken) as admin:
            key = await admin.new_key()
            with caplog.at_level(logging.ERROR, "tokenway.proxy.admin"):
                reply = await admin.post("/key/block", {"key": key["token"]})
            assert reply.status == 200 and reply.json["blocked"] is True
            assert "on_key_change failed" in caplog.text
    finally:
        await store.close()


async def test_errors_carry_the_request_id(admin: Admin) -> None:
    reply = await admin.get("/key/info", key="sk-unknown")
    assert reply.status == 404 and reply.headers["x-request-id"].startswith("req-")
