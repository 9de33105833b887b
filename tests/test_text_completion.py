"""``text_completion()`` / ``atext_completion()`` against the emulator's legacy completions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import tokenway
from tokenway import Client
from tokenway.catalog import cost_of
from tokenway.emulator import Emulator, FaultConfig
from tokenway.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    UnsupportedParamsError,
)
from tokenway.retry import Backoff

MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
FAST = Backoff(base=0.01, cap=0.05)


@pytest.fixture
def client() -> Iterator[Client]:
    client = Client(backoff=FAST)
    yield client
    client.close()


def test_a_prompt_gets_text_usage_and_cost(inference_env: Emulator, client: Client) -> None:
    response = client.text_completion("Once upon a time", MODEL, max_tokens=12)
    assert isinstance(response, tokenway.TextCompletion)  # not a stream
    assert response.object == "text_completion"
    assert response.choices[0].text.strip()
    assert response.choices[0]["finish_reason"] in ("stop", "length")  # dict-style access
    usage = response.usage
    assert usage is not None and 0 < usage.completion_tokens <= 12 and usage.prompt_tokens > 0
    info = client.catalog.get(MODEL)
    assert response.cost == pytest.approx(
        cost_of(info, usage.prompt_tokens, usage.completion_tokens)
    )


def test_litellm_keyword_form_lists_of_prompts_and_n(
    inference_env: Emulator, client: Client
) -> None:
    response = tokenway.text_completion(
        model=MODEL, prompt=["First", "Second"], n=2, max_tokens=5, temperature=0.2
    )
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    assert all(c.finish_reason in ("stop", "length") for c in response.choices)


def test_stop_and_echo_reach_the_upstream(inference_env: Emulator, client: Client) -> None:
    response = client.text_completion("Echo me", MODEL, echo=True, stop=["."], max_tokens=40)
    assert isinstance(response, tokenway.TextCompletion)
    text = response.choices[0].text
    assert text.startswith("Echo me") and "." not in text


def test_stream_yields_text_chunks_then_usage_and_cost(
    inference_env: Emulator, client: Client
) -> None:
    stream = client.text_completion("Tell me", MODEL, stream=True, max_tokens=20)
    assert isinstance(stream, tokenway.TextCompletionStream)
    chunks = list(stream)
    assert chunks and all(isinstance(c, tokenway.TextCompletionChunk) for c in chunks)
    assert all(c.choices for c in chunks)  # the usage chunk tokenway asked for stays hidden
    text = "".join(c.choices[0].text for c in chunks)
    assert text.strip()
    assert stream.usage is not None and 0 < stream.usage.completion_tokens <= 20
    assert stream.cost is not None and stream.cost > 0


def test_stream_usage_chunk_when_the_caller_asks(inference_env: Emulator, client: Client) -> None:
    stream = client.text_completion(
        "Tell me", MODEL, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].cost == stream.cost


def test_async_plain_and_streamed(inference_env: Emulator, client: Client) -> None:
    async def run() -> tuple[tokenway.TextCompletion, list[str], tokenway.Usage | None]:
        try:
            plain = await client.atext_completion("Hi", MODEL, max_tokens=8)
            stream = await client.atext_completion("Hi", MODEL, stream=True, max_tokens=8)
            assert isinstance(plain, tokenway.TextCompletion)
            assert isinstance(stream, tokenway.AsyncTextCompletionStream)
            pieces = [c.choices[0].text async for c in stream]
            return plain, pieces, stream.usage
        finally:
            await client.aclose()

    plain, pieces, usage = asyncio.run(run())
    assert plain.choices[0].text and "".join(pieces).strip()
    assert usage is not None and usage.completion_tokens > 0


def test_wrong_key_is_401_and_not_retried(inference_env: Emulator, client: Client) -> None:
    before = inference_env.requests_total
    with pytest.raises(AuthenticationError):
        client.text_completion("Hi", MODEL, api_key="wrong", num_retries=3)
    assert inference_env.requests_total - before == 1


def test_unknown_model_is_404(inference_env: Emulator, client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.text_completion("Hi", "inference/no/such-model")


@pytest.mark.parametrize(
    ("prompt", "params", "param"),
    [
        (42, {}, "prompt"),
        ([], {}, "prompt"),
        (["ok", {"x": 1}], {}, "prompt[1]"),
        ("Hi", {"temperature": 5}, "temperature"),
        ("Hi", {"max_tokens": 0}, "max_tokens"),
        ("Hi", {"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ("Hi", {"echo": "yes"}, "echo"),
    ],
)
def test_bad_input_is_a_400_before_the_network(
    inference_env: Emulator, client: Client, prompt: object, params: dict[str, object], param: str
) -> None:
    before = inference_env.requests_total
    with pytest.raises(BadRequestError) as info:
        client.text_completion(prompt, MODEL, **params)
    assert info.value.param == param
    assert inference_env.requests_total == before


def test_a_prompt_over_the_window_is_a_context_error(
    inference_env: Emulator, client: Client
) -> None:
    with pytest.raises(ContextWindowExceededError):
        client.text_completion("word " * 20_000, MODEL, max_tokens=16)


def test_an_unsupported_parameter_is_refused_or_dropped(
    inference_env: Emulator, client: Client
) -> None:
    # Inference.net's row does not list the legacy API's logprobs or suffix.
    with pytest.raises(UnsupportedParamsError, match="logprobs"):
        client.text_completion("Hi", MODEL, logprobs=2)
    response = client.text_completion("Hi", MODEL, logprobs=2, drop_params=True, max_tokens=4)
    assert isinstance(response, tokenway.TextCompletion) and response.choices


def test_a_429_is_retried_to_success(inference_env: Emulator, client: Client) -> None:
    inference_env.faults = FaultConfig(fail_first_n=1, error_status=429)
    before = inference_env.requests_total
    response = client.text_completion("Hi", MODEL, num_retries=2, max_tokens=4)
    assert isinstance(response, tokenway.TextCompletion) and response.choices
    assert inference_env.requests_total - before == 2


def test_a_stream_answered_503_is_retried(inference_env: Emulator, client: Client) -> None:
    inference_env.faults = FaultConfig(fail_first_n=1, error_status=503)
    stream = client.text_completion("Hi", MODEL, stream=True, num_retries=1, max_tokens=6)
    assert isinstance(stream, tokenway.TextCompletionStream)
    assert "".join(c.choices[0].text for c in stream).strip()


def test_an_error_frame_inside_a_stream_raises(inference_env: Emulator, client: Client) -> None:
    inference_env.faults = FaultConfig(stream_error_after=2)
    stream = client.text_completion("Hi", MODEL, stream=True, num_retries=0, max_tokens=30)
    assert isinstance(stream, tokenway.TextCompletionStream)
    with pytest.raises(InternalServerError, match="error inside the stream"):
        list(stream)


def test_a_stream_cut_after_content_raises_and_is_not_retried(
    inference_env: Emulator, client: Client
) -> None:
    inference_env.faults = FaultConfig(stream_cut_after=2)
    before = inference_env.requests_total
    stream = client.text_completion("Hi", MODEL, stream=True, num_retries=2, max_tokens=30)
    assert isinstance(stream, tokenway.TextCompletionStream)
    got = []
    with pytest.raises(APIConnectionError):
        for chunk in stream:
            got.append(chunk)
    assert got, "content arrived before the cut"
    assert inference_env.requests_total - before == 1
