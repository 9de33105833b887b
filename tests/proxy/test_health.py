"""GET /health probes every deployment; background checks take failing ones out of rotation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, running_proxy
from tests.proxy.routing_helpers import deployment, post_chat, request, routing_config

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread
from tokenway.proxy.auth import Authenticator, Principal

DEAD = "http://127.0.0.1:9/v1"


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Emulator, Emulator]]:
    config = EmulatorConfig(api_keys=(UPSTREAM_KEY,), rpm=1_000_000)
    with run_emulator_in_thread(config) as good, run_emulator_in_thread(config) as bad:
        bad.faults = FaultConfig(error_rate=1, error_status=500)
        yield good, bad


def test_health_reports_each_deployment_without_secrets(pair: tuple[Emulator, Emulator]) -> None:
    good, bad = pair
    config = routing_config(
        [
            deployment("m", good, "good"),
            deployment("m", bad, "bad"),
            deployment("other", DEAD, "dead"),
        ]
    )
    with running_proxy(config) as proxy:
        status, _, report = request(proxy, "GET", "/health")
        assert request(proxy, "GET", "/health", key=None)[0] == 401
        assert request(proxy, "GET", "/health", key="sk-not-the-master")[0] == 401
        proxy.app.auth = Authenticator(MASTER_KEY, lambda digest: Principal("virtual", digest))
        status_virtual, _, refused = request(proxy, "GET", "/health", key="sk-a-virtual-key")
        assert status_virtual == 403 and refused["error"]["code"] == "master_key_required"
    assert status == 200
    assert (report["healthy_count"], report["unhealthy_count"]) == (1, 2)
    (healthy,) = report["healthy_endpoints"]
    assert healthy["model_group"] == "m" and healthy["deployment_id"] == "good"
    assert healthy["api_base"] == good.base_url and healthy["latency_ms"] >= 0
    errors = {e["deployment_id"]: e for e in report["unhealthy_endpoints"]}
    assert errors["bad"]["error_class"] == "InternalServerError"
    assert errors["dead"]["error_class"] == "APIConnectionError"
    assert errors["dead"]["model_group"] == "other"
    assert UPSTREAM_KEY not in str(report)


def test_background_checks_cool_down_a_failing_deployment(pair: tuple[Emulator, Emulator]) -> None:
    good, bad = pair
    config = routing_config(
        [deployment("m", good, "good"), deployment("m", bad, "bad")],
        general={"background_health_checks": True, "health_check_interval": 0.2},
    )
    with running_proxy(config) as proxy:
        asyncio.run_coroutine_threadsafe(proxy.app.start(), proxy.loop).result(5)
        router = proxy.app.router
        deadline = time.monotonic() + 5
        while router.stats("m")[1].cooldown_until == 0.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert router.stats("m")[1].cooldown_until > 0.0
        tried = bad.requests_total
        assert all(post_chat(proxy, "m")[1]["x-tokenway-deployment"] == "good" for _ in range(20))
        assert bad.requests_total - tried <= 1  # at most a probe
        bad.faults = FaultConfig()
        deadline = time.monotonic() + 5
        while router.stats("m")[1].cooldown_until != 0.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert router.stats("m")[1].cooldown_until == 0.0  # the next probe passed: back
    bad.faults = FaultConfig(error_rate=1, error_status=500)


def test_each_deployment_is_probed_on_the_endpoint_of_its_mode(
    pair: tuple[Emulator, Emulator],
) -> None:
    good, _ = pair
    embed = deployment("embed", good, "embed")  # the catalog says: an embedding model
    embed["litellm_params"]["model"] = "inference/qwen/qwen3-embedding-4b"
    text = deployment("text", good, "text", model_info={"mode": "completion"})
    image = deployment("image", good, "image", model_info={"mode": "image_generation"})
    config = routing_config([deployment("chat", good, "chat"), embed, text, image])
    with running_proxy(config) as proxy:
        status, _, report = request(proxy, "GET", "/health")
    assert status == 200
    assert {e["deployment_id"] for e in report["healthy_endpoints"]} == {"chat", "embed", "text"}
    (unserved,) = report["unhealthy_endpoints"]
    assert unserved["deployment_id"] == "image"
    assert "image_generation" in unserved["error"]
