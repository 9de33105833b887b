"""LiteLLM's request fields: implemented where they mean something, else stored and echoed;
``models`` lists take any name (access groups, ``*``, ``all-proxy-models``) with a warning
for names not served. On SQLite and PostgreSQL (the ``admin`` fixture)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.proxy.admin.admin_helpers import SERVED, Admin

from tokenway.proxy.admin.litellm_fields import KEY_NEW, TEAM_NEW, USER_NEW

# What LiteLLM's own clients and tests send (tests/test_keys.py's generate_key).
LITELLM_KEY_BODY: dict[str, Any] = {
    "models": ["azure-models", "gpt-4", "dall-e-3"],
    "aliases": {"mistral-7b": "gpt-3.5-turbo"},
    "duration": None,
    "max_budget": None,
    "budget_duration": None,
    "max_parallel_requests": None,
    "user_id": None,
    "team_id": None,
    "metadata": None,
}


async def test_a_litellm_key_body_is_accepted_kept_and_echoed(admin: Admin) -> None:
    reply = await admin.post("/key/generate", LITELLM_KEY_BODY)
    assert reply.status == 200, reply.raw
    body = reply.json
    assert body["aliases"] == {"mistral-7b": "gpt-3.5-turbo"}
    assert body["token_id"] == body["token"] != body["key"]
    assert body["models"] == ["azure-models", "gpt-4", "dall-e-3"]
    info = (await admin.get("/key/info", key=body["key"])).json["info"]
    assert info["aliases"] == {"mistral-7b": "gpt-3.5-turbo"}


async def test_an_update_keeps_the_litellm_fields_it_does_not_name(admin: Admin) -> None:
    key = await admin.new_key(tags=["a"], aliases={"x": SERVED[0]})
    reply = await admin.post("/key/update", {"key": key["key"], "tags": ["b"], "soft_budget": 2})
    assert reply.status == 200, reply.raw
    assert reply.json["tags"] == ["b"]
    assert reply.json["soft_budget"] == 2
    assert reply.json["aliases"] == {"x": SERVED[0]}


async def test_kept_fields_never_replace_tokenways_own(admin: Admin) -> None:
    key = await admin.new_key(key_type="llm_api", permissions={"token": "forged"})
    assert key["key_type"] == "llm_api"
    assert key["token"] != "forged" and key["permissions"] == {"token": "forged"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/key/generate", {"not_a_litellm_field": 1}),
        ("/user/new", {"not_a_litellm_field": 1}),
        ("/team/new", {"not_a_litellm_field": 1}),
    ],
)
async def test_fields_litellm_does_not_know_are_still_refused(
    admin: Admin, path: str, body: dict[str, Any]
) -> None:
    reply = await admin.post(path, body)
    assert reply.status == 400
    assert reply.error["code"] == "unknown_field"
    assert reply.error["param"] == "not_a_litellm_field"


async def test_user_fields_kept_and_spend_set(admin: Admin) -> None:
    reply = await admin.post("/user/new", {"user_id": "u1", "user_alias": "Ann", "spend": 3})
    assert reply.status == 200, reply.raw
    assert reply.json["user_alias"] == "Ann" and reply.json["spend"] == 3
    reply = await admin.post("/user/update", {"user_id": "u1", "spend": 0, "blocked": False})
    assert reply.status == 200, reply.raw
    assert reply.json["spend"] == 0 and reply.json["blocked"] is False
    info = (await admin.get("/user/info", user_id="u1")).json["user_info"]
    assert info["user_alias"] == "Ann" and info["spend"] == 0


async def test_user_new_duration_and_key_alias_make_the_users_key(admin: Admin) -> None:
    reply = await admin.post("/user/new", {"user_id": "u2", "duration": "1h", "key_alias": "k2"})
    assert reply.status == 200, reply.raw
    info = (await admin.get("/key/info", key=reply.json["key"])).json["info"]
    assert info["key_alias"] == "k2"
    assert info["expires"] == "2026-01-01T01:00:00+00:00"  # the clock starts at midnight
    assert (
        "duration" not in reply.json
        and "key_alias" not in ((await admin.get("/user/info", user_id="u2")).json["user_info"])
    )


async def test_team_litellm_fields_kept_and_merged(admin: Admin) -> None:
    members = [{"role": "admin", "user_id": "u9"}]
    reply = await admin.post(
        "/team/new", {"team_id": "t1", "members_with_roles": members, "tags": ["x"]}
    )
    assert reply.status == 200, reply.raw
    reply = await admin.post("/team/update", {"team_id": "t1", "model_aliases": {"a": "b"}})
    assert reply.status == 200, reply.raw
    assert reply.json["model_aliases"] == {"a": "b"} and reply.json["tags"] == ["x"]
    info = (await admin.get("/team/info", team_id="t1")).json["team_info"]
    creator = {"user_id": "default_user_id", "user_email": None, "role": "admin"}
    assert info["members_with_roles"] == [{**members[0], "user_email": None}, creator]


@pytest.mark.parametrize("path", ["/key/generate", "/user/new", "/team/new"])
async def test_models_not_served_are_kept_with_a_warning(admin: Admin, path: str) -> None:
    reply = await admin.post(path, {"models": [SERVED[0], "gpt-9"]})
    assert reply.status == 200, reply.raw
    assert reply.json["models"] == [SERVED[0], "gpt-9"]
    [warning] = reply.json["warnings"]
    assert "gpt-9" in warning and SERVED[0] not in warning


@pytest.mark.parametrize("names", [["*"], ["all-proxy-models"], ["small-models"], SERVED[:1]])
async def test_served_names_and_groups_draw_no_warning(admin: Admin, names: list[str]) -> None:
    for path in ("/key/generate", "/user/new", "/team/new"):
        reply = await admin.post(path, {"models": names})
        assert reply.status == 200, reply.raw
        assert "warnings" not in reply.json


async def test_an_update_warns_about_the_models_it_names(admin: Admin) -> None:
    key = await admin.new_key()
    reply = await admin.post("/key/update", {"key": key["key"], "models": ["nope"]})
    assert reply.status == 200 and "nope" in reply.json["warnings"][0]


def test_the_kept_lists_leave_out_what_tokenway_implements() -> None:
    implemented = {"models", "max_budget", "metadata", "spend", "rpm_limit", "budget_duration"}
    for kept in (KEY_NEW, USER_NEW, TEAM_NEW):
        assert kept.isdisjoint(implemented)


@pytest.mark.parametrize("path", ["/key/generate", "/user/new"])
async def test_spend_may_not_be_null(admin: Admin, path: str) -> None:
    reply = await admin.post(path, {"spend": None})
    assert reply.status == 400 and reply.error["param"] == "spend"


async def test_a_chosen_key_is_used_and_stored_hashed(admin: Admin) -> None:
    chosen = "sk-my-own-chosen-key-1"
    key = await admin.new_key(key=chosen)
    assert key["key"] == chosen and key["token"] != chosen
    info = await admin.get("/key/info", key=chosen)
    assert info.status == 200 and chosen not in info.raw.decode()
    again = await admin.post("/key/generate", {"key": chosen})
    assert again.status == 409


@pytest.mark.parametrize("bad", ["short", "sk-short", "pk-long-enough-but-wrong", 12])
async def test_a_chosen_key_must_look_like_one(admin: Admin, bad: Any) -> None:
    reply = await admin.post("/key/generate", {"key": bad})
    assert reply.status == 400 and reply.error["param"] == "key"


async def test_a_password_is_never_stored(admin: Admin) -> None:
    await admin.post("/user/new", {"user_id": "pw"})
    reply = await admin.post("/user/update", {"user_id": "pw", "password": "hunter2"})
    assert reply.status == 400 and reply.error["param"] == "password"
