"""The module-level SDK: ``completion()``, ``acompletion()`` and helpers on a default client.

For settings of your own (retries, timeouts, rate limits, a private catalog), make a
``tokenway.Client``; these functions use one created on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal, Unpack, overload

from tokenway.catalog import ModelInfo, cost_of
from tokenway.client import Client
from tokenway.request import CompletionParams
from tokenway.streaming import AsyncStream, Stream
from tokenway.types import ChatCompletion

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
    return default_client().completion(model, messages, stream=stream, **params)


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
    return await default_client().acompletion(model, messages, stream=stream, **params)


def completion_cost(
    completion_response: ChatCompletion | None = None,
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


def get_model_info(model: str) -> ModelInfo | None:
    return default_client().catalog.get(model)
