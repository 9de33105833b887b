"""Issue 11, item 5 (and item 9's ``include_usage: "no"``): bad input is a 400, never a 500.

Each payload goes through the real proxy over a raw socket. The answer must be a 400 in
the OpenAI envelope naming the parameter at fault, and nothing may be stored: no key,
user or team appears, and a failing chat request reaches no upstream.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.proxy.conftest import RunningProxy
from tests.security.wire import MASTER_AUTH, WireResponse, exchange, request_bytes, send_json

from tokenway.emulator import Emulator

CHAT = "/v1/chat/completions"
MODEL = "llama-3.1-8b-instruct"
USER = {"role": "user", "content": "Hi"}


def _chat(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [USER], **extra}


def _nested(depth: int) -> bytes:
    """A JSON value nested ``depth`` deep, inside an otherwise valid chat body."""
    inner = b"[" * depth + b"]" * depth
    return b'{"model":"%s","messages":[{"role":"user","content":"Hi"}],"metadata":{"x":%s}}' % (
        MODEL.encode(),
        inner,
    )


def _assert_refused(response: WireResponse, param: str | None) -> None:
    assert response.status == 400, (response.status, response.body[:300])
    error = response.error()
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param, error


_CHAT_PAYLOADS: list[tuple[dict[str, Any], str]] = [
    (_chat(messages=[{"role": ["user"], "content": "Hi"}]), "messages[0].role"),
    (_chat(messages=[{"role": {"r": "user"}, "content": "Hi"}]), "messages[0].role"),
    (_chat(response_format={"type": ["json_object"]}), "response_format.type"),
    (
        _chat(
            tool_choice={"type": "function", "function": {"name": "f"}},
            tools=[{"type": "function", "function": "f"}],
        ),
        "tools[0].function",
    ),
    (_chat(stream=True, stream_options={"include_usage": "no"}), "stream_options.include_usage"),
    (_chat(messages=[{"role": "user", "content": [{"type": ["text"]}]}]),
     "messages[0].content[0].type"),
    (_chat(messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}]),
     "messages[0].content[0].text"),
    (_chat(messages=[{"role": "user", "content": [7]}]), "messages[0].content[0]"),
    (_chat(messages=[{"role": "user", "content": "x", "name": ["n"]}]), "messages[0].name"),
    (
        _chat(messages=[USER, {"role": "assistant", "content": None, "tool_calls": "call"}]),
        "messages[1].tool_calls",
    ),
    (_chat(metadata=["a"]), "metadata"),
    (_chat(user={"id": 1}), "user"),
    (_chat(n=10**6), "n"),
    (_chat(max_tokens=2**63), "max_tokens"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "param"), _CHAT_PAYLOADS)
def test_bad_chat_fields_are_a_400_naming_the_field(
    proxy: RunningProxy, emulator: Emulator, body: dict[str, Any], param: str
) -> None:
    sent = emulator.requests_total
    response = send_json(proxy.port, "POST", CHAT, body)
    _assert_refused(response, param)
    assert response.rest == b""
    assert emulator.requests_total == sent  # refused before the upstream: nothing billed


@pytest.mark.parametrize("depth", [100, 256, 600, 1024])
def test_deep_json_is_a_400_invalid_json(
    proxy: RunningProxy, emulator: Emulator, depth: int
) -> None:
    sent = emulator.requests_total
    response = send_json(proxy.port, "POST", CHAT, _nested(depth))
    _assert_refused(response, None)
    assert response.error()["code"] == "invalid_json"
    assert emulator.requests_total == sent


def test_deep_json_in_an_admin_body_is_a_400(proxy: RunningProxy) -> None:
    body = b'{"metadata":{"x":' + b"[" * 600 + b"]" * 600 + b"}}"
    response = send_json(proxy.port, "POST", "/key/generate", body)
    _assert_refused(response, None)
    assert response.error()["code"] == "invalid_json"
    assert _stored_keys(proxy) == []


def test_json_nested_a_reasonable_depth_still_works(proxy: RunningProxy) -> None:
    response = send_json(proxy.port, "POST", CHAT, _nested(40))
    assert response.status == 200, response.body[:300]


def _get(proxy: RunningProxy, path: str) -> WireResponse:
    return exchange(proxy.port, request_bytes("GET", path, headers="Connection: close\r\n"))


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/key/list?page=%C2%B2", "page"),  # '²': str.isdigit() says yes, int() says no
        ("/user/list?page_size=%D9%A3", "page_size"),  # an Arabic-Indic three
        ("/spend/logs?size=" + "9" * 5000, "size"),  # past int()'s digit limit
        ("/spend/logs?page=99999999999999999999", "page"),
        ("/spend/logs?end_date=9999-12-31", "end_date"),
        ("/global/spend/report?end_date=9999-12-31", "end_date"),
    ],
)
def test_bad_admin_query_parameters_are_a_400(proxy: RunningProxy, path: str, param: str) -> None:
    _assert_refused(_get(proxy, path), param)


_HUGE = 2**63  # one past what SQLite INTEGER and PostgreSQL BIGINT hold

_ADMIN_PAYLOADS: list[tuple[str, dict[str, Any], str]] = [
    ("/key/generate", {"rpm_limit": _HUGE}, "rpm_limit"),
    ("/key/generate", {"tpm_limit": 2**64 - 1}, "tpm_limit"),
    ("/key/generate", {"max_parallel_requests": _HUGE}, "max_parallel_requests"),
    ("/key/generate", {"rpm_limit": 2**31}, "rpm_limit"),  # past PostgreSQL's INTEGER
    ("/key/generate", {"max_budget": -1e-300}, "max_budget"),
    ("/key/generate", {"duration": "99999999999d"}, "duration"),
    ("/key/generate", {"budget_duration": "99999999999d"}, "budget_duration"),
    ("/key/generate", {"duration": "1" * 400 + "s"}, "duration"),
    ("/user/new", {"user_id": "u-huge", "rpm_limit": _HUGE}, "rpm_limit"),
    ("/user/new", {"user_id": "u-long", "budget_duration": "99999999999d"}, "budget_duration"),
    ("/team/new", {"team_id": "t-huge", "tpm_limit": _HUGE}, "tpm_limit"),
    ("/team/new", {"team_id": "t-long", "budget_duration": "99999999999w"}, "budget_duration"),
]


@pytest.mark.parametrize(("path", "body", "param"), _ADMIN_PAYLOADS)
def test_out_of_range_admin_values_are_a_400_and_store_nothing(
    proxy: RunningProxy, path: str, body: dict[str, Any], param: str
) -> None:
    _assert_refused(send_json(proxy.port, "POST", path, body), param)
    assert _stored_keys(proxy) == []
    users = _get(proxy, "/user/list")
    assert users.status == 200 and users.json()["users"] == []
    teams = _get(proxy, "/team/list")
    assert teams.status == 200 and teams.json() == []


def _stored_keys(proxy: RunningProxy) -> list[Any]:
    listing = _get(proxy, "/key/list?return_full_object=true")
    assert listing.status == 200, listing.body[:300]
    keys: list[Any] = listing.json()["keys"]
    return keys


def test_a_key_stored_with_an_out_of_range_expiry_can_still_be_read(proxy: RunningProxy) -> None:
    """A row written before the bound (by an older version) must not make reads 500."""
    created = send_json(proxy.port, "POST", "/key/generate", {"user_id": "legacy"})
    assert created.status == 200
    token = created.json()["token"]
    store = proxy.app.services.store
    # What "99999999999d" stored before durations were bounded: now + 8.64e15 seconds.
    aged = store.update_key(token, {"expires_at": 8.64e15})
    asyncio.run_coroutine_threadsafe(aged, proxy.loop).result(5)
    try:
        for path in (
            "/key/list?return_full_object=true",
            f"/key/info?key={token}",
            "/user/list",
            "/user/info?user_id=legacy",
        ):
            response = _get(proxy, path)
            assert response.status == 200, (path, response.body[:300])
        assert _get(proxy, f"/key/info?key={token}").json()["info"]["expires"] is not None
    finally:
        deleted = send_json(proxy.port, "POST", "/user/delete", {"user_ids": ["legacy"]})
        assert deleted.status == 200


def test_a_405_names_the_allowed_methods(proxy: RunningProxy) -> None:
    response = exchange(
        proxy.port, request_bytes("PUT", CHAT, b"{}", "Connection: close\r\n", auth=MASTER_AUTH)
    )
    assert response.status == 405
    assert response.header("allow") == "POST"


def test_a_refused_key_leaves_no_user_behind(proxy: RunningProxy) -> None:
    """/key/generate creates a missing user_id on the fly; a key it then cannot store (a
    duplicate alias) must not leave that user behind. Found by test_fuzz_bodies."""
    first = send_json(proxy.port, "POST", "/key/generate", {"key_alias": "taken"})
    assert first.status == 200
    try:
        again = {"key_alias": "taken", "user_id": "would-be-created"}
        assert send_json(proxy.port, "POST", "/key/generate", again).status == 409
        unknown_key = {"key": "sk-no-such-key", "user_id": "would-be-created"}
        assert send_json(proxy.port, "POST", "/key/update", unknown_key).status == 404
        assert _get(proxy, "/user/info?user_id=would-be-created").status == 404
    finally:
        deleted = send_json(proxy.port, "POST", "/key/delete", {"key_aliases": ["taken"]})
        assert deleted.status == 200
