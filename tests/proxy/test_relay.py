"""Streams through the proxy: frame by frame, failures never look like success."""

from __future__ import annotations

import http.client
import json
import time

import openai
import pytest
from openai import OpenAI
from tests.proxy.conftest import MASTER_KEY, RunningProxy

from tokenway.emulator import Emulator, FaultConfig

pytestmark = pytest.mark.usefixtures("clean_emulator")
STREAM = {
    "model": "llama-3.1-8b-instruct",
    "messages": [{"role": "user", "content": "Write a REST API in Python"}],
    "stream": True,
}


def open_stream(proxy: RunningProxy, body: dict[str, object]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps(body),
        headers={"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"},
    )
    return conn.getresponse()


def test_sse_headers_and_no_buffering(proxy: RunningProxy) -> None:
    resp = open_stream(proxy, STREAM)
    assert resp.status == 200
    assert resp.getheader("content-type", "").startswith("text/event-stream")
    assert resp.getheader("x-accel-buffering") == "no"
    assert resp.getheader("cache-control") == "no-cache"
    frames = resp.read().decode().split("\n\n")
    assert frames[-2] == "data: [DONE]"


def test_frames_arrive_as_the_upstream_sends_them(
    proxy: RunningProxy, clean_emulator: Emulator
) -> None:
    clean_emulator.faults = FaultConfig(chunk_delay_ms=150)
    started = time.monotonic()
    resp = open_stream(proxy, STREAM)
    first = resp.read1(65536)
    assert b"data: " in first
    assert time.monotonic() - started < 1.0  # the whole answer takes several seconds
    resp.close()


def test_usage_is_captured_for_spend_but_hidden_from_the_client(proxy: RunningProxy) -> None:
    resp = open_stream(proxy, STREAM)
    request_id = resp.getheader("x-request-id")
    body = resp.read().decode()
    assert '"usage"' not in body
    (event,) = [row for row in proxy.app.spend.recent if row.request_id == request_id]
    assert event.stream and event.prompt_tokens > 0 and event.completion_tokens > 0
    assert event.cost is not None and event.cost > 0


def test_failure_before_first_content_is_an_http_error(
    proxy: RunningProxy, clean_emulator: Emulator
) -> None:
    clean_emulator.faults = FaultConfig(stream_cut_after=0)
    resp = open_stream(proxy, STREAM)
    assert resp.status == 502
    assert json.loads(resp.read())["error"]["type"] == "api_connection_error"


def test_cut_after_content_ends_with_an_error_frame(
    proxy: RunningProxy, clean_emulator: Emulator
) -> None:
    clean_emulator.faults = FaultConfig(stream_cut_after=3)
    resp = open_stream(proxy, STREAM)
    assert resp.status == 200
    frames = [f for f in resp.read().decode().split("\n\n") if f]
    assert "data: [DONE]" not in frames
    last = json.loads(frames[-1].removeprefix("data: "))
    assert last["error"]["code"] == "stream_incomplete"


def test_openai_sdk_raises_on_a_mid_stream_error(
    proxy: RunningProxy, clean_emulator: Emulator
) -> None:
    clean_emulator.faults = FaultConfig(stream_error_after=2)
    client = OpenAI(base_url=proxy.url, api_key=MASTER_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="llama-3.1-8b-instruct", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_client_disconnect_closes_the_upstream(
    proxy: RunningProxy, clean_emulator: Emulator
) -> None:
    clean_emulator.faults = FaultConfig(chunk_delay_ms=100)
    missing_before = proxy.app.spend.calls_without_usage
    resp = open_stream(proxy, STREAM)
    resp.read1(65536)
    resp.close()
    # The row is written (the counter moves) before the relay awaits the upstream's close
    # and the server counts the request done: wait for both, the test thread may look
    # in between (a loaded machine: "in_flight was 1").
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (
        proxy.app.spend.calls_without_usage == missing_before or proxy.server.in_flight
    ):
        time.sleep(0.02)
    assert proxy.app.spend.calls_without_usage == missing_before + 1
    assert proxy.server.in_flight == 0
