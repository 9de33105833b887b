"""Models, auth, credit, unknown routes and error styles over HTTP (checklist 1-4, 26)."""

from __future__ import annotations

import openai
import pytest

from tokenway.emulator import Emulator

from .conftest import StartEmulator
from .raw_http import HELLO, KEY, MODEL, chat, raw_request

IDS = [
    "meta-llama/llama-3.1-8b-instruct/fp-16",
    "meta-llama/llama-3.2-3b-instruct/fp-16",
    "mistralai/mistral-nemo-12b-instruct/fp-8",
]
ENVELOPE_KEYS = {"message", "type", "param", "code"}


def test_item1_models_lists_exactly_the_three_ids(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    assert [model.id for model in client.models.list()] == IDS
    body = raw_request(emulator, "GET", "/v1/models").json()
    assert body["object"] == "list"
    assert all(entry["object"] == "model" and "pricing" not in entry for entry in body["data"])


def test_item1_pricing_extra(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(include_pricing=True)
    entries = raw_request(emulator, "GET", "/v1/models").json()["data"]
    assert [e["context_length"] for e in entries] == [16_384] * 3
    prices = [
        (e["pricing"]["input_per_million"], e["pricing"]["output_per_million"]) for e in entries
    ]
    assert prices == [(0.03, 0.03), (0.02, 0.02), (0.04, 0.10)]


def test_a_single_model_can_be_retrieved(client: openai.OpenAI) -> None:
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("meta-llama/llama-3.1-8b-instruct")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer nope"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/models"), ("POST", "/v1/chat/completions")]
)
def test_item2_missing_or_invalid_keys_get_401_with_the_four_key_envelope(
    emulator: Emulator, headers: dict[str, str], method: str, path: str
) -> None:
    body = {"model": MODEL, "messages": HELLO}
    response = raw_request(emulator, method, path, body, key=None, headers=headers)
    assert response.status == 401
    error = response.json()["error"]
    assert set(error) == ENVELOPE_KEYS and error["code"] == "invalid_api_key"


def test_item2_the_sdk_raises_authentication_error(emulator: Emulator) -> None:
    sdk = openai.OpenAI(base_url=emulator.base_url, api_key="wrong", max_retries=0)
    with sdk, pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model=MODEL, messages=HELLO)  # type: ignore[arg-type]


def test_item3_out_of_credit_keys_get_402_on_generation(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(out_of_credit_keys=("sk-broke",))
    with openai.OpenAI(base_url=emulator.base_url, api_key="sk-broke", max_retries=0) as sdk:
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model=MODEL, messages=HELLO)  # type: ignore[arg-type]
        assert caught.value.status_code == 402
        assert caught.value.body == {
            "message": "Insufficient credits.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_credits",
        }
        assert len(sdk.models.list().data) == 3  # listing models costs nothing


@pytest.mark.parametrize("model", ["meta-llama/llama-3.1-8b-instruct", "gpt-4o", IDS[0].upper()])
def test_item4_unknown_models_are_404_model_not_found(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.body == {
        "message": f"The model `{model}` does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_unknown_routes_and_wrong_methods(emulator: Emulator) -> None:
    assert raw_request(emulator, "GET", "/v1/nope").status == 404
    assert raw_request(emulator, "GET", "/", key=None).status == 404
    wrong = raw_request(emulator, "GET", "/v1/chat/completions")
    assert wrong.status == 405 and wrong.headers["allow"] == "POST"


def test_item26_vllm_error_style(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(error_style="vllm")
    bad = chat(emulator, temperature=5)
    assert bad.status == 400
    assert bad.json()["error"]["type"] == "BadRequestError" and bad.json()["error"]["code"] == 400
    missing = chat(emulator, model="nope")
    assert missing.json()["error"] | {"message": ""} == {
        "message": "",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }
    unauthorized = raw_request(emulator, "GET", "/v1/models", key="wrong")
    assert unauthorized.json()["error"]["code"] == 401


def test_the_default_error_style_is_openai(emulator: Emulator) -> None:
    error = chat(emulator, temperature=5).json()["error"]
    assert set(error) == ENVELOPE_KEYS
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "temperature",
        None,
    )


def test_malformed_json_is_a_400(emulator: Emulator) -> None:
    response = raw_request(emulator, "POST", "/v1/chat/completions", b'{"model": ')
    assert response.status == 400 and set(response.json()["error"]) == ENVELOPE_KEYS


def test_valid_keys_are_the_configured_ones_only(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(api_keys=("one", "two"))
    assert raw_request(emulator, "GET", "/v1/models", key="two").status == 200
    assert raw_request(emulator, "GET", "/v1/models", key=KEY).status == 401
