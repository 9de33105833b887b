"""`POST /v1/completions`, the legacy text API, with the openai SDK and raw HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tokenway.emulator import Emulator, FaultConfig
from tokenway.emulator.tokens import count_tokens

from .conftest import StartEmulator
from .raw_http import MODEL, RawResponse, raw_request, sse_chunks, sse_events

PROMPT = "Once upon a time"


def complete(emulator: Emulator, **fields: Any) -> RawResponse:
    body = {"model": MODEL, "prompt": PROMPT, **fields}
    return raw_request(emulator, "POST", "/v1/completions", body)


def test_sdk_completion_shape_and_usage(client: openai.OpenAI) -> None:
    answer = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=200, seed=7)
    assert answer.object == "text_completion" and answer.model == MODEL
    assert answer.id.startswith("cmpl-")
    choice = answer.choices[0]
    assert choice.index == 0 and choice.text and choice.finish_reason == "stop"
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens == count_tokens(PROMPT)
    assert usage.completion_tokens == count_tokens(choice.text)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    again = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=200, seed=7)
    assert again.choices[0].text == choice.text  # deterministic for model, prompt and seed


def test_max_tokens_defaults_to_16_and_cuts_with_length(client: openai.OpenAI) -> None:
    answer = client.completions.create(model=MODEL, prompt=PROMPT)
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 16
    short = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=3)
    assert short.usage is not None and short.usage.completion_tokens == 3


def test_prompt_arrays_n_echo_and_stop(client: openai.OpenAI) -> None:
    prompts = ["first prompt", "second one"]
    answer = client.completions.create(model=MODEL, prompt=prompts, n=2, max_tokens=100)
    assert [c.index for c in answer.choices] == [0, 1, 2, 3]
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == sum(count_tokens(p) for p in prompts)
    echoed = client.completions.create(model=MODEL, prompt=PROMPT, echo=True, max_tokens=100)
    assert echoed.choices[0].text.startswith(PROMPT + " ")
    plain = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=100)
    word = plain.choices[0].text.split()[2]
    stopped = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=100, stop=[word])
    assert word not in stopped.choices[0].text and stopped.choices[0].finish_reason == "stop"
    tokens = client.completions.create(model=MODEL, prompt=[[1, 2, 3, 4]], max_tokens=5)
    assert tokens.usage is not None and tokens.usage.prompt_tokens == 4


def test_sdk_stream_matches_the_plain_answer(client: openai.OpenAI) -> None:
    plain = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=100, seed=3)
    chunks = list(
        client.completions.create(
            model=MODEL,
            prompt=PROMPT,
            max_tokens=100,
            seed=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(chunk.object == "text_completion" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(choice.text for chunk in chunks for choice in chunk.choices)
    assert text == plain.choices[0].text
    *body, closing, usage_chunk = chunks
    assert len(body) > 1 and all(c.choices[0].finish_reason is None for c in body)
    assert closing.choices[0].text == "" and closing.choices[0].finish_reason == "stop"
    assert usage_chunk.choices == [] and usage_chunk.usage == plain.usage


def test_raw_stream_framing_without_usage(emulator: Emulator) -> None:
    answer = complete(emulator, stream=True, n=2)
    assert answer.headers["content-type"] == "text/event-stream"
    chunks = sse_chunks(answer.body)
    assert all("usage" not in chunk for chunk in chunks)
    assert all(len(chunk["choices"]) == 1 for chunk in chunks)
    finishes = [c["choices"][0]["index"] for c in chunks if c["choices"][0]["finish_reason"]]
    assert sorted(finishes) == [0, 1]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": None}, "prompt"),
        ({"prompt": []}, "prompt"),
        ({"prompt": ["ok", 3.5]}, "prompt"),
        ({"model": None}, "model"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 99}, "n"),
        ({"echo": "yes"}, "echo"),
        ({"temperature": 3}, "temperature"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    emulator: Emulator, fields: dict[str, Any], param: str
) -> None:
    answer = complete(emulator, **fields)
    assert answer.status == 400, answer.body
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_context_overflow_and_model_errors(emulator: Emulator) -> None:
    overflow = complete(emulator, prompt="word " * 16_000, max_tokens=1000)
    error = overflow.json()["error"]
    assert overflow.status == 400
    assert (error["code"], error["param"]) == ("context_length_exceeded", "prompt")
    assert "16000 in the messages, 1000 in the completion" in error["message"]
    missing = complete(emulator, model="meta-llama/llama-3.1-8b-instruct")
    assert missing.status == 404 and missing.json()["error"]["code"] == "model_not_found"
    embedding = complete(emulator, model="qwen/qwen3-embedding-4b")
    assert embedding.status == 400 and embedding.json()["error"]["param"] == "model"


def test_auth_credit_limits(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(rpm=2, out_of_credit_keys=("sk-broke",), max_output_tokens=50)
    assert raw_request(emulator, "POST", "/v1/completions", {}, key=None).status == 401
    broke = raw_request(emulator, "POST", "/v1/completions", {"model": MODEL}, key="sk-broke")
    assert broke.status == 402
    capped = complete(emulator, max_tokens=51)
    assert capped.status == 400 and capped.json()["error"]["param"] == "max_tokens"
    # The refused-for-size request took a slot (limits come before body checks); 402 did not.
    assert [complete(emulator).status for _ in range(2)] == [200, 429]


def test_stream_faults_apply(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.faults = FaultConfig(stream_error_after=2)
    events = sse_events(complete(emulator, stream=True).body)
    assert len(events) == 3 and events[-1].startswith(b"event: error\ndata: ")
    with pytest.raises(openai.APIError):
        list(client.completions.create(model=MODEL, prompt=PROMPT, stream=True))
    emulator.faults = FaultConfig(stream_cut_after=1)
    # openai 3 wraps the cut in APIConnectionError; openai 2 (kept by llama-index's
    # openai<3 pin) lets httpx's error through.
    with pytest.raises((openai.APIError, httpx.RemoteProtocolError)):
        list(client.completions.create(model=MODEL, prompt=PROMPT, stream=True))
    emulator.faults = FaultConfig(fail_first_n=1, error_status=500)
    with pytest.raises(openai.InternalServerError):
        client.completions.create(model=MODEL, prompt=PROMPT)
    assert client.completions.create(model=MODEL, prompt=PROMPT).choices
