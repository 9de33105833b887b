"""LiteLLM's model helpers: token_counter, get_supported_openai_params, supports_*, model_cost."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import tokenway
from tokenway.emulator import Emulator

MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS = [{"role": "user", "content": "What is the capital of France?"}]


def test_token_counter_estimates_messages_and_text() -> None:
    count = tokenway.token_counter(model=MODEL, messages=MSGS)
    assert 8 <= count <= 30
    assert tokenway.token_counter(model=MODEL, text="hello world") == 4
    assert tokenway.token_counter(text=["hello world", "hello world"]) == 8
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert tokenway.token_counter(messages=MSGS, tools=tools) > count
    with pytest.raises(ValueError, match="text= or messages="):
        tokenway.token_counter(model=MODEL)


def test_token_counter_agrees_with_the_emulators_prompt_tokens(inference_env: Emulator) -> None:
    answer = tokenway.completion(MODEL, MSGS, max_tokens=5)
    assert answer.usage is not None
    counted = tokenway.token_counter(model=MODEL, messages=MSGS)
    assert abs(counted - answer.usage.prompt_tokens) <= max(3, answer.usage.prompt_tokens // 4)


def test_token_counter_with_a_custom_tokenizer() -> None:
    class Encoded:
        ids = (1, 2, 3)

    class HF:
        def encode(self, text: str) -> Encoded:
            return Encoded()

    class Tiktoken:
        def encode(self, text: str) -> list[int]:
            return list(range(len(text.split())))

    hf: dict[str, Any] = {"type": "huggingface_tokenizer", "tokenizer": HF()}
    assert tokenway.token_counter(custom_tokenizer=hf, text="anything") == 3
    tt: dict[str, Any] = {"type": "openai_tokenizer", "tokenizer": Tiktoken()}
    assert tokenway.token_counter(custom_tokenizer=tt, messages=MSGS) == 6
    with pytest.raises(ValueError, match="custom_tokenizer"):
        tokenway.token_counter(custom_tokenizer={"type": "x"}, text="a")


def test_token_counter_never_loads_a_tokenizer_or_the_network() -> None:
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network')\n"
        "socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "import tokenway\n"
        f"print(tokenway.token_counter(model={MODEL!r}, text='hi there'))\n"
        "print([m for m in ('tokenizers', 'tiktoken', 'transformers') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[1] == "[]"


def test_get_supported_openai_params() -> None:
    chat = tokenway.get_supported_openai_params(model=MODEL)
    assert chat is not None and "tools" in chat and "stream" in chat and "logit_bias" not in chat
    assert chat == sorted(chat)
    openai = tokenway.get_supported_openai_params("gpt-4o", custom_llm_provider="openai")
    assert openai is not None and "logit_bias" in openai and "parallel_tool_calls" in openai
    embeddings = tokenway.get_supported_openai_params(MODEL, request_type="embeddings")
    assert embeddings == ["dimensions", "encoding_format", "metadata", "user"]
    assert tokenway.get_supported_openai_params("nope/x") is None
    with pytest.raises(ValueError):
        tokenway.get_supported_openai_params(MODEL, request_type="audio")  # type: ignore[arg-type]


def test_supports_functions_read_the_catalog() -> None:
    assert tokenway.supports_function_calling(MODEL) is True
    assert tokenway.supports_function_calling("meta-llama/llama-3.1-8b-instruct/fp-16", "inference")
    assert tokenway.supports_response_schema(MODEL) is True
    assert tokenway.supports_vision(MODEL) is False
    assert tokenway.supports_parallel_function_calling(MODEL) is False
    assert tokenway.supports_function_calling("inference/unknown") is False
    assert tokenway.supports_function_calling("inference/qwen/qwen3-embedding-4b") is False


def test_model_cost_is_the_catalog_keyed_by_model() -> None:
    table = tokenway.model_cost
    row = table[MODEL]
    assert row["input_cost_per_token"] == 3e-08 and row["output_cost_per_token"] == 3e-08
    assert row["max_input_tokens"] == 16384 and row["litellm_provider"] == "inference"
    assert row["mode"] == "chat" and row["supports_function_calling"] is True
    assert "input_cost_per_token" not in table["inference/qwen/qwen3-embedding-4b"]  # unknown
    tokenway.register_model("inference/my-model", {"input_cost_per_token": 1e-6})
    assert tokenway.model_cost["inference/my-model"]["input_cost_per_token"] == 1e-6


def test_every_new_name_is_public() -> None:
    for name in (
        "token_counter",
        "get_supported_openai_params",
        "supports_function_calling",
        "supports_vision",
        "supports_response_schema",
        "supports_parallel_function_calling",
        "model_cost",
    ):
        assert name in tokenway.__all__ and name in dir(tokenway)
