"""The proxy routes over deployment groups: failover, fallbacks, limits, and says what it did."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, running_proxy
from tests.proxy.routing_helpers import deployment, post_chat, routing_config

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread
from tokenway.retry import Backoff

FAST = Backoff(base=0.001, cap=0.002, max_retry_after=0.005)
DEAD = "http://127.0.0.1:9/v1"  # nothing listens there


@pytest.fixture(scope="module")
def emulators() -> Iterator[list[Emulator]]:
    config = EmulatorConfig(api_keys=(UPSTREAM_KEY,), rpm=1_000_000)
    with (
        run_emulator_in_thread(config) as a,
        run_emulator_in_thread(config) as b,
        run_emulator_in_thread(config) as c,
    ):
        yield [a, b, c]


@pytest.fixture
def emus(emulators: list[Emulator]) -> Iterator[list[Emulator]]:
    for emulator in emulators:
        emulator.faults = FaultConfig()
    yield emulators
    for emulator in emulators:
        emulator.faults = FaultConfig()


def test_a_dead_deployment_costs_the_client_nothing(emus: list[Emulator]) -> None:
    bad, good, _ = emus
    bad.faults = FaultConfig(error_rate=1, error_status=503)
    config = routing_config(
        [deployment("m", bad, "bad"), deployment("m", good, "good")],
        {"num_retries": 2, "cooldown_time": 60},
    )
    before = bad.requests_total
    with running_proxy(config, FAST) as proxy:
        answers = [post_chat(proxy, "m") for _ in range(1000)]  # the bar
    assert {status for status, _, _ in answers} == {200}
    assert {h["x-tokenway-deployment"] for _, h, _ in answers} == {"good"}
    assert {h["x-tokenway-model-group"] for _, h, _ in answers} == {"m"}
    retried = [h for _, h, _ in answers if h["x-tokenway-attempted-retries"] == "1"]
    assert len(retried) == bad.requests_total - before == 4  # then it was cooled down
    assert all(h["x-litellm-attempted-retries"] == "1" for h in retried)


def test_fallback_chain_and_the_headers_of_a_failure(emus: list[Emulator]) -> None:
    first, second, last = emus
    first.faults = FaultConfig(error_rate=1, error_status=500)
    second.faults = FaultConfig(error_rate=1, error_status=429)
    config = routing_config(
        [deployment("a", first, "a1"), deployment("b", second, "b1"), deployment("c", last, "c1")],
        {"num_retries": 0, "fallbacks": [{"a": ["b", "c"]}]},
    )
    with running_proxy(config, FAST) as proxy:
        status, headers, body = post_chat(proxy, "a")
        assert status == 200 and body["model"] == "c"
        assert headers["x-tokenway-attempted-fallbacks"] == "2"
        assert headers["x-litellm-attempted-fallbacks"] == "2"
        assert headers["x-tokenway-model-group"] == "c"
        assert headers["x-tokenway-deployment"] == "c1" == headers["x-litellm-model-id"]
        last.faults = FaultConfig(error_rate=1, error_status=503)
        status, headers, body = post_chat(proxy, "a")
    assert status == 503 and body["error"]["type"] == "server_error"
    assert headers["x-tokenway-attempted-fallbacks"] == "2"
    assert headers["x-tokenway-deployment"] == "c1"


def test_context_window_fallback_is_taken_before_sending(emus: list[Emulator]) -> None:
    small, big, _ = emus
    config = routing_config(
        [
            deployment("small", small, "s1", model_info={"max_input_tokens": 64}),
            deployment("big", big, "b1"),
            deployment("solo", small, "o1", model_info={"max_input_tokens": 64}),
        ],
        {"context_window_fallbacks": [{"small": ["big"]}]},
    )
    long = [{"role": "user", "content": "many words " * 100}]
    before = small.requests_total
    with running_proxy(config, FAST) as proxy:
        status, headers, body = post_chat(proxy, "small", long, max_tokens=8)
        assert status == 200 and body["model"] == "big"
        assert headers["x-tokenway-attempted-fallbacks"] == "1"
        status, headers, body = post_chat(proxy, "solo", long, max_tokens=8)
    assert status == 400 and body["error"]["code"] == "context_length_exceeded"
    assert headers["x-tokenway-deployment"] == ""  # nothing was sent
    assert small.requests_total == before


@pytest.mark.parametrize(
    "fault",
    [FaultConfig(error_rate=1, error_status=500), FaultConfig(stream_error_after=0)],
)
def test_a_stream_whose_first_deployment_fails_completes_on_the_second(
    emus: list[Emulator], fault: FaultConfig
) -> None:
    bad, good, _ = emus
    bad.faults = fault
    config = routing_config(
        [deployment("m", bad, "bad"), deployment("m", good, "good")], {"num_retries": 1}
    )
    before = bad.requests_total
    with running_proxy(config, FAST) as proxy:
        client = OpenAI(base_url=proxy.url, api_key=MASTER_KEY, max_retries=0)
        for _ in range(8):
            stream = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            assert text
    assert bad.requests_total > before  # the failing one was tried; the client never knew


def test_a_saturated_group_answers_429_with_retry_after(emus: list[Emulator]) -> None:
    slow, _, _ = emus
    slow.faults = FaultConfig(latency_ms=400)
    config = routing_config(
        [deployment("m", slow, "only", max_parallel_requests=1)],
        {"max_wait_for_capacity": 0.05},
    )
    results: list[Any] = []
    with running_proxy(config, FAST) as proxy:
        first = threading.Thread(target=lambda: results.append(post_chat(proxy, "m")))
        first.start()
        while proxy.app.router.stats("m")[0].in_flight == 0:
            time.sleep(0.001)
        status, headers, body = post_chat(proxy, "m")
        first.join()
        assert proxy.app.router.stats("m")[0].cooldown_until == 0.0
    assert results[0][0] == 200
    assert status == 429 and body["error"]["code"] == "deployments_saturated"
    assert int(headers["retry-after"]) >= 1
    assert headers["x-tokenway-model-group"] == "m"


def test_a_dead_upstream_still_fails_over_by_connection_error(emus: list[Emulator]) -> None:
    _, good, _ = emus
    config = routing_config(
        [deployment("m", DEAD, "dead"), deployment("m", good, "good")], {"num_retries": 1}
    )
    with running_proxy(config, FAST) as proxy:
        answers = [post_chat(proxy, "m") for _ in range(10)]
    assert {status for status, _, _ in answers} == {200}


def test_a_stream_keeps_its_deployment_busy_until_it_ends(emus: list[Emulator]) -> None:
    slow = emus[0]
    slow.faults = FaultConfig(chunk_delay_ms=50)
    config = routing_config([deployment("m", slow, "only")], {"routing_strategy": "least-busy"})
    with running_proxy(config, FAST) as proxy:
        client = OpenAI(base_url=f"{proxy.url}/v1", api_key=MASTER_KEY, max_retries=0)
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=8, stream=True
        )
        next(iter(stream))
        assert proxy.app.router.stats("m")[0].in_flight == 1  # least-busy sees the stream
        for _ in stream:
            pass
        deadline = time.monotonic() + 2
        while proxy.app.router.stats("m")[0].in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.app.router.stats("m")[0].in_flight == 0
