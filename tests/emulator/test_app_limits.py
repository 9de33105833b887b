"""The per-key rate limit over HTTP (checklist 19)."""

from __future__ import annotations

import openai
import pytest

from .conftest import StartEmulator
from .raw_http import HELLO, KEY, MODEL, chat, raw_request


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_item19_over_the_limit_is_429_with_retry_after_then_success_after_waiting(
    start_emulator: StartEmulator,
) -> None:
    clock = FakeClock()
    emulator = start_emulator(rpm=2, clock=clock)
    first = chat(emulator)
    assert first.status == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert chat(emulator).status == 200
    refused = chat(emulator)
    assert refused.status == 429
    assert refused.headers["retry-after"] == "30"  # 2 RPM: a token every 30 s
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.json()["error"] == {
        "message": "Rate limit exceeded: 2 requests per minute.",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    clock.now += 29
    assert chat(emulator).status == 429
    clock.now += 1  # 30 s after the refusal that said 30
    assert chat(emulator).status == 200
    assert emulator.rate_limited == 2
    assert emulator.requests_by_status == {200: 3, 429: 2}


def test_item19_the_sdk_raises_rate_limit_error(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(rpm=1, clock=FakeClock())
    with openai.OpenAI(base_url=emulator.base_url, api_key=KEY, max_retries=0) as sdk:
        sdk.chat.completions.create(model=MODEL, messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model=MODEL, messages=HELLO)  # type: ignore[arg-type]
    assert int(caught.value.response.headers["retry-after"]) == 60


def test_keys_are_limited_separately(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(api_keys=(KEY, "other"), rpm=1, clock=FakeClock())
    assert chat(emulator).status == 200
    assert chat(emulator).status == 429
    body = {"model": MODEL, "messages": HELLO}
    assert raw_request(emulator, "POST", "/v1/chat/completions", body, key="other").status == 200


def test_a_short_window_refills_fast(start_emulator: StartEmulator) -> None:
    clock = FakeClock()
    emulator = start_emulator(rpm=3, rate_window_s=1.5, clock=clock)  # 2 tokens per second
    assert [chat(emulator).status for _ in range(4)] == [200, 200, 200, 429]
    clock.now += 0.5
    assert chat(emulator).status == 200
