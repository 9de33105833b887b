"""The gauges read off the proxy's state: the budget and rate limits a key and its team
have left, a deployment's state from the router's cooldowns, tokenway's own figures."""

from __future__ import annotations

import http.client
import re
from typing import Any

import pytest
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, UPSTREAM_KEY, running_proxy
from tests.proxy.routing_helpers import request

from tokenway.emulator import Emulator
from tokenway.proxy.config import parse_config

pytestmark = pytest.mark.usefixtures("clean_emulator")
CHAT = next(iter(BRIEF_MODELS))
DEAD = "dead"  # a deployment nothing listens for


def _config(api_base: str) -> Any:
    entries: list[dict[str, Any]] = [
        {
            "model_name": CHAT,
            "litellm_params": {
                "model": BRIEF_MODELS[CHAT],
                "api_base": api_base,
                "api_key": UPSTREAM_KEY,
            },
        },
        {
            "model_name": DEAD,
            "litellm_params": {
                "model": BRIEF_MODELS[CHAT],
                "api_base": "http://127.0.0.1:9/v1",
                "api_key": UPSTREAM_KEY,
            },
        },
    ]
    data = {
        "model_list": entries,
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {"num_retries": 0, "callbacks": ["prometheus"]},
        "router_settings": {"allowed_fails": 0, "cooldown_time": 60},
    }
    return parse_config(data, env={})


def _metrics(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics", headers={"authorization": f"Bearer {MASTER_KEY}"})
        response = conn.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        conn.close()


def _value(text: str, name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels``."""
    found = []
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match[1] for k, v in labels.items()):
            found.append(float(match[2]))
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


def test_budgets_and_limits_left_for_a_key_and_its_team(emulator: Emulator) -> None:
    with running_proxy(_config(emulator.base_url)) as proxy:
        status, _, team = request(
            proxy, "POST", "/team/new", {"team_alias": "ml", "max_budget": 5.0}
        )
        assert status == 200
        limits = {"max_budget": 2.0, "rpm_limit": 10, "tpm_limit": 100_000, "key_alias": "ci"}
        status, _, made = request(
            proxy, "POST", "/key/generate", {**limits, "team_id": team["team_id"]}
        )
        assert status == 200
        chat = {"model": CHAT, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
        cost = 0.0
        for _ in range(3):
            status, headers, _ = request(proxy, "POST", "/v1/chat/completions", chat, made["key"])
            assert status == 200
            cost += float(headers["x-litellm-response-cost"])
        assert cost > 0
        text = _metrics(proxy.port)
    key = {"api_key_alias": "ci"}
    assert _value(text, "litellm_remaining_api_key_budget_metric", **key) == pytest.approx(
        2.0 - cost
    )
    assert _value(text, "litellm_api_key_max_budget_metric", **key) == 2.0
    team_labels = {"team": team["team_id"], "team_alias": "ml"}
    assert _value(text, "litellm_remaining_team_budget_metric", **team_labels) == pytest.approx(
        5.0 - cost
    )
    assert _value(text, "litellm_team_max_budget_metric", **team_labels) == 5.0
    # as the last answer's x-ratelimit-remaining-requests said: 10 - 3
    by_model = {**key, "model": CHAT}
    assert _value(text, "litellm_remaining_api_key_requests_for_model", **by_model) == 7
    assert int(headers["x-ratelimit-remaining-tokens"]) == _value(
        text, "litellm_remaining_api_key_tokens_for_model", **by_model
    )
    assert made["key"] not in text


def test_a_cooled_down_deployment_reads_outage(emulator: Emulator) -> None:
    with running_proxy(_config(emulator.base_url)) as proxy:
        chat = {"model": CHAT, "messages": [{"role": "user", "content": "hi"}]}
        assert request(proxy, "POST", "/v1/chat/completions", chat)[0] == 200
        assert request(proxy, "POST", "/v1/chat/completions", {**chat, "model": DEAD})[0] >= 500
        text = _metrics(proxy.port)
        served = proxy.app.router.deployments(CHAT)[0].deployment_id
        dead = proxy.app.router.deployments(DEAD)[0].deployment_id
        assert _value(text, "litellm_deployment_state", model_id=served) == 0
        assert _value(text, "litellm_deployment_state", model_id=dead) == 2
        proxy.app.router.state.recover(dead)  # the cooldown ends: its last request failed
        assert _value(_metrics(proxy.port), "litellm_deployment_state", model_id=dead) == 1


def test_tokenways_own_gauges(emulator: Emulator) -> None:
    with running_proxy(_config(emulator.base_url)) as proxy:
        proxy.app.watch_connections(lambda: proxy.server.open_connections)
        chat = {"model": CHAT, "messages": [{"role": "user", "content": "hi"}]}
        assert request(proxy, "POST", "/v1/chat/completions", chat)[0] == 200
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        conn.connect()  # a second connection, held open while the metrics are read
        try:
            text = _metrics(proxy.port)
        finally:
            conn.close()
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line[:1] != "#")
    assert float(lines["tokenway_open_connections"]) == 2
    assert float(lines["tokenway_in_flight_requests"]) == 0
    assert float(lines["tokenway_spend_pending_rows"]) in (0, 1)  # flushed every second
    assert float(lines["tokenway_spend_writer_lag_seconds"]) < 5
    assert "tokenway_spend_journal_batches" in lines
