"""The proxy's HTTP behaviour: auth, errors, endpoints, headers."""

from __future__ import annotations

import dataclasses
import http.client
import json
from typing import Any

import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, RunningProxy, proxy_config, running_proxy

from tokenway import __version__
from tokenway.emulator import Emulator, FaultConfig
from tokenway.proxy.pipeline.context import LITELLM_API_VERSION

pytestmark = pytest.mark.usefixtures("clean_emulator")
CHAT = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "hi"}]}


def call(
    proxy: RunningProxy,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    key: str | None = MASTER_KEY,
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    hdrs = {"content-type": "application/json", **(headers or {})}
    if key:
        hdrs["authorization"] = f"Bearer {key}"
    raw = (
        body
        if isinstance(body, bytes)
        else (json.dumps(body).encode() if body is not None else None)
    )
    conn.request(method, path, body=raw, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = data
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed


def assert_envelope(body: Any) -> dict[str, Any]:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def test_answer_carries_alias_and_headers(proxy: RunningProxy) -> None:
    status, headers, body = call(
        proxy, "POST", "/v1/chat/completions", CHAT, {"x-request-id": "req-1"}
    )
    assert status == 200
    assert body["model"] == "llama-3.1-8b-instruct"
    assert headers["x-request-id"] == "req-1"
    assert float(headers["x-tokenway-overhead-ms"]) >= 0
    assert (
        headers["x-tokenway-upstream-model"] == "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
    )
    tokens = body["usage"]["total_tokens"]
    assert float(headers["x-tokenway-response-cost"]) == pytest.approx(tokens * 0.03 / 1e6)
    # LiteLLM's names for the same values, for its clients.
    assert headers["x-litellm-response-cost"] == headers["x-tokenway-response-cost"]
    assert headers["x-litellm-call-id"] == "req-1"
    assert headers["x-litellm-model-group"] == "llama-3.1-8b-instruct"
    assert headers["x-litellm-model-id"] == headers["x-tokenway-deployment"]
    assert headers["x-litellm-attempted-retries"] == "0"
    assert headers["x-litellm-attempted-fallbacks"] == "0"
    assert headers["x-litellm-version"] == LITELLM_API_VERSION


def test_request_id_is_generated_when_absent_or_too_long(proxy: RunningProxy) -> None:
    _, headers, _ = call(proxy, "POST", "/chat/completions", CHAT)
    assert len(headers["x-request-id"]) >= 16
    _, headers, _ = call(proxy, "POST", "/chat/completions", CHAT, {"x-request-id": "r" * 500})
    assert 16 <= len(headers["x-request-id"]) <= 128


@pytest.mark.parametrize(
    ("key", "header"), [(None, None), ("wrong", None), (None, {"authorization": "Basic abc"})]
)
def test_missing_or_wrong_key_is_401(
    proxy: RunningProxy, key: str | None, header: dict[str, str] | None
) -> None:
    status, _, body = call(proxy, "POST", "/v1/chat/completions", CHAT, header, key=key)
    assert status == 401
    error = assert_envelope(body)
    assert "wrong" not in error["message"]


def test_x_api_key_header_is_accepted(proxy: RunningProxy) -> None:
    status, _, _ = call(proxy, "GET", "/v1/models", headers={"x-api-key": MASTER_KEY}, key=None)
    assert status == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "llama-3.1-8b-instruct"}, "messages"),
        ({**CHAT, "temperature": 3}, "temperature"),
        ({**CHAT, "messages": [{"role": "user", "content": 1}]}, "messages[0].content"),
        ({**CHAT, "max_tokens": "ten"}, "max_tokens"),
        ({**CHAT, "api_base": "http://169.254.169.254/"}, "api_base"),
        ({**CHAT, "api_key": "mine"}, "api_key"),
        ({"messages": CHAT["messages"]}, "model"),
    ],
)
def test_client_mistakes_are_400_naming_the_field(
    proxy: RunningProxy, body: dict[str, Any], param: str
) -> None:
    status, _, answer = call(proxy, "POST", "/v1/chat/completions", body)
    assert status == 400
    assert assert_envelope(answer)["param"] == param


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b"\xff\xfe"])
def test_malformed_bodies_are_400(proxy: RunningProxy, raw: bytes) -> None:
    status, _, answer = call(proxy, "POST", "/v1/chat/completions", raw)
    assert status == 400
    assert_envelope(answer)


def test_unknown_model_is_404_listing_aliases(proxy: RunningProxy) -> None:
    status, _, answer = call(proxy, "POST", "/v1/chat/completions", {**CHAT, "model": "gpt-5"})
    assert status == 404
    message = assert_envelope(answer)["message"]
    assert "llama-3.2-3b-instruct" in message and "mistral-nemo-12b-instruct" in message


def test_body_over_the_limit_is_413(emulator: Emulator) -> None:
    config = proxy_config(emulator.base_url, max_request_size_mb=1)
    with running_proxy(config) as small:
        big = {**CHAT, "messages": [{"role": "user", "content": "x" * (2 * 1024 * 1024)}]}
        status, _, answer = call(small, "POST", "/v1/chat/completions", big)
    assert status == 413
    assert_envelope(answer)


