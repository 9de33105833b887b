"""LangChain and llama-index, with their defaults, end to end through a running proxy.

Each client is given only a base URL, an API key and a model (plus, for LangChain's
`OpenAIEmbeddings`, `check_embedding_ctx_length=False`, which LangChain documents for
servers that are not OpenAI: without it the texts are first tokenized with tiktoken).

Nothing here may leave the machine. `offline` (autouse) refuses every name lookup and
connection that is not loopback and fails the test that tried one; it also points
tiktoken's and NLTK's caches at empty directories, so a client that reached for either
would have to download, and be caught doing so.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import add_ai_message_chunks
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from llama_index.core.base.llms.types import ChatMessage
from llama_index.embeddings.openai_like import OpenAILikeEmbedding  # type: ignore[import-untyped]
from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, RunningProxy, proxy_config, running_proxy

from tokenway.emulator import Emulator

CHAT_ALIAS = "llama-3.1-8b-instruct"
EMBEDDING_ALIAS = "qwen3-embedding-4b"
EMBEDDING_DIMENSIONS = 2560  # inference/qwen/qwen3-embedding-4b
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# What could make a client call out on its own: tracing, or settings taken from the
# environment in place of the ones the tests give.
CLIENT_ENV = (
    "LANGSMITH_TRACING",
    "LANGSMITH_TRACING_V2",
    "LANGCHAIN_TRACING_V2",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGSMITH_ENDPOINT",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OPENAI_ORG_ID",
    "OPENAI_ORGANIZATION",
    "OPENAI_PROJECT_ID",
)

pytestmark = pytest.mark.usefixtures("clean_emulator")


@pytest.fixture(scope="module")
def proxy(emulator: Emulator) -> Iterator[RunningProxy]:
    """The shared proxy's config with one embedding alias added (the other proxy tests
    probe and list every served model as a chat model, so the alias stays here)."""
    models = {**BRIEF_MODELS, EMBEDDING_ALIAS: "inference/qwen/qwen3-embedding-4b"}
    with running_proxy(proxy_config(emulator.base_url, models=models)) as running:
        yield running


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str | bytes):
        return False
    name = host.decode() if isinstance(host, bytes) else host
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    tiktoken_cache = tmp_path / "tiktoken-cache"
    nltk_data = tmp_path / "nltk-data"
    tiktoken_cache.mkdir()
    nltk_data.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tiktoken_cache))
    monkeypatch.setenv("NLTK_DATA", str(nltk_data))

    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            attempts.append(f"lookup {host!r}")
            raise OSError(f"test is offline: lookup of {host!r} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    def refuse(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(f"connect {address!r}")
            raise OSError(f"test is offline: connection to {address!r} refused")

    def connect(sock: socket.socket, address: Any) -> None:
        refuse(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        refuse(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield
    assert attempts == [], f"a client tried to reach the network: {attempts}"
    assert list(tiktoken_cache.iterdir()) == [], "tiktoken fetched an encoding"
    assert list(nltk_data.iterdir()) == [], "NLTK fetched data"


def _chat(proxy: RunningProxy, **overrides: Any) -> ChatOpenAI:
    settings: dict[str, Any] = {
        "model": CHAT_ALIAS,
        "base_url": f"{proxy.url}/v1",
        "api_key": MASTER_KEY,
        **overrides,
    }
    return ChatOpenAI(**settings)


def _llama(proxy: RunningProxy, **overrides: Any) -> OpenAILike:
    settings: dict[str, Any] = {
        "model": CHAT_ALIAS,
        "api_base": f"{proxy.url}/v1",
        "api_key": MASTER_KEY,
        **overrides,
    }
    return OpenAILike(**settings)


def _joined(chunks: list[BaseMessage]) -> AIMessageChunk:
    assert chunks and all(isinstance(c, AIMessageChunk) for c in chunks)
    first, *others = [c for c in chunks if isinstance(c, AIMessageChunk)]
    return add_ai_message_chunks(first, *others)


def _assert_usage(message: AIMessage) -> None:
    usage = message.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


# --- LangChain ChatOpenAI ---------------------------------------------------------------


def test_langchain_invoke(proxy: RunningProxy) -> None:
    reply = _chat(proxy).invoke("What is the capital of France?")
    assert isinstance(reply, AIMessage)
    assert isinstance(reply.content, str) and reply.content.strip()
    assert reply.response_metadata["model_name"] == CHAT_ALIAS
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    assert str(reply.response_metadata["id"]).startswith("chatcmpl-")
    _assert_usage(reply)


def test_langchain_stream(proxy: RunningProxy) -> None:
    chunks: list[BaseMessage] = list(_chat(proxy).stream("Write a Python function to sort a list"))
    pieces = [c.content for c in chunks if c.content]
    assert len(pieces) > 1, "the text should arrive in several chunks"
    assert "".join(str(p) for p in pieces).strip()
    joined = _joined(chunks)
    assert joined.response_metadata["model_name"] == CHAT_ALIAS
    assert joined.response_metadata["finish_reason"] in ("stop", "length")
    # With a base URL of its own LangChain does not ask for stream usage by default.
    assert joined.usage_metadata is None


def test_langchain_stream_with_usage(proxy: RunningProxy) -> None:
    joined = _joined(list(_chat(proxy, stream_usage=True).stream("hi")))
    assert isinstance(joined.content, str) and joined.content.strip()
    _assert_usage(joined)


async def test_langchain_ainvoke(proxy: RunningProxy) -> None:
    reply = await _chat(proxy).ainvoke("Explain quantum computing in simple terms")
    assert isinstance(reply.content, str) and reply.content.strip()
    assert reply.response_metadata["model_name"] == CHAT_ALIAS
    _assert_usage(reply)


async def test_langchain_astream(proxy: RunningProxy) -> None:
    pieces = [c.content async for c in _chat(proxy).astream("Tell me a story") if c.content]
    assert len(pieces) > 1 and "".join(str(p) for p in pieces).strip()


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"sunny in {city}"


@tool
def get_time(timezone: str) -> str:
    """Get the current local time in a timezone."""
    return f"noon in {timezone}"


def test_langchain_tool_call(proxy: RunningProxy) -> None:
    model = _chat(proxy).bind_tools([get_weather, get_time])
    reply = model.invoke("What is the weather in Paris?")
    assert isinstance(reply, AIMessage)
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    assert [call["name"] for call in reply.tool_calls] == ["get_weather"]
    call = reply.tool_calls[0]
    assert isinstance(call["args"]["city"], str) and call["args"]["city"]
    assert call["id"] and call["id"].startswith("call_")
    _assert_usage(reply)


def test_langchain_tool_call_streamed(proxy: RunningProxy) -> None:
    model = _chat(proxy).bind_tools([get_weather])
    joined = _joined(list(model.stream("What is the weather in Paris?")))
    assert [call["name"] for call in joined.tool_calls] == ["get_weather"]
    assert isinstance(joined.tool_calls[0]["args"]["city"], str)


def test_langchain_tool_round_trip(proxy: RunningProxy) -> None:
    model = _chat(proxy).bind_tools([get_weather])
    question = ("human", "What is the weather in Paris?")
    asked = model.invoke([question])
    assert isinstance(asked, AIMessage) and asked.tool_calls
    answer = get_weather.invoke(asked.tool_calls[0])
    final = model.invoke([question, asked, answer])
    assert not final.tool_calls
    assert isinstance(final.content, str) and final.content.strip()


# --- LangChain OpenAIEmbeddings ---------------------------------------------------------


def _embeddings(proxy: RunningProxy) -> OpenAIEmbeddings:
    return OpenAIEmbeddings(
        model=EMBEDDING_ALIAS,
        base_url=f"{proxy.url}/v1",
        api_key=MASTER_KEY,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
    )


def test_langchain_embed_documents(proxy: RunningProxy) -> None:
    vectors = _embeddings(proxy).embed_documents(["one", "two"])
    assert len(vectors) == 2
    assert [len(v) for v in vectors] == [EMBEDDING_DIMENSIONS, EMBEDDING_DIMENSIONS]
    assert vectors[0] != vectors[1]
    assert all(isinstance(x, float) for x in vectors[0])


def test_langchain_embed_query(proxy: RunningProxy) -> None:
    embeddings = _embeddings(proxy)
    vector = embeddings.embed_query("one")
    assert len(vector) == EMBEDDING_DIMENSIONS
    assert vector == embeddings.embed_documents(["one"])[0]  # the emulator is deterministic


async def test_langchain_aembed_documents(proxy: RunningProxy) -> None:
    vectors = await _embeddings(proxy).aembed_documents(["one", "two"])
    assert [len(v) for v in vectors] == [EMBEDDING_DIMENSIONS, EMBEDDING_DIMENSIONS]


# --- llama-index OpenAILike -------------------------------------------------------------


def test_llama_index_complete(proxy: RunningProxy) -> None:
    # OpenAILike's default (is_chat_model=False) is the legacy text API, /v1/completions.
    response = _llama(proxy).complete("Once upon a time")
    assert response.text.strip()
    assert response.raw is not None and response.raw.model == CHAT_ALIAS


def test_llama_index_stream_complete(proxy: RunningProxy) -> None:
    responses = list(_llama(proxy).stream_complete("Once upon a time"))
    deltas = [r.delta for r in responses if r.delta]
    assert len(deltas) > 1
    assert responses[-1].text == "".join(deltas) and responses[-1].text.strip()


def test_llama_index_chat(proxy: RunningProxy) -> None:
    llm = _llama(proxy, is_chat_model=True)
    response = llm.chat([ChatMessage(role="user", content="What is the capital of France?")])
    assert response.message.role == "assistant"
    assert response.message.content and response.message.content.strip()
    assert response.raw is not None and response.raw.model == CHAT_ALIAS
    assert response.raw.usage.total_tokens > 0


def test_llama_index_stream_chat(proxy: RunningProxy) -> None:
    llm = _llama(proxy, is_chat_model=True)
    responses = list(llm.stream_chat([ChatMessage(role="user", content="Tell me a story")]))
    deltas = [r.delta for r in responses if r.delta]
    assert len(deltas) > 1
    text = responses[-1].message.content
    assert text == "".join(deltas) and text.strip()


async def test_llama_index_achat(proxy: RunningProxy) -> None:
    llm = _llama(proxy, is_chat_model=True)
    response = await llm.achat([ChatMessage(role="user", content="hi")])
    assert response.message.content and response.message.content.strip()


def test_llama_index_embeddings(proxy: RunningProxy) -> None:
    embeddings = OpenAILikeEmbedding(
        model_name=EMBEDDING_ALIAS, api_base=f"{proxy.url}/v1", api_key=MASTER_KEY
    )
    vectors = embeddings.get_text_embedding_batch(["one", "two"])
    assert [len(v) for v in vectors] == [EMBEDDING_DIMENSIONS, EMBEDDING_DIMENSIONS]
    assert embeddings.get_query_embedding("one") == vectors[0]


# --- errors -----------------------------------------------------------------------------


def test_langchain_wrong_key_is_an_authentication_error(proxy: RunningProxy) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        _chat(proxy, api_key="sk-wrong").invoke("hi")
    assert caught.value.status_code == 401


def test_langchain_unknown_model_is_not_found(proxy: RunningProxy) -> None:
    with pytest.raises(openai.NotFoundError, match="gpt-9") as caught:
        _chat(proxy, model="gpt-9").invoke("hi")
    assert caught.value.status_code == 404
    assert "served models" in str(caught.value)


def test_llama_index_wrong_key_is_an_authentication_error(proxy: RunningProxy) -> None:
    llm = _llama(proxy, api_key="sk-wrong", is_chat_model=True)
    with pytest.raises(openai.AuthenticationError) as caught:
        llm.chat([ChatMessage(role="user", content="hi")])
    assert caught.value.status_code == 401


def test_llama_index_unknown_model_is_not_found(proxy: RunningProxy) -> None:
    llm = _llama(proxy, model="gpt-9", is_chat_model=True)
    with pytest.raises(openai.NotFoundError, match="gpt-9") as caught:
        llm.chat([ChatMessage(role="user", content="hi")])
    assert caught.value.status_code == 404
    assert "served models" in str(caught.value)


def test_langchain_embeddings_unknown_model_is_not_found(proxy: RunningProxy) -> None:
    embeddings = OpenAIEmbeddings(
        model="gpt-9",
        base_url=f"{proxy.url}/v1",
        api_key=MASTER_KEY,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
    )
    with pytest.raises(openai.NotFoundError, match="served models"):
        embeddings.embed_query("one")
