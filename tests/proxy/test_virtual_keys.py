"""Virtual keys through the real proxy: made and managed with the master key, used with the
OpenAI SDK, and revoked on every instance that shares the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.proxy.conftest import RunningProxy
from tests.proxy.virtual_key_helpers import (
    ALIAS,
    FAST_FLUSH,
    MESSAGES,
    STORES,
    Management,
    keyed_proxy,
    sdk,
    store_url,
    wait_for,
)

from tokenway.emulator import Emulator

pytestmark = pytest.mark.usefixtures("clean_emulator")

REVOCATION_BOUND = 5.0  # seconds: the bar for another instance


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


def test_a_generated_key_works_and_its_info_shows_its_spend(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        admin = Management(proxy)
        created = admin.new_key(key_alias="ci-bot", models=[ALIAS], max_budget=1.0)
        secret = created["key"]
        assert secret.startswith("sk-")
        assert created["token"] == hashlib.sha256(secret.encode()).hexdigest()
        assert created["spend"] == 0.0 and created["max_budget"] == 1.0

        answer = sdk(proxy, secret).chat.completions.with_raw_response.create(
            model=ALIAS, messages=MESSAGES, max_tokens=12
        )
        cost = float(answer.headers["x-tokenway-response-cost"])
        assert answer.parse().choices[0].message.content and cost > 0

        info = wait_for(lambda: _spent(admin.key_info(secret)))
        assert info["spend"] == pytest.approx(cost)
        assert info["token"] == created["token"] and info["key_alias"] == "ci-bot"
        assert secret not in str(info) and secret not in str(admin.get("/key/list").body)
        assert admin.key_info(created["token"]) == info  # named by its hash as well


def test_management_needs_the_master_key(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        secret = Management(proxy).new_key()["key"]
        refused = Management(proxy, key=secret).post("/user/new", {})
        assert refused.status == 403
        assert refused.error["code"] == "master_key_required"
        assert "master key" in refused.error["message"]
        # a key without a user may read itself (permissions.py), not make keys
        ownerless = Management(proxy, key=secret).post("/key/generate", {})
        assert ownerless.status == 403 and ownerless.error["code"] == "not_allowed"

        for key in (None, "sk-not-a-key"):
            anonymous = Management(proxy, key=key).post("/key/generate", {})
            assert anonymous.status == 401, key
            assert anonymous.error["type"] == "authentication_error"
        assert Management(proxy, key=secret).get("/spend/logs").status == 403


def test_management_errors_are_openai_envelopes(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        admin = Management(proxy)
        unknown = admin.get("/key/info", key="sk-never-issued")
        assert unknown.status == 404 and unknown.error["code"] == "key_not_found"
        invalid = admin.post("/key/generate", {"max_budget": -1})
        assert invalid.status == 400 and invalid.error["param"] == "max_budget"
        # As LiteLLM: stored, with a warning in the answer; it allows nothing served.
        not_served = admin.post("/key/generate", {"models": ["no-such-model"]})
        assert not_served.status == 200 and "no-such-model" in not_served.body["warnings"][0]


def test_a_deleted_or_regenerated_key_stops_at_once(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        admin = Management(proxy)
        doomed, renewed = admin.new_key()["key"], admin.new_key()["key"]
        for secret in (doomed, renewed):
            _chat(proxy, secret)  # cached on this instance now

        assert admin.post("/key/delete", {"keys": [doomed]}).status == 200
        fresh = admin.post("/key/regenerate", {"key": renewed})
        assert fresh.status == 200
        for secret in (doomed, renewed):
            with pytest.raises(openai.AuthenticationError, match="invalid API key"):
                _chat(proxy, secret)
        _chat(proxy, fresh.body["key"])


def test_a_revoked_key_stops_on_every_instance_within_5_seconds(
    emulator: Emulator, database_url: str
) -> None:
    """Two proxies on one store: the one that blocks or deletes a key refuses it at once,
    the other once its cache refreshes, well inside the bound."""
    with (
        keyed_proxy(emulator, database_url) as first,
        keyed_proxy(emulator, database_url) as second,
    ):
        admin = Management(first)
        blocked, deleted = admin.new_key()["key"], admin.new_key()["key"]
        for proxy in (first, second):
            for secret in (blocked, deleted):
                _chat(proxy, secret)

        revoked = time.monotonic()
        assert admin.post("/key/block", {"key": blocked}).status == 200
        assert admin.post("/key/delete", {"keys": [deleted]}).status == 200
        assert _refusal(first, blocked) == "key_blocked"
        assert _refusal(first, deleted) == "invalid_api_key"

        assert wait_for(lambda: _refusal(second, blocked), REVOCATION_BOUND) == "key_blocked"
        assert wait_for(lambda: _refusal(second, deleted), REVOCATION_BOUND) == "invalid_api_key"
        assert time.monotonic() - revoked < REVOCATION_BOUND


def _chat(proxy: RunningProxy, secret: str) -> None:
    answer = sdk(proxy, secret).chat.completions.create(
        model=ALIAS, messages=MESSAGES, max_tokens=4
    )
    assert answer.choices[0].message.content


def _refusal(proxy: RunningProxy, secret: str) -> str | None:
    """The error code a chat call with ``secret`` gets now, or None if it is served."""
    try:
        _chat(proxy, secret)
    except openai.AuthenticationError as error:
        assert error.status_code == 401
        return str(error.code)
    return None


def _spent(info: dict[str, Any]) -> dict[str, Any] | None:
    return info if info["spend"] > 0 else None
