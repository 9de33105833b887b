"""Traces with ``callbacks: ["otel"]``: an in-process OTLP/HTTP receiver decodes the
spans of a plain, a streamed and a failed-over request; the W3C ``traceparent`` of the
client is honoured and each attempt's is sent to the upstream."""

from __future__ import annotations

import http.client
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, UPSTREAM_KEY, RunningProxy, running_proxy
from tests.proxy.observability.otlp_receiver import Receiver, attributes, otlp_receiver

from tokenway.emulator import Emulator
from tokenway.proxy.config import parse_config

pytestmark = pytest.mark.usefixtures("clean_emulator")
CHAT = next(iter(BRIEF_MODELS))
SERVER, CLIENT, INTERNAL = 2, 3, 1


def _config(api_base: str, collector: str) -> Any:
    entries = [
        {
            "model_name": CHAT,
            "litellm_params": {
                "model": BRIEF_MODELS[CHAT], "api_base": api_base, "api_key": UPSTREAM_KEY,
            },
        },
        {  # nothing listens there: its attempt fails, and the request falls back
            "model_name": "flaky",
            "litellm_params": {
                "model": BRIEF_MODELS[CHAT], "api_base": "http://127.0.0.1:9/v1", "api_key": "x",
            },
        },
    ]  # fmt: skip
    data = {
        "model_list": entries,
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {
            "num_retries": 0, "callbacks": ["otel"], "fallbacks": [{"flaky": [CHAT]}],
        },
    }  # fmt: skip
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector, "OTEL_SERVICE_NAME": "gateway-test"}
    return parse_config(data, env=env)


@pytest.fixture
def traced(emulator: Emulator) -> Iterator[tuple[RunningProxy, Receiver]]:
    with (
        otlp_receiver() as receiver,
        running_proxy(_config(emulator.base_url, receiver.url)) as proxy,
    ):
        yield proxy, receiver


