"""Every rule a virtual key is held to, as a client of the real proxy sees it over HTTP,
on SQLite and on PostgreSQL: who is refused, with which status, code and headers."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.proxy.conftest import RunningProxy
from tests.proxy.virtual_key_helpers import (
    ALIAS,
    FAST_FLUSH,
    MESSAGES,
    OTHER_ALIAS,
    STORES,
    Management,
    async_sdk,
    flushed_rows,
    keyed_proxy,
    sdk,
    store_url,
    wait_for,
)

from tokenway.emulator import Emulator, FaultConfig

pytestmark = pytest.mark.usefixtures("clean_emulator")

TINY_BUDGET = 1e-7  # dollars: under one request's cost here (~6e-7), so one request spends it


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


def test_an_unknown_key_is_refused_as_invalid(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        with pytest.raises(openai.AuthenticationError) as refused:
            _ask(proxy, "sk-nobody-issued-this-key")
        assert refused.value.status_code == 401
        assert "invalid" in refused.value.message


def test_an_expired_key_is_refused(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        created = Management(proxy).new_key(duration="1s")
        expires = datetime.fromisoformat(created["expires"]).timestamp()
        time.sleep(max(0.0, expires - time.time()) + 0.05)
        with pytest.raises(openai.AuthenticationError) as refused:
            _ask(proxy, created["key"])
        assert refused.value.code == "key_expired"
        assert "expired" in refused.value.message


def test_a_blocked_key_is_refused_until_unblocked(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        admin = Management(proxy)
        secret = admin.new_key()["key"]
        _ask(proxy, secret)
        assert admin.post("/key/block", {"key": secret}).body["blocked"] is True
        with pytest.raises(openai.AuthenticationError) as refused:
            _ask(proxy, secret)
        assert refused.value.code == "key_blocked"
        assert "blocked" in refused.value.message
        assert admin.post("/key/unblock", {"key": secret}).body["blocked"] is False
        _ask(proxy, secret)


def test_a_model_outside_the_key_s_list_is_refused(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        secret = Management(proxy).new_key(models=[ALIAS])["key"]
        _ask(proxy, secret)
        # LiteLLM's status and words, which its clients catch (an AuthenticationError)
        with pytest.raises(openai.AuthenticationError) as refused:
            _ask(proxy, secret, model=OTHER_ALIAS)
        assert refused.value.status_code == 401
        assert "key not allowed to access model." in refused.value.message
        assert refused.value.code == "model_not_allowed"
        assert ALIAS in refused.value.message and OTHER_ALIAS in refused.value.message


def test_a_spent_budget_refuses_with_budget_exceeded(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        secret = Management(proxy).new_key(max_budget=TINY_BUDGET)["key"]
        _ask(proxy, secret)  # admitted: nothing was spent yet
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as refused:
                _ask(proxy, secret, stream=stream)
            assert refused.value.code == "budget_exceeded"
            assert "max_budget" in refused.value.message


def test_a_team_budget_caps_its_keys(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        admin = Management(proxy)
        team = admin.post("/team/new", {"team_alias": "ml", "max_budget": TINY_BUDGET})
        assert team.status == 200, team.body
        secret = admin.new_key(team_id=team.body["team_id"], max_budget=100.0)["key"]
        _ask(proxy, secret)
        with pytest.raises(openai.BadRequestError) as refused:
            _ask(proxy, secret)
        assert refused.value.code == "budget_exceeded"
        assert "team 'ml'" in refused.value.message


def test_rpm_limit_refuses_with_429_and_rate_headers(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        secret = Management(proxy).new_key(rpm_limit=2)["key"]
        client = sdk(proxy, secret)
        for remaining in ("1", "0"):
            served = client.chat.completions.with_raw_response.create(
                model=ALIAS, messages=MESSAGES, max_tokens=4
            )
            assert served.headers["x-ratelimit-limit-requests"] == "2"
            assert served.headers["x-ratelimit-remaining-requests"] == remaining
            assert served.headers["x-ratelimit-reset-requests"].endswith("s")
        with pytest.raises(openai.RateLimitError) as refused:
            _ask(proxy, secret)
        headers = refused.value.response.headers
        assert refused.value.code == "rpm_limit_exceeded"
        assert int(headers["retry-after"]) >= 1
        assert headers["x-ratelimit-limit-requests"] == "2"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("s")


def test_tpm_limit_refuses_with_429_and_token_headers(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        secret = Management(proxy).new_key(tpm_limit=10)["key"]
        served = sdk(proxy, secret).chat.completions.with_raw_response.create(
            model=ALIAS, messages=MESSAGES, max_tokens=4
        )
        usage = served.parse().usage
        assert usage is not None and usage.total_tokens > 10  # one answer uses the minute up
        assert served.headers["x-ratelimit-limit-tokens"] == "10"
        with pytest.raises(openai.RateLimitError) as refused:
            _ask(proxy, secret)
        headers = refused.value.response.headers
        assert refused.value.code == "tpm_limit_exceeded"
        assert int(headers["retry-after"]) >= 1
        assert headers["x-ratelimit-limit-tokens"] == "10"
        assert headers["x-ratelimit-remaining-tokens"] == "0"


async def test_max_parallel_requests_refuses_with_429(
    emulator: Emulator, database_url: str
) -> None:
    """Three at once on a key allowed one in flight: the emulator holds each for 0.5 s,
    so the other two arrive while the first is still open."""
    with keyed_proxy(emulator, database_url) as proxy:
        secret = Management(proxy).new_key(max_parallel_requests=1)["key"]
        emulator.faults = FaultConfig(latency_ms=500)
        client = async_sdk(proxy, secret)
        calls = [
            client.chat.completions.create(model=ALIAS, messages=MESSAGES, max_tokens=4)
            for _ in range(3)
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        await client.close()
        refused = [error for error in outcomes if isinstance(error, openai.RateLimitError)]
        assert len(refused) == 2, outcomes
        assert {error.code for error in refused} == {"max_parallel_requests_exceeded"}
        assert all(int(error.response.headers["retry-after"]) >= 1 for error in refused)
        emulator.faults = FaultConfig()
        _ask(proxy, secret)  # the slot is free again


def test_a_spent_budget_works_again_soon_after_its_window_ends(
    emulator: Emulator, database_url: str
) -> None:
    """Spent, refused, served again once the 2 s window is over (the gate starts the next
    window itself, without waiting for the store's sweep every 10 s), and refused again
    when that window is spent: neither reading the key again from a store that has not
    swept yet nor the sweep itself forgets what the new window spent."""
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        admin = Management(proxy)
        created = admin.new_key(max_budget=TINY_BUDGET, budget_duration="2s")
        secret = created["key"]
        window_end = datetime.fromisoformat(created["budget_reset_at"]).timestamp()
        _ask(proxy, secret)
        assert _refusal(proxy, secret) == "budget_exceeded"

        wait_for(lambda: _served_after(proxy, secret, window_end))
        assert time.time() - window_end < 1.5  # soon after the end, not at the next sweep
        assert _refusal(proxy, secret) == "budget_exceeded"  # the new window is spent too
        served = flushed_rows(admin, 2, _was_served, api_key=created["token"])
        new_window_spend = served[0]["spend"]  # newest first

        _reread(admin, secret)  # the store still holds the old window: not swept yet
        assert _refusal(proxy, secret) == "budget_exceeded"
        _sweep(proxy)
        assert admin.key_info(secret)["spend"] == pytest.approx(new_window_spend)
        _reread(admin, secret)
        assert _refusal(proxy, secret) == "budget_exceeded"
        assert time.time() < window_end + 2.0, "too slow: the next window began meanwhile"


def _was_served(row: dict[str, Any]) -> bool:
    return bool(row["http_status"] == 200)


def _reread(admin: Management, secret: str) -> None:
    """Change the key through the management API: this instance reads it again at once."""
    changed = admin.post("/key/update", {"key": secret, "metadata": {"touched": True}})
    assert changed.status == 200, changed.body


def _sweep(proxy: RunningProxy) -> None:
    """Run the store's budget reset now, as the proxy's background sweep does every 10 s."""
    store = proxy.app.services.store
    asyncio.run_coroutine_threadsafe(store.reset_budgets(time.time()), proxy.loop).result(5)


def _ask(proxy: RunningProxy, secret: str, model: str = ALIAS, stream: bool = False) -> None:
    client = sdk(proxy, secret)
    if stream:
        chunks = client.chat.completions.create(
            model=model, messages=MESSAGES, max_tokens=4, stream=True
        )
        assert list(chunks)
        return
    answer = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)
    assert answer.choices[0].message.content


def _refusal(proxy: RunningProxy, secret: str) -> str | None:
    try:
        _ask(proxy, secret)
    except openai.APIStatusError as error:
        return str(error.code)
    return None


def _served_after(proxy: RunningProxy, secret: str, moment: float) -> bool | None:
    """True once a call is served; a call served before ``moment`` fails the test."""
    refusal = _refusal(proxy, secret)
    if refusal is None:
        assert time.time() >= moment, "served again before its budget window ended"
        return True
    assert refusal == "budget_exceeded"
    return None
