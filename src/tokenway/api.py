"""The module-level SDK on a default client: ``completion()`` / ``acompletion()`` (chat),
``embedding()`` / ``aembedding()`` (vectors, ``tokenway.embeddings``),
``text_completion()`` / ``atext_completion()`` (the legacy completions API,
``tokenway.text``) and helpers. All share the providers, keys, retries, timeouts, pacing,
error classes and catalog costs of ``completion()``.

For settings of your own (retries, timeouts, rate limits, a private catalog), make a
``tokenway.Client``; these functions use one created on first use, under the module
settings (``tokenway.drop_params = True`` & co., ``tokenway.settings``) read at each call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal, Unpack, overload

from tokenway.catalog import ModelInfo, cost_of
from tokenway.client import Client
from tokenway.embeddings import EmbeddingParams
from tokenway.request import CompletionParams
from tokenway.settings import apply_settings
from tokenway.streaming import AsyncStream, AsyncTextCompletionStream, Stream, TextCompletionStream
from tokenway.text import TextCompletionParams
from tokenway.types import ChatCompletion, EmbeddingResponse, Result, TextCompletion

_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Client()
    return _default


@overload
def completion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: Literal[True],
    **params: Unpack[CompletionParams],
) -> Stream: ...


@overload
def completion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: Literal[False] = False,
    **params: Unpack[CompletionParams],
) -> ChatCompletion: ...


def completion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    **params: Unpack[CompletionParams],
) -> ChatCompletion | Stream:
    """Call ``model`` ("provider/model-id") with OpenAI chat messages."""
    return default_client().completion(model, messages, stream=stream, **apply_settings(params))


@overload
async def acompletion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: Literal[True],
    **params: Unpack[CompletionParams],
) -> AsyncStream: ...


@overload
async def acompletion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: Literal[False] = False,
    **params: Unpack[CompletionParams],
) -> ChatCompletion: ...


async def acompletion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    **params: Unpack[CompletionParams],
) -> ChatCompletion | AsyncStream:
    """The async ``completion()``."""
    return await default_client().acompletion(
        model, messages, stream=stream, **apply_settings(params)
    )


def embedding(model: str, input: Any, **params: Unpack[EmbeddingParams]) -> EmbeddingResponse:
    """Embed ``input`` (a string or a list) with ``model`` ("provider/model-id")."""
    return default_client().embedding(model, input, **apply_settings(params))


async def aembedding(
    model: str, input: Any, **params: Unpack[EmbeddingParams]
) -> EmbeddingResponse:
    """The async ``embedding()``."""
    return await default_client().aembedding(model, input, **apply_settings(params))


@overload
def text_completion(
    prompt: Any,
    model: str,
    *,
    stream: Literal[True],
    **params: Unpack[TextCompletionParams],
) -> TextCompletionStream: ...


@overload
def text_completion(
    prompt: Any,
    model: str,
    *,
    stream: Literal[False] = False,
    **params: Unpack[TextCompletionParams],
) -> TextCompletion: ...


def text_completion(
    prompt: Any,
    model: str,
    *,
    stream: bool = False,
    **params: Unpack[TextCompletionParams],
) -> TextCompletion | TextCompletionStream:
    """Complete ``prompt`` (a string or a list) with ``model``: the legacy completions API.

    LiteLLM's order: ``prompt`` first, so ``text_completion(model=..., prompt=...)`` and
    ``text_completion("Say hi", "inference/...")`` both work.
    """
    return default_client().text_completion(prompt, model, stream=stream, **apply_settings(params))


@overload
async def atext_completion(
    prompt: Any,
    model: str,
    *,
    stream: Literal[True],
    **params: Unpack[TextCompletionParams],
) -> AsyncTextCompletionStream: ...


@overload
async def atext_completion(
    prompt: Any,
    model: str,
    *,
    stream: Literal[False] = False,
    **params: Unpack[TextCompletionParams],
) -> TextCompletion: ...


async def atext_completion(
    prompt: Any,
    model: str,
    *,
    stream: bool = False,
    **params: Unpack[TextCompletionParams],
) -> TextCompletion | AsyncTextCompletionStream:
    """The async ``text_completion()``."""
    return await default_client().atext_completion(
        prompt, model, stream=stream, **apply_settings(params)
    )


def completion_cost(
    completion_response: Result | None = None,
    *,
    model: str | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> float | None:
    """USD for a response (its recorded cost), or for token counts of a catalogued ``model``.

    ``None`` when the model has no known price; never an error, never a network call.
    """
    if completion_response is not None and model is None:
        return completion_response.cost
    if model is None:
        return None
    usage = completion_response.usage if completion_response is not None else None
    p = prompt_tokens if prompt_tokens is not None else (usage.prompt_tokens if usage else 0)
    c = (
        completion_tokens
        if completion_tokens is not None
        else (usage.completion_tokens if usage else 0)
    )
    return cost_of(default_client().catalog.get(model), p, c)


def register_model(model: str, info: ModelInfo | Mapping[str, Any]) -> None:
    """Add or update a model's price, context window or capabilities in the default catalog."""
    default_client().register_model(model, info)


def get_model_info(model: str, custom_llm_provider: str | None = None) -> ModelInfo | None:
    """The catalog's facts about ``model``; ``None`` for a model it does not know."""
    if custom_llm_provider and not model.startswith(f"{custom_llm_provider}/"):
        model = f"{custom_llm_provider}/{model}"
    return default_client().catalog.get(model)
