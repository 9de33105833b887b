"""Every field is checked: a bad request is a 400 in the OpenAI envelope naming the field.

These checks run before the store is asked, so they share one API over SQLite, started
once for the module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from tests.proxy.admin.admin_helpers import Admin, admin_over

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Admin]:
    path = tmp_path_factory.mktemp("admin") / "admin.db"
    async with admin_over(f"sqlite:///{path}") as running:
        yield running


_BAD_SETTINGS: list[tuple[str, Any]] = [
    ("key_alias", 5),
    ("key_alias", ""),
    ("models", "llama"),
    ("models", [1]),
    ("max_budget", -1),
    ("max_budget", "10"),
    ("max_budget", True),
    ("budget_duration", "monthly"),
    ("budget_duration", "0d"),
    ("budget_duration", 30),
    ("rpm_limit", -5),
    ("rpm_limit", 1.5),
    ("tpm_limit", "100"),
    ("max_parallel_requests", -1),
    ("metadata", ["a"]),
    ("key_alias", "a\x00b"),  # PostgreSQL's TEXT cannot hold NUL
    ("rpm_limit", 2**31),  # PostgreSQL INTEGER
    ("max_parallel_requests", 2**31),
    ("tpm_limit", 2**63),  # BIGINT, and SQLite's INTEGER
    ("budget_duration", "99999999999d"),
]


@pytest.mark.parametrize(
    ("field", "value"),
    [*_BAD_SETTINGS, ("duration", "soon"), ("duration", "99999999999d"), ("blocked", 1)],
)
async def test_bad_key_fields(admin: Admin, field: str, value: Any) -> None:
    for path, extra in (("/key/generate", {}), ("/key/update", {"key": "sk-any"})):
        reply = await admin.post(path, {**extra, field: value})
        assert reply.status == 400, (path, reply.raw)
        assert reply.error["param"] == field
        assert reply.error["type"] == "invalid_request_error"
        assert reply.error["code"] == "invalid_value"


@pytest.mark.parametrize(("field", "value"), [*_BAD_SETTINGS, ("user_role", "boss")])
async def test_bad_user_fields(admin: Admin, field: str, value: Any) -> None:
    # On /user/update, key_alias is one of LiteLLM's fields kept as given (not validated).
    paths = ("/user/new",) if field == "key_alias" else ("/user/new", "/user/update")
    for path in paths:
        reply = await admin.post(path, {"user_id": "u", field: value})
        assert reply.status == 400, (path, reply.raw)
        assert reply.error["param"] == field


@pytest.mark.parametrize(("field", "value"), [*_BAD_SETTINGS, ("team_alias", 3)])
async def test_bad_team_fields(admin: Admin, field: str, value: Any) -> None:
    for path in ("/team/new", "/team/update"):
        reply = await admin.post(path, {"team_id": "t", field: value})
        assert reply.status == 400, (path, reply.raw)
        assert reply.error["param"] == field


@pytest.mark.parametrize(
    "path",
    ["/key/generate", "/key/update", "/key/delete", "/key/regenerate", "/key/block",
     "/user/new", "/user/update", "/user/delete", "/team/new", "/team/update", "/team/delete"],
)  # fmt: skip
async def test_unknown_fields_are_named(admin: Admin, path: str) -> None:
    reply = await admin.post(path, {"zeta": 1, "alpha": 2})
    assert reply.status == 400
    assert reply.error["code"] == "unknown_field" and reply.error["param"] == "alpha"
    assert "alpha, zeta" in reply.error["message"]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/key/list", {"usr_id": "x"}),
        ("/key/info", {"key": "sk-a", "verbose": "1"}),
        ("/user/list", {"sort": "spend"}),
        ("/team/list", {"filter": "x"}),
        ("/spend/logs", {"key": "x"}),
        ("/global/spend/report", {"group": "team"}),
    ],
)
async def test_unknown_query_parameters_are_named(
    admin: Admin, path: str, query: dict[str, str]
) -> None:
    reply = await admin.get(path, **query)
    assert reply.status == 400 and reply.error["code"] == "unknown_field"


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]"])
async def test_bodies_must_be_json_objects(admin: Admin, raw: bytes) -> None:
    reply = await admin.post("/key/generate", raw)
    assert reply.status == 400 and reply.error["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/key/update", {"rpm_limit": 1}, "key"),
        ("/key/regenerate", {}, "key"),
        ("/key/block", {"key": ""}, "key"),
        ("/key/unblock", {"key": 5}, "key"),
        ("/key/delete", {"keys": []}, "keys"),
        ("/key/delete", {"keys": "sk-a"}, "keys"),
        ("/key/delete", {"key_aliases": [3]}, "key_aliases"),
        ("/user/update", {"max_budget": 1}, "user_id"),
        ("/user/delete", {"user_ids": "u"}, "user_ids"),
        ("/user/delete", {}, "user_ids"),
        ("/team/update", {}, "team_id"),
        ("/team/delete", {"team_ids": []}, "team_ids"),
        ("/user/new", {"auto_create_key": "yes"}, "auto_create_key"),
    ],
)
async def test_missing_or_malformed_identities(
    admin: Admin, path: str, body: dict[str, Any], param: str
) -> None:
    reply = await admin.post(path, body)
    assert reply.status == 400, reply.raw
    assert reply.error["param"] == param


@pytest.mark.parametrize(
    ("path", "query", "param"),
    [
        ("/key/list", {"page": "0"}, "page"),
        ("/key/list", {"size": "-1"}, "size"),
        ("/key/list", {"size": "5000"}, "size"),
        ("/key/list", {"page": "²"}, "page"),
        ("/key/list", {"page": "1" * 5000}, "page"),
        ("/key/list", {"page": str(10**9 + 1)}, "page"),
        ("/spend/logs", {"end_date": "9999-12-31"}, "end_date"),
        ("/key/list", {"return_full_object": "maybe"}, "return_full_object"),
        ("/user/list", {"page_size": "x"}, "page_size"),
        ("/user/info", {}, "user_id"),
        ("/team/info", {}, "team_id"),
        ("/spend/logs", {"start_date": "yesterday"}, "start_date"),
        ("/spend/logs", {"end_date": "2026-13-01"}, "end_date"),
        ("/spend/logs", {"start_date": "2026-02-01", "end_date": "2026-01-01"}, "end_date"),
        ("/global/spend/report", {"group_by": "planet"}, "group_by"),
    ],
)
async def test_bad_query_values(admin: Admin, path: str, query: dict[str, str], param: str) -> None:
    reply = await admin.get(path, **query)
    assert reply.status == 400, reply.raw
    assert reply.error["param"] == param


async def test_a_null_limit_clears_it(admin: Admin) -> None:
    key = await admin.new_key(max_budget=5, budget_duration="1d")
    reply = await admin.post(
        "/key/update", {"key": key["token"], "max_budget": None, "budget_duration": None}
    )
    body = reply.json
    assert body["max_budget"] is None and body["budget_duration"] is None
    assert body["budget_reset_at"] is None
