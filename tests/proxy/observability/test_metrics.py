"""``/metrics`` in one process: the master key's unless configured public, LiteLLM's
names, bounded labels; the callbacks tokenway does not serve are warned about."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import pytest
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, UPSTREAM_KEY, running_proxy
from tests.proxy.routing_helpers import request

from tokenway.emulator import Emulator
from tokenway.proxy.config import parse_config

pytestmark = pytest.mark.usefixtures("clean_emulator")
CHAT = next(iter(BRIEF_MODELS))


def _config(api_base: str, **litellm: Any) -> Any:
    entries = [
        {
            "model_name": alias,
            "litellm_params": {"model": model, "api_base": api_base, "api_key": UPSTREAM_KEY},
        }
        for alias, model in BRIEF_MODELS.items()
    ]
    data = {
        "model_list": entries,
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {"num_retries": 0, **litellm},
    }
    return parse_config(data, env={})


def _scrape(port: int, key: str | None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@pytest.fixture
def metrics_port(emulator: Emulator) -> Iterator[int]:
    with running_proxy(_config(emulator.base_url, callbacks=["prometheus"])) as proxy:
        chat = {"model": CHAT, "messages": [{"role": "user", "content": "hi"}]}
        assert request(proxy, "POST", "/v1/chat/completions", chat)[0] == 200
        for n in range(20):  # the client's model names are not labels
            request(proxy, "POST", "/v1/chat/completions", {**chat, "model": f"nope-{n}"})
        yield proxy.port


def test_metrics_need_the_master_key(metrics_port: int) -> None:
    assert _scrape(metrics_port, None)[0] == 401
    assert _scrape(metrics_port, "sk-not-the-master")[0] in (401, 403)
    status, text = _scrape(metrics_port, MASTER_KEY)
    assert status == 200
    assert 'litellm_requests_metric_total{api_key_alias="",end_user=""' in text
    assert "litellm_proxy_total_requests_metric_total" in text
    assert 'requested_model="unknown"' in text and "nope-" not in text
    assert MASTER_KEY not in text


def test_metrics_public_when_configured(emulator: Emulator) -> None:
    config = _config(
        emulator.base_url, callbacks=["prometheus"], require_auth_for_metrics_endpoint=False
    )
    with running_proxy(config) as proxy:
        assert _scrape(proxy.port, None)[0] == 200


def test_no_metrics_without_the_callback(emulator: Emulator) -> None:
    with running_proxy(_config(emulator.base_url)) as proxy:
        assert _scrape(proxy.port, MASTER_KEY)[0] == 404


def test_unsupported_callbacks_are_warned_once(emulator: Emulator) -> None:
    config = _config(
        emulator.base_url,
        callbacks=["prometheus", "langfuse"],
        success_callback=["langfuse", "datadog"],
    )
    warned = [w for w in config.warnings if "not supported by tokenway" in w]
    assert [w.partition(":")[0] for w in warned] == [
        "litellm_settings.callbacks.langfuse",  # once, though named twice
        "litellm_settings.success_callback.datadog",
    ]
    assert config.observability.prometheus
