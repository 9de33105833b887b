"""The admin UI over real HTTP: login, sessions, CSRF, security headers, and the
management endpoints reached through /ui/api."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI
from tests.proxy.conftest import MASTER_KEY, RunningProxy, proxy_config, running_proxy
from tests.proxy.ui.ui_helpers import logged_in

from tokenway.emulator import Emulator
from tokenway.proxy.ui import app as ui_app
from tokenway.proxy.ui.http import CSP

PAGES = ["/", "/docs", "/ui/login"]


@pytest.fixture(scope="module")
def ui(emulator: Emulator) -> Iterator[RunningProxy]:
    with running_proxy(proxy_config(emulator.base_url)) as running:
        yield running


@pytest.fixture
def no_login_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui_app, "FAILED_LOGIN_DELAY", 0.0)


def test_login_sets_a_strict_session_cookie(ui: RunningProxy) -> None:
    answer = httpx.post(ui.url + "/ui/login", data={"master_key": MASTER_KEY})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui"
    cookie = answer.headers["set-cookie"]
    for part in ("HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="):
        assert part in cookie
    assert "Secure" not in cookie
    behind_tls = httpx.post(
        ui.url + "/ui/login",
        data={"master_key": MASTER_KEY},
        headers={"x-forwarded-proto": "https"},
    )
    assert behind_tls.headers["set-cookie"].endswith("; Secure")


def test_a_wrong_key_cannot_log_in(ui: RunningProxy, no_login_delay: None) -> None:
    answer = httpx.post(ui.url + "/ui/login", data={"master_key": "sk-wrong"})
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert "not this proxy&#x27;s master key" in answer.text


def test_litellm_login_form_takes_admin_and_the_master_key(
    ui: RunningProxy, no_login_delay: None
) -> None:
    """LiteLLM's ``POST /login`` (username "admin", the master key as password), which
    LiteLLM's own tests and scripts use, opens the same session as the UI's form."""
    form = {"username": "admin", "password": MASTER_KEY}
    answer = httpx.post(ui.url + "/login", data=form)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui"
    assert "HttpOnly" in answer.headers["set-cookie"]
    for wrong in ({**form, "password": "sk-wrong"}, {**form, "username": "root"}, {}):
        refused = httpx.post(ui.url + "/login", data=wrong)
        assert refused.status_code == 401 and "set-cookie" not in refused.headers


def test_a_wrong_key_is_answered_slowly(ui: RunningProxy) -> None:
    started = time.monotonic()
    assert httpx.post(ui.url + "/ui/login", data={"master_key": "guess"}).status_code == 401
    assert time.monotonic() - started >= ui_app.FAILED_LOGIN_DELAY * 0.9


def test_repeated_failures_are_refused_for_a_while(
    ui: RunningProxy, no_login_delay: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui_app, "MAX_FAILED_LOGINS", 3)
    statuses = [
        httpx.post(ui.url + "/ui/login", data={"master_key": f"guess-{n}"}).status_code
        for n in range(5)
    ]
    assert statuses[-1] == 429
    # even the right key waits out the minute: a guesser cannot tell when it found it
    right = httpx.post(ui.url + "/ui/login", data={"master_key": MASTER_KEY})
    assert right.status_code == 429


def test_pages_need_a_session(ui: RunningProxy) -> None:
    answer = httpx.get(ui.url + "/ui")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
    forged = httpx.get(ui.url + "/ui", headers={"cookie": "tokenway_ui=1.2.3"})
    assert forged.headers["location"] == "/ui/login?m=expired"
    api = httpx.get(ui.url + "/ui/api/keys")
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "session_expired"


def test_a_change_without_the_csrf_token_is_refused(ui: RunningProxy) -> None:
    client, csrf = logged_in(ui.url)
    for headers in ({}, {"x-csrf-token": "not-it"}):
        refused = client.post("/ui/api/key/generate", json={"key_alias": "x"}, headers=headers)
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "csrf_token_invalid" and error["type"]
    assert client.get("/ui/api/keys").json()["total"] == 0  # nothing was created
    made = client.post(
        "/ui/api/key/generate", json={"key_alias": "x"}, headers={"x-csrf-token": csrf}
    )
    assert made.status_code == 200 and made.json()["key"].startswith("sk-")
    client.post(
        "/ui/api/key/delete", json={"keys": [made.json()["token"]]}, headers={"x-csrf-token": csrf}
    )


def test_logout_needs_the_token_and_clears_the_cookie(ui: RunningProxy) -> None:
    client, csrf = logged_in(ui.url)
    assert client.post("/ui/logout").status_code == 403
    out = client.post("/ui/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login?m=out"
    assert "Max-Age=0" in out.headers["set-cookie"]
    assert client.get("/ui").status_code == 303


def test_a_key_made_in_the_ui_works_and_its_block_is_enforced(ui: RunningProxy) -> None:
    client, csrf = logged_in(ui.url)
    made = client.post(
        "/ui/api/key/generate", json={"key_alias": "ui-made"}, headers={"x-csrf-token": csrf}
    ).json()
    sdk = OpenAI(base_url=ui.url + "/v1", api_key=made["key"], max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    assert sdk.chat.completions.create(model="llama-3.1-8b-instruct", messages=messages)  # type: ignore[arg-type]
    found = client.get("/ui/api/keys", params={"search": "ui-MADE"}).json()
    assert [k["token"] for k in found["keys"]] == [made["token"]]
    blocked = client.post(
        "/ui/api/key/block", json={"key": made["token"]}, headers={"x-csrf-token": csrf}
    )
    assert blocked.json()["blocked"] is True
    with pytest.raises(Exception) as refused:
        sdk.chat.completions.create(model="llama-3.1-8b-instruct", messages=messages)  # type: ignore[arg-type]
    assert getattr(refused.value, "status_code", None) in (401, 403)
    client.post(
        "/ui/api/key/delete", json={"keys": [made["token"]]}, headers={"x-csrf-token": csrf}
    )


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_served_with_a_strict_policy_and_no_inline_code(
    ui: RunningProxy, path: str
) -> None:
    answer = httpx.get(ui.url + path)
    assert answer.status_code == 200
    assert_strict_html(answer)


def test_the_shell_and_its_assets_carry_the_policy(ui: RunningProxy) -> None:
    client, _ = logged_in(ui.url)
    shell = client.get("/ui")
    assert_strict_html(shell)
    for src in re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', shell.text):
        asset = client.get(src)
        assert asset.status_code == 200, src
        assert asset.headers["x-content-type-options"] == "nosniff"
    js = client.get("/ui/static/app.js")
    assert js.headers["content-type"].startswith("text/javascript")


def test_the_landing_page_names_this_proxy_only_by_a_plain_host(ui: RunningProxy) -> None:
    page = httpx.get(ui.url + "/", headers={"host": "gateway.example:8443"})
    assert "http://gateway.example:8443/v1/chat/completions" in page.text
    assert "llama-3.1-8b-instruct" in page.text
    hostile = httpx.get(ui.url + "/", headers={"host": 'evil"><script>alert(1)</script>'})
    assert "<script>alert" not in hostile.text and "evil" not in hostile.text
    assert "http://127.0.0.1:4000/v1" in hostile.text
    tls = httpx.get(ui.url + "/docs", headers={"x-forwarded-proto": "https"})
    assert f"https://127.0.0.1:{ui.port}" in tls.text


def test_ui_routes_are_not_the_management_routes(ui: RunningProxy) -> None:
    """/key/* still needs the master key as a bearer token; a session cookie is not one."""
    client, _ = logged_in(ui.url)
    assert client.get("/key/list").status_code == 401
    assert (
        client.get("/key/list", headers={"authorization": f"Bearer {MASTER_KEY}"}).status_code
        == 200
    )


def assert_strict_html(answer: httpx.Response) -> None:
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    text = answer.text
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert 'src="/ui/static/' in tag, tag  # every script is a file of ours
    assert re.search(r"<script\b[^>]*>\s*(?!</script>)\S", text) is None  # none has a body
    assert re.search(r"\sstyle\s*=", text) is None
    assert re.search(r"\son[a-z]+\s*=", text) is None
    assert "<style" not in text


def test_without_a_master_key_the_ui_says_how_to_turn_it_on(emulator: Emulator) -> None:
    with running_proxy(proxy_config(emulator.base_url, master_key=None)) as bare:
        page = httpx.get(bare.url + "/ui/login")
        assert "no master key" in page.text and "general_settings.master_key" in page.text
        refused = httpx.post(bare.url + "/ui/login", data={"master_key": ""})
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
        assert httpx.get(bare.url + "/ui/api/keys").status_code == 401
        assert httpx.get(bare.url + "/").status_code == 200  # the landing page still works
