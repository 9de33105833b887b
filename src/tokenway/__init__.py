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
    "completion_cost": "tokenway.api",
    "register_model": "tokenway.api",
    "get_model_info": "tokenway.api",
    "stream_chunk_builder": "tokenway.streaming",
    "Stream": "tokenway.streaming",
    "AsyncStream": "tokenway.streaming",
    "Client": "tokenway.client",
    "Router": "tokenway.router.sdk",
    "ModelInfo": "tokenway.catalog",
    "ChatCompletion": "tokenway.types",
    "ChatCompletionChunk": "tokenway.types",
    "Usage": "tokenway.types",
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
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Client",
    "ContextWindowExceededError",
    "InternalServerError",
    "ModelInfo",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "Router",
    "ServiceUnavailableError",
    "Stream",
    "Timeout",
    "TokenwayError",
    "UnknownProviderError",
    "UnsupportedParamsError",
    "Usage",
    "acompletion",
    "completion",
    "completion_cost",
    "get_model_info",
    "register_model",
    "stream_chunk_builder",
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
        completion,
        completion_cost,
        get_model_info,
        register_model,
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
    from tokenway.streaming import AsyncStream, Stream, stream_chunk_builder
    from tokenway.types import ChatCompletion, ChatCompletionChunk, Usage
