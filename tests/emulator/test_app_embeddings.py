"""`POST /v1/embeddings` with the openai SDK and raw HTTP (reference §2, checklist 25)."""

from __future__ import annotations

import base64
import math
import struct
import time
from typing import Any

import openai
import pytest

from tokenway.emulator import Emulator, FaultConfig
from tokenway.emulator.tokens import count_tokens

from .conftest import StartEmulator
from .raw_http import MODEL, RawResponse, raw_request

EMBEDDING_MODEL = "qwen/qwen3-embedding-4b"
SIZE = 2560


def embed(emulator: Emulator, **fields: Any) -> RawResponse:
    body = {"model": EMBEDDING_MODEL, "input": "hello world", **fields}
    return raw_request(emulator, "POST", "/v1/embeddings", body)


def norm(vector: list[float]) -> float:
    return math.sqrt(math.fsum(v * v for v in vector))


def test_sdk_embeds_a_string_and_a_list(client: openai.OpenAI) -> None:
    one = client.embeddings.create(model=EMBEDDING_MODEL, input="The quick brown fox")
    assert one.object == "list" and one.model == EMBEDDING_MODEL
    assert [item.index for item in one.data] == [0] and len(one.data[0].embedding) == SIZE
    assert one.usage.prompt_tokens == count_tokens("The quick brown fox") == one.usage.total_tokens
    texts = ["alpha beta", "gamma", "The quick brown fox"]
    many = client.embeddings.create(model=EMBEDDING_MODEL, input=texts)
    assert [item.index for item in many.data] == [0, 1, 2]
    assert many.usage.prompt_tokens == sum(count_tokens(text) for text in texts)
    # Deterministic: the same text embeds the same in another request and position.
    assert many.data[2].embedding == one.data[0].embedding
    assert many.data[0].embedding != many.data[1].embedding
    assert all(abs(norm(item.embedding) - 1) < 1e-5 for item in many.data)


def test_sdk_float_format_and_dimensions(client: openai.OpenAI) -> None:
    full = client.embeddings.create(model=EMBEDDING_MODEL, input="x", encoding_format="float")
    short = client.embeddings.create(
        model=EMBEDDING_MODEL, input="x", encoding_format="float", dimensions=64
    )
    vector = short.data[0].embedding
    assert len(vector) == 64 and abs(norm(vector) - 1) < 1e-5
    # A shortened vector is the full one's head, renormalised (Matryoshka).
    head = full.data[0].embedding[:64]
    assert all(abs(a / norm(head) - b) < 1e-5 for a, b in zip(head, vector, strict=True))


def test_base64_is_little_endian_float32_of_the_float_values(emulator: Emulator) -> None:
    floats = embed(emulator, encoding_format="float").json()["data"][0]["embedding"]
    encoded = embed(emulator, encoding_format="base64").json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    raw = base64.b64decode(encoded)
    assert len(raw) == 4 * SIZE
    assert list(struct.unpack(f"<{SIZE}f", raw)) == floats


def test_token_array_inputs(emulator: Emulator) -> None:
    single = embed(emulator, input=[1, 2, 3]).json()
    assert len(single["data"]) == 1 and single["usage"]["prompt_tokens"] == 3
    double = embed(emulator, input=[[1, 2], [3, 4, 5]]).json()
    assert len(double["data"]) == 2 and double["usage"] == {"prompt_tokens": 5, "total_tokens": 5}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["ok", 7]}, "input"),
        ({"input": None}, "input"),
        ({"model": ""}, "model"),
        ({"encoding_format": "int8"}, "encoding_format"),
        ({"dimensions": 0}, "dimensions"),
        ({"dimensions": SIZE + 1}, "dimensions"),
        ({"input": "word " * 20_000}, "input"),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    emulator: Emulator, fields: dict[str, Any], param: str
) -> None:
    answer = embed(emulator, **fields)
    assert answer.status == 400, answer.body
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_unknown_model_is_404_and_a_chat_model_is_400(emulator: Emulator) -> None:
    missing = embed(emulator, model="qwen/nope").json()["error"]
    assert (missing["code"], missing["param"]) == ("model_not_found", "model")
    assert embed(emulator, model="qwen/nope").status == 404
    wrong = embed(emulator, model=MODEL)
    assert wrong.status == 400 and wrong.json()["error"]["param"] == "model"
    chat = raw_request(
        emulator,
        "POST",
        "/v1/chat/completions",
        {"model": EMBEDDING_MODEL, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status == 400 and chat.json()["error"]["param"] == "model"


def test_auth_credit_and_method(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(out_of_credit_keys=("sk-broke",))
    assert embed(emulator).status == 200
    denied = raw_request(emulator, "POST", "/v1/embeddings", {"input": "x"}, key=None)
    assert denied.status == 401
    broke = raw_request(
        emulator, "POST", "/v1/embeddings", {"model": EMBEDDING_MODEL, "input": "x"}, key="sk-broke"
    )
    assert broke.status == 402 and broke.json()["error"]["code"] == "insufficient_credits"
    wrong_method = raw_request(emulator, "GET", "/v1/embeddings")
    assert wrong_method.status == 405 and wrong_method.headers["allow"] == "POST"


def test_rate_limit_applies(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(rpm=2)
    assert [embed(emulator).status for _ in range(3)] == [200, 200, 429]
    limited = embed(emulator)
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(limited.headers["retry-after"]) >= 1


def test_faults_apply(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.faults = FaultConfig(fail_first_n=1, error_status=503)
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model=EMBEDDING_MODEL, input="x")
    assert client.embeddings.create(model=EMBEDDING_MODEL, input="x").data
    emulator.faults = FaultConfig(latency_ms=150)
    started = time.monotonic()
    client.embeddings.create(model=EMBEDDING_MODEL, input="x")
    assert time.monotonic() - started >= 0.15


def test_hang_holds_the_request(emulator: Emulator) -> None:
    emulator.faults = FaultConfig(hang=True)
    with (
        openai.OpenAI(
            base_url=emulator.base_url, api_key="sk-emulator-test", max_retries=0, timeout=0.3
        ) as sdk,
        pytest.raises(openai.APITimeoutError),
    ):
        sdk.embeddings.create(model=EMBEDDING_MODEL, input="x")
