"""tokenway: one SDK and one OpenAI-compatible proxy in front of many LLM providers.

Importing this package is cheap: the engine (HTTP clients, asyncio) loads on first use.
"""

from __future__ import annotations

import importlib

# `typing` costs most of this module's import time; annotations are strings anyway.
TYPE_CHECKING = False

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "completion": "tokenway.api",
    "acompletion": "tokenway.api",
    "embedding": "tokenway.api",
    "aembedding": "tokenway.api",
    "text_completion": "tokenway.api",
    "atext_completion": "tokenway.api",
    "completion_cost": "tokenway.api",
    "register_model": "tokenway.api",
    "get_model_info": "tokenway.api",
    "stream_chunk_builder": "tokenway.streaming",
    "Stream": "tokenway.streaming",
    "AsyncStream": "tokenway.streaming",
    "TextCompletionStream": "tokenway.streaming",
    "AsyncTextCompletionStream": "tokenway.streaming",
    "Client": "tokenway.client",
    "Router": "tokenway.router.sdk",
    "ModelInfo": "tokenway.catalog",
    "ChatCompletion": "tokenway.types",
    "ChatCompletionChunk": "tokenway.types",
    "Usage": "tokenway.types",
    "Embedding": "tokenway.types",
    "EmbeddingResponse": "tokenway.types",
    "TextCompletion": "tokenway.types",
    "TextCompletionChunk": "tokenway.types",
    "TokenwayError": "tokenway.errors",
    "APIConnectionError": "tokenway.errors",
    "APIStatusError": "tokenway.errors",
    "AuthenticationError": "tokenway.errors",
    "BadGatewayError": "tokenway.errors",
    "BadRequestError": "tokenway.errors",
    "ContextWindowExceededError": "tokenway.errors",
    "InternalServerError": "tokenway.errors",
    "NotFoundError": "tokenway.errors",
    "PaymentRequiredError": "tokenway.errors",
    "PermissionDeniedError": "tokenway.errors",
    "RateLimitError": "tokenway.errors",
    "ServiceUnavailableError": "tokenway.errors",
    "Timeout": "tokenway.errors",
    "UnknownProviderError": "tokenway.errors",
    "UnsupportedParamsError": "tokenway.errors",
}

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "AsyncStream",
    "AsyncTextCompletionStream",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Client",
    "ContextWindowExceededError",
    "Embedding",
    "EmbeddingResponse",
    "InternalServerError",
    "ModelInfo",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "Router",
    "ServiceUnavailableError",
    "Stream",
    "TextCompletion",
    "TextCompletionChunk",
    "TextCompletionStream",
    "Timeout",
    "TokenwayError",
    "UnknownProviderError",
    "UnsupportedParamsError",
    "Usage",
    "acompletion",
    "aembedding",
    "atext_completion",
    "completion",
    "completion_cost",
    "embedding",
    "get_model_info",
    "register_model",
    "stream_chunk_builder",
    "text_completion",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tokenway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from typing import Any

    from tokenway.api import (
        acompletion,
        aembedding,
        atext_completion,
        completion,
        completion_cost,
        embedding,
        get_model_info,
        register_model,
        text_completion,
    )
    from tokenway.catalog import ModelInfo
    from tokenway.client import Client
    from tokenway.errors import (
        APIConnectionError,
        APIStatusError,
        AuthenticationError,
        BadGatewayError,
        BadRequestError,
        ContextWindowExceededError,
        InternalServerError,
        NotFoundError,
        PaymentRequiredError,
        PermissionDeniedError,
        RateLimitError,
        ServiceUnavailableError,
        Timeout,
        TokenwayError,
        UnknownProviderError,
        UnsupportedParamsError,
    )
    from tokenway.router.sdk import Router
    from tokenway.streaming import (
        AsyncStream,
        AsyncTextCompletionStream,
        Stream,
        TextCompletionStream,
        stream_chunk_builder,
    )
    from tokenway.types import (
        ChatCompletion,
        ChatCompletionChunk,
        Embedding,
        EmbeddingResponse,
        TextCompletion,
        TextCompletionChunk,
        Usage,
    )
