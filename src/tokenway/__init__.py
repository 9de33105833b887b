"""tokenway: one SDK and one OpenAI-compatible proxy in front of many LLM providers.

Importing this package is cheap: the engine (HTTP clients, asyncio) loads on first use.

Module settings, as LiteLLM's (``tokenway.drop_params = True``, ``tokenway.num_retries``,
``tokenway.request_timeout``, ``tokenway.api_key``, ``tokenway.api_base``,
``tokenway.set_verbose``, ``tokenway.success_callback`` / ``failure_callback`` /
``callbacks``) are checked when set and read by each call (``tokenway.settings``); any
other public name set on the module is refused with an ``AttributeError``.
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
    "token_counter": "tokenway.model_facts",
    "get_supported_openai_params": "tokenway.model_facts",
    "supports_function_calling": "tokenway.model_facts",
    "supports_parallel_function_calling": "tokenway.model_facts",
    "supports_response_schema": "tokenway.model_facts",
    "supports_vision": "tokenway.model_facts",
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
    "get_supported_openai_params",
    "model_cost",
    "register_model",
    "stream_chunk_builder",
    "supports_function_calling",
    "supports_parallel_function_calling",
    "supports_response_schema",
    "supports_vision",
    "text_completion",
    "token_counter",
]

# Module settings (tokenway.settings), read and set through the module class below.
_SETTINGS = (
    "drop_params",
    "num_retries",
    "request_timeout",
    "api_key",
    "api_base",
    "set_verbose",
    "success_callback",
    "failure_callback",
    "callbacks",
)


def __getattr__(name: str) -> Any:
    if name in _SETTINGS:
        return getattr(importlib.import_module("tokenway.settings").SETTINGS, name)
    if name == "model_cost":  # made afresh on each read: the catalog may have changed
        return importlib.import_module("tokenway.model_facts").model_cost_table()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tokenway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_SETTINGS, "model_cost"])


class _Module(type(importlib)):  # type: ignore[misc]
    """``tokenway.<setting> = value`` checks and stores a setting; another public name
    that is not already an attribute is refused, so no setting is silently ignored."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SETTINGS:
            importlib.import_module("tokenway.settings").set_setting(name, value)
        elif (
            name.startswith("_")
            or name in _EXPORTS
            or name in self.__dict__
            or isinstance(value, _Module.__base__)  # a submodule, set by the import system
        ):
            super().__setattr__(name, value)
        else:
            raise importlib.import_module("tokenway.settings").refuse(name)


__import__("sys").modules[__name__].__class__ = _Module


if TYPE_CHECKING:
    from typing import Any

    # The module settings and model_cost, for type checkers (served by __getattr__).
    drop_params: bool
    num_retries: int | None
    request_timeout: float | None
    api_key: str | None
    api_base: str | None
    set_verbose: bool
    success_callback: list[Any]
    failure_callback: list[Any]
    callbacks: list[Any]
    model_cost: dict[str, dict[str, Any]]

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
    from tokenway.model_facts import (
        get_supported_openai_params,
        supports_function_calling,
        supports_parallel_function_calling,
        supports_response_schema,
        supports_vision,
        token_counter,
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