def _post(proxy: RunningProxy, body: dict[str, Any], traceparent: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        headers = {"authorization": f"Bearer {MASTER_KEY}", "traceparent": traceparent}
        conn.request("POST", "/v1/chat/completions", body=orjson.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _ids() -> tuple[str, str]:
    return os.urandom(16).hex(), os.urandom(8).hex()


def _by_kind(spans: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    kinds: dict[int, list[dict[str, Any]]] = {}
    for span in spans:
        kinds.setdefault(span["kind"], []).append(span)
    return kinds


MESSAGES = [{"role": "user", "content": "trace this"}]


def test_a_plain_request_is_a_tree_under_the_clients_trace(
    traced: tuple[RunningProxy, Receiver], emulator: Emulator
) -> None:
    proxy, receiver = traced
    trace_id, parent = _ids()
    status, raw = _post(proxy, {"model": CHAT, "messages": MESSAGES}, f"00-{trace_id}-{parent}-01")
    assert status == 200
    usage = orjson.loads(raw)["usage"]
    kinds = _by_kind(receiver.trace(trace_id, 2))
    (root,) = kinds[SERVER]
    (attempt,) = kinds[CLIENT]
    assert root["parentSpanId"] == parent  # the client's span is the parent
    assert attempt["parentSpanId"] == root["spanId"]
    attrs = attributes(root)
    assert attrs["gen_ai.request.model"] == CHAT
    assert attrs["gen_ai.response.model"] == BRIEF_MODELS[CHAT].split("/", 1)[1]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.system"] == "inference"
    assert attrs["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert attrs["http.response.status_code"] == 200
    assert attributes(attempt)["gen_ai.request.model"] == attrs["gen_ai.response.model"]
    assert f"00-{trace_id}-{attempt['spanId']}-01" in emulator.traceparents
    assert int(root["startTimeUnixNano"]) <= int(attempt["startTimeUnixNano"])
    assert int(attempt["endTimeUnixNano"]) <= int(root["endTimeUnixNano"])
    resource = receiver.posts[0]["resourceSpans"][0]["resource"]
    assert attributes(resource) == {"service.name": "gateway-test"}
    assert set(receiver.content_types) == {"application/json"}


def test_a_stream_has_its_relay_span(traced: tuple[RunningProxy, Receiver]) -> None:
    proxy, receiver = traced
    trace_id, parent = _ids()
    body = {"model": CHAT, "messages": MESSAGES, "stream": True}
    status, _ = _post(proxy, body, f"00-{trace_id}-{parent}-01")
    assert status == 200
    kinds = _by_kind(receiver.trace(trace_id, 3))
    (root,) = kinds[SERVER]
    (stream,) = kinds[INTERNAL]
    assert stream["name"] == "stream" and stream["parentSpanId"] == root["spanId"]
    assert attributes(root)["gen_ai.usage.output_tokens"] > 0
    assert int(stream["endTimeUnixNano"]) <= int(root["endTimeUnixNano"])


def test_a_failed_over_request_has_both_attempts(
    traced: tuple[RunningProxy, Receiver], emulator: Emulator
) -> None:
    proxy, receiver = traced
    trace_id, parent = _ids()
    status, _ = _post(proxy, {"model": "flaky", "messages": MESSAGES}, f"00-{trace_id}-{parent}-01")
    assert status == 200
    kinds = _by_kind(receiver.trace(trace_id, 3))
    (root,) = kinds[SERVER]
    failed, answered = sorted(kinds[CLIENT], key=lambda s: int(s["startTimeUnixNano"]))
    assert failed["status"]["code"] == 2 and answered["status"]["code"] == 0
    assert attributes(failed)["tokenway.deployment"] != attributes(answered)["tokenway.deployment"]
    assert attributes(root)["tokenway.fallbacks"] == 1
    assert f"00-{trace_id}-{answered['spanId']}-01" in emulator.traceparents


@pytest.mark.parametrize(
    "traceparent", ["00-nothex-nothex-01", f"00-{'0' * 32}-{'1' * 16}-01", "01-" + "a" * 50]
)
def test_a_bad_traceparent_starts_a_new_trace(
    traced: tuple[RunningProxy, Receiver], traceparent: str
) -> None:
    proxy, receiver = traced
    assert _post(proxy, {"model": CHAT, "messages": MESSAGES}, traceparent)[0] == 200
    deadline = time.monotonic() + 10
    while not (roots := [s for s in receiver.spans() if s["kind"] == SERVER]):
        assert time.monotonic() < deadline, "no span arrived"
        time.sleep(0.05)
    (root,) = roots
    assert "parentSpanId" not in root
    assert len(root["traceId"]) == 32 and root["traceId"] != "0" * 32


def test_an_unreachable_collector_costs_a_warning(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(emulator.base_url, "http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING), running_proxy(config) as proxy:
        for _ in range(3):
            trace_id, parent = _ids()
            body = {"model": CHAT, "messages": MESSAGES}
            assert _post(proxy, body, f"00-{trace_id}-{parent}-01")[0] == 200
        observer = proxy.app.observer
        assert observer is not None and observer.exporter is not None
        observer.exporter.flush()
        observer.exporter.flush()
    warnings = [r for r in caplog.records if "cannot export" in r.getMessage()]
    assert len(warnings) == 1


def test_the_standard_variables_configure_the_exporter(emulator: Emulator) -> None:
    data = {
        "model_list": [{"model_name": CHAT, "litellm_params": {"model": BRIEF_MODELS[CHAT]}}],
        "litellm_settings": {"callbacks": ["otel"]},
    }
    env = {
        "INFERENCE_API_KEY": "x",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc,x-team=obs",
    }
    config = parse_config(data, env=env)
    settings = config.observability
    assert settings.otel and settings.otlp_traces_url == "http://127.0.0.1:4318/v1/traces"
    assert settings.otlp_headers == (("authorization", "Bearer abc"), ("x-team", "obs"))
    assert [w.partition(":")[0] for w in config.warnings] == ["OTEL_EXPORTER_OTLP_PROTOCOL"]
    traces = {**env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/t"}
    assert parse_config(data, env=traces).observability.otlp_traces_url == "http://127.0.0.1:9/t"


@pytest.mark.parametrize("stream", [False, True])
def test_a_mocked_answer_has_its_attempt_span(
    traced: tuple[RunningProxy, Receiver], emulator: Emulator, stream: bool
) -> None:
    proxy, receiver = traced
    trace_id, parent = _ids()
    body = {"model": CHAT, "messages": MESSAGES, "mock_response": "mocked", "stream": stream}
    status, _ = _post(proxy, body, f"00-{trace_id}-{parent}-01")
    assert status == 200
    kinds = _by_kind(receiver.trace(trace_id, 3 if stream else 2))
    (root,) = kinds[SERVER]
    (attempt,) = kinds[CLIENT]  # never sent, but an attempt at the deployment all the same
    assert attempt["parentSpanId"] == root["spanId"] and attempt["status"]["code"] == 0
    assert attributes(attempt)["http.response.status_code"] == 200
    assert not [t for t in emulator.traceparents if trace_id in t]  # nothing was sent
