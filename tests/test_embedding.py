"""``embedding()`` / ``aembedding()`` against the emulator: shapes, costs, errors, retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.conftest import EMULATOR_KEY

import tokenway
from tokenway import Client
from tokenway.emulator import Emulator, FaultConfig
from tokenway.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    UnsupportedParamsError,
)
from tokenway.retry import Backoff

MODEL = "inference/qwen/qwen3-embedding-4b"
FAST = Backoff(base=0.01, cap=0.05)


@pytest.fixture
def client() -> Iterator[Client]:
    client = Client(backoff=FAST)
    yield client
    client.close()


def test_one_string_gets_one_vector_of_the_catalogued_size(
    inference_env: Emulator, client: Client
) -> None:
    response = client.embedding(MODEL, "The quick brown fox")
    assert isinstance(response, tokenway.EmbeddingResponse)
    assert response.object == "list" and len(response.data) == 1
    vector = response.data[0].embedding
    assert isinstance(vector, list) and len(vector) == 2560  # the catalog's output_vector_size
    assert response.data[0]["object"] == "embedding"  # dict-style access, as the chat types
    assert response.usage is not None
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens
    assert response.cost is None  # no published price for this model


def test_a_list_keeps_its_order_and_dimensions_shorten(
    inference_env: Emulator, client: Client
) -> None:
    texts = ["alpha", "beta gamma", "delta"]
    response = client.embedding(MODEL, texts, dimensions=16)
    assert [item.index for item in response.data] == [0, 1, 2]
    assert all(len(item.floats()) == 16 for item in response.data)
    alone = client.embedding(MODEL, "beta gamma", dimensions=16)
    assert alone.data[0].embedding == response.data[1].embedding  # same input, same vector


def test_base64_is_returned_as_sent_and_decodes_to_the_float_vector(
    inference_env: Emulator, client: Client
) -> None:
    floats = client.embedding(MODEL, "hello", dimensions=32)
    packed = client.embedding(MODEL, "hello", dimensions=32, encoding_format="base64")
    assert isinstance(packed.data[0].embedding, str)
    assert packed.data[0].floats() == floats.data[0].floats()


def test_aembedding(inference_env: Emulator, client: Client) -> None:
    async def run() -> tokenway.EmbeddingResponse:
        try:
            return await tokenway.aembedding(MODEL, ["one", "two"], dimensions=4)
        finally:
            await tokenway.api.default_client().aclose()

    response = asyncio.run(run())
    assert [len(item.floats()) for item in response.data] == [4, 4]


def test_cost_from_input_cost_per_token(inference_env: Emulator, client: Client) -> None:
    client.register_model(MODEL, {"input_cost_per_token": 2e-8})
    response = client.embedding(MODEL, ["a b c", "d e"])
    assert response.usage is not None
    assert response.cost == pytest.approx(response.usage.prompt_tokens * 2e-8)
    overridden = client.embedding(MODEL, "a b c", input_cost_per_token=1e-6)
    assert overridden.usage is not None
    assert overridden.cost == pytest.approx(overridden.usage.prompt_tokens * 1e-6)
    assert tokenway.completion_cost(overridden) == overridden.cost


def test_openai_compatible_prefix_with_api_base(inference_env: Emulator, client: Client) -> None:
    response = client.embedding(
        "openai_compatible/qwen/qwen3-embedding-4b",
        "hi",
        api_base=inference_env.base_url,
        api_key=EMULATOR_KEY,
        dimensions=8,
    )
    assert len(response.data[0].floats()) == 8


def test_wrong_key_is_401_and_not_retried(inference_env: Emulator, client: Client) -> None:
    before = inference_env.requests_total
    with pytest.raises(AuthenticationError, match="INFERENCE_API_KEY"):
        client.embedding(MODEL, "hi", api_key="wrong", num_retries=3)
    assert inference_env.requests_total - before == 1


def test_unknown_model_is_404(inference_env: Emulator, client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.embedding("inference/no/such-embedder", "hi")


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ("", "input"),
        ([], "input"),
        (42, "input"),
        (["ok", ""], "input[1]"),
        (["ok", 3.5], "input[1]"),
    ],
)
def test_bad_input_is_a_400_before_the_network(
    inference_env: Emulator, client: Client, value: object, param: str
) -> None:
    before = inference_env.requests_total
    with pytest.raises(BadRequestError) as info:
        client.embedding(MODEL, value)
    assert info.value.param == param
    assert inference_env.requests_total == before


def test_bad_encoding_and_dimensions_are_400s(inference_env: Emulator, client: Client) -> None:
    with pytest.raises(BadRequestError, match="encoding_format"):
        client.embedding(MODEL, "hi", encoding_format="int8")
    with pytest.raises(BadRequestError, match="dimensions"):
        client.embedding(MODEL, "hi", dimensions=0)
    with pytest.raises(BadRequestError, match="dimensions"):
        client.embedding(MODEL, "hi", dimensions=True)  # bool is no count
    before = inference_env.requests_total
    with pytest.raises(BadRequestError, match="dimensions"):  # the upstream's own 400
        client.embedding(MODEL, "hi", dimensions=100_000, num_retries=2)
    assert inference_env.requests_total - before == 1


def test_a_chat_parameter_is_refused_or_dropped(inference_env: Emulator, client: Client) -> None:
    with pytest.raises(UnsupportedParamsError, match="temperature"):
        client.embedding(MODEL, "hi", temperature=0.5)
    response = client.embedding(MODEL, "hi", temperature=0.5, drop_params=True, dimensions=4)
    assert len(response.data[0].floats()) == 4


def test_a_429_is_retried_to_success(inference_env: Emulator, client: Client) -> None:
    inference_env.faults = FaultConfig(fail_first_n=2, error_status=429)
    before = inference_env.requests_total
    response = client.embedding(MODEL, "hi", num_retries=2, dimensions=4)
    assert len(response.data) == 1
    assert inference_env.requests_total - before == 3