def test_models_endpoints(proxy: RunningProxy) -> None:
    status, _, body = call(proxy, "GET", "/v1/models")
    assert status == 200
    assert [m["id"] for m in body["data"]] == [
        "llama-3.1-8b-instruct",
        "llama-3.2-3b-instruct",
        "mistral-nemo-12b-instruct",
    ]
    status, _, one = call(proxy, "GET", "/v1/models/llama-3.2-3b-instruct")
    assert status == 200 and one["id"] == "llama-3.2-3b-instruct"
    status, _, _ = call(proxy, "GET", "/models/nope")
    assert status == 404


def test_health_and_openapi_need_no_key(proxy: RunningProxy) -> None:
    for path in ("/health/liveliness", "/health/liveness", "/health/readiness"):
        status, _, _ = call(proxy, "GET", path, key=None)
        assert status == 200, path
    status, _, doc = call(proxy, "GET", "/openapi.json", key=None)
    assert status == 200 and "/v1/chat/completions" in doc["paths"]


def test_readiness_names_the_litellm_api_it_matches(proxy: RunningProxy) -> None:
    status, _, body = call(proxy, "GET", "/health/readiness", key=None)
    assert status == 200
    assert body["litellm_version"] == LITELLM_API_VERSION and body["version"] == __version__


def test_routes_lists_every_path_without_a_key(proxy: RunningProxy) -> None:
    status, _, body = call(proxy, "GET", "/routes", key=None)
    assert status == 200
    listed = {route["path"]: route["methods"] for route in body["routes"]}
    assert listed["/v1/chat/completions"] == ["POST"]
    assert listed["/key/generate"] == ["POST"] and listed["/routes"] == ["GET"]


def test_unknown_route_and_wrong_method(proxy: RunningProxy) -> None:
    assert call(proxy, "GET", "/v1/nothing")[0] == 404
    assert call(proxy, "GET", "/v1/chat/completions")[0] == 405


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (FaultConfig(fail_first_n=1, error_status=429), 429),
        (FaultConfig(fail_first_n=1, error_status=503), 503),
        (FaultConfig(fail_first_n=1, error_status=500, error_body="html"), 500),
    ],
)
def test_upstream_errors_keep_their_status(
    proxy: RunningProxy, clean_emulator: Emulator, fault: FaultConfig, status: int
) -> None:
    clean_emulator.faults = fault
    got, headers, answer = call(proxy, "POST", "/v1/chat/completions", CHAT)
    assert got == status
    assert_envelope(answer)
    if status == 429:
        assert int(headers["retry-after"]) >= 1


def test_unreachable_upstream_is_502_without_secrets() -> None:
    config = proxy_config("http://127.0.0.1:9/v1")
    with running_proxy(config) as dead:
        status, _, answer = call(dead, "POST", "/v1/chat/completions", CHAT)
    assert status == 502
    assert UPSTREAM_KEY not in json.dumps(answer)
    assert "Traceback" not in json.dumps(answer)


def test_upstream_timeout_is_504(emulator: Emulator) -> None:
    config = proxy_config(emulator.base_url, master_key=MASTER_KEY)
    router = dataclasses.replace(config.router, timeout=0.3)
    config = dataclasses.replace(config, request_timeout=0.3, router=router)
    with running_proxy(config) as slow:
        emulator.faults = FaultConfig(hang=True)
        try:
            status, _, answer = call(slow, "POST", "/v1/chat/completions", CHAT)
        finally:
            emulator.faults = FaultConfig()
    assert status == 504
    assert_envelope(answer)


def test_x_litellm_timeout_bounds_the_call_and_is_echoed(proxy: RunningProxy) -> None:
    status, headers, _ = call(
        proxy, "POST", "/v1/chat/completions", CHAT, {"x-litellm-timeout": "30"}
    )
    assert status == 200 and headers["x-litellm-timeout"] == "30.0"
    status, headers, _ = call(proxy, "POST", "/v1/chat/completions", CHAT)
    assert status == 200 and headers["x-litellm-timeout"] == "300.0"  # the deployment's


def test_x_litellm_timeout_cuts_a_slow_upstream(emulator: Emulator) -> None:
    with running_proxy(proxy_config(emulator.base_url, master_key=MASTER_KEY)) as proxy:
        emulator.faults = FaultConfig(hang=True)
        try:
            status, headers, answer = call(
                proxy, "POST", "/v1/chat/completions", CHAT, {"x-litellm-timeout": "0.3"}
            )
        finally:
            emulator.faults = FaultConfig()
    assert status == 504 and headers["x-litellm-timeout"] == "0.3"
    assert_envelope(answer)


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf", "1e9"])
def test_a_bad_x_litellm_timeout_is_a_400(proxy: RunningProxy, value: str) -> None:
    status, headers, answer = call(
        proxy, "POST", "/v1/chat/completions", CHAT, {"x-litellm-timeout": value}
    )
    assert status == 400 and answer["error"]["param"] == "x-litellm-timeout"
    assert "x-litellm-timeout" not in headers
