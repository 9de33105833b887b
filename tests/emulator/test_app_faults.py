"""Fault injection over HTTP: at start, at runtime, per request, via /_emulator (checklist 14)."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import httpx
import openai
import orjson
import pytest

from tokenway.emulator import Emulator, FaultConfig

from .conftest import StartEmulator
from .raw_http import HELLO, MODEL, chat, raw_request


def create(client: openai.OpenAI, **fields: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=HELLO, **fields)  # type: ignore[arg-type]


def drain(stream: Any) -> list[Any]:
    return list(stream)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_item14c_configured_server_errors(
    client: openai.OpenAI, emulator: Emulator, status: int
) -> None:
    emulator.faults = FaultConfig(error_rate=1.0, error_status=status)
    with pytest.raises(openai.InternalServerError) as caught:
        create(client)
    assert caught.value.status_code == status
    body: Any = caught.value.body
    assert set(body) == {"message", "type", "param", "code"}


def test_injected_429_and_503_carry_retry_after(emulator: Emulator) -> None:
    emulator.faults = FaultConfig(error_rate=1.0, error_status=429, retry_after_s=3)
    limited = chat(emulator)
    assert limited.status == 429 and limited.headers["retry-after"] == "3"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    emulator.faults = FaultConfig(error_rate=1.0, error_status=503)
    assert chat(emulator).headers["retry-after"] == "1"


def test_html_and_empty_error_bodies(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.faults = FaultConfig(error_rate=1.0, error_status=502, error_body="html")
    page = chat(emulator)
    assert page.headers["content-type"].startswith("text/html") and b"<html>" in page.body
    with pytest.raises(openai.InternalServerError):
        create(client)
    emulator.faults = FaultConfig(error_rate=1.0, error_status=500, error_body="empty")
    assert chat(emulator).body == b""


def test_fail_first_n_then_succeed(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.faults = FaultConfig(fail_first_n=2, error_status=503)
    outcomes = []
    for _ in range(4):
        try:
            create(client)
            outcomes.append(200)
        except openai.APIStatusError as error:
            outcomes.append(error.status_code)
    assert outcomes == [503, 503, 200, 200]
    assert emulator.requests_by_status == {503: 2, 200: 2} and emulator.requests_total == 4


def test_fail_first_n_set_at_start(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(faults=FaultConfig(fail_first_n=1))
    assert [chat(emulator).status for _ in range(2)] == [500, 200]


def test_item14b_stream_cut_drops_the_connection_without_done(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.faults = FaultConfig(stream_cut_after=3)
    # openai 3 wraps the cut in APIConnectionError; openai 2 (kept by llama-index's
    # openai<3 pin) lets httpx's error through.
    with pytest.raises((openai.APIConnectionError, httpx.RemoteProtocolError)):
        drain(create(client, stream=True))
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    body = orjson.dumps({"model": MODEL, "messages": HELLO, "stream": True})
    connection.request(
        "POST", "/v1/chat/completions", body, {"Authorization": "Bearer sk-emulator-test"}
    )
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    assert caught.value.partial.count(b"data: ") == 3 and b"[DONE]" not in caught.value.partial
    connection.close()


def test_item14a_error_event_mid_stream(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.faults = FaultConfig(stream_error_after=2)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in create(client, stream=True):
            received.append(chunk)
    assert len(received) == 2
    assert "interrupted" in caught.value.message
    raw = chat(emulator, stream=True).body
    assert raw.endswith(b"\n\n") and b"[DONE]" not in raw
    last = raw[:-2].split(b"\n\n")[-1]
    assert last.startswith(b"event: error\ndata: ")
    assert json.loads(last.split(b"data: ", 1)[1])["error"]["type"] == "server_error"


def test_latency_and_chunk_delay(emulator: Emulator) -> None:
    emulator.faults = FaultConfig(latency_ms=60)
    started = time.perf_counter()
    assert chat(emulator).status == 200
    assert time.perf_counter() - started >= 0.06
    emulator.faults = FaultConfig(chunk_delay_ms=15)
    started = time.perf_counter()
    body = chat(emulator, stream=True, max_tokens=3).body
    frames = body.count(b"data: ")  # chunks plus [DONE]
    assert time.perf_counter() - started >= 0.015 * (frames - 2)
    assert frames >= 4


def test_hang_until_the_client_gives_up(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.faults = FaultConfig(hang=True)
    with pytest.raises(openai.APITimeoutError):
        create(client, timeout=0.2)
    deadline = time.monotonic() + 2
    while emulator.requests_by_status.get(499) != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emulator.requests_by_status == {499: 1}


def test_per_request_fault_header(client: openai.OpenAI, emulator: Emulator) -> None:
    fault = json.dumps({"error_rate": 1, "error_status": 502})
    with pytest.raises(openai.InternalServerError) as caught:
        create(client, extra_headers={"x-emulator-fault": fault})
    assert caught.value.status_code == 502
    assert create(client).choices  # only that request was affected
    once = {"x-emulator-fault": json.dumps({"fail_first_n": 1, "error_status": 503})}
    with pytest.raises(openai.InternalServerError):
        create(client, extra_headers=once)
    assert create(client, extra_headers=once).choices  # same header: its count is used up
    body = {"model": MODEL, "messages": HELLO}
    headers = {"x-emulator-fault": "{oops"}
    bad = raw_request(emulator, "POST", "/v1/chat/completions", body, headers=headers)
    assert bad.status == 400 and bad.json()["error"]["param"] == "x-emulator-fault"


def test_the_fault_header_is_ignored_unless_allowed(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(allow_fault_header=False)
    body = {"model": MODEL, "messages": HELLO}
    headers = {"x-emulator-fault": json.dumps({"error_rate": 1})}
    assert (
        raw_request(emulator, "POST", "/v1/chat/completions", body, headers=headers).status == 200
    )


def test_faults_over_http(emulator: Emulator) -> None:
    assert (
        raw_request(emulator, "POST", "/_emulator/faults", {"fail_first_n": 1}, key=None).status
        == 401
    )
    set_ = raw_request(
        emulator, "POST", "/_emulator/faults", {"fail_first_n": 1, "error_status": 502}
    )
    assert set_.status == 200 and set_.json()["fail_first_n"] == 1
    assert raw_request(emulator, "GET", "/_emulator/faults").json()["error_status"] == 502
    assert emulator.faults == FaultConfig(fail_first_n=1, error_status=502)
    assert chat(emulator).status == 502
    assert chat(emulator).status == 200
    emulator.faults = FaultConfig(error_rate=1.0)
    assert raw_request(emulator, "DELETE", "/_emulator/faults").json() == FaultConfig().to_dict()
    assert chat(emulator).status == 200
    unknown = raw_request(emulator, "POST", "/_emulator/faults", {"explode": True})
    assert unknown.status == 400 and "explode" in unknown.json()["error"]["message"]
    stats = raw_request(emulator, "GET", "/_emulator/stats").json()
    assert stats["requests_total"] == 3 and stats["requests_by_status"] == {"200": 2, "502": 1}
