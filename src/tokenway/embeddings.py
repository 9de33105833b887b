"""``embedding()``: OpenAI's ``POST /embeddings`` through the SDK's machinery.

The call is prepared like a chat call (provider prefix, key, base URL, supported
parameters and ``drop_params``), then sent, paced and retried by the same ``Client``.

``input`` is a string, a list of strings, a token array or a list of token arrays.
``encoding_format`` is passed through and the vectors come back as the provider sent
them, as LiteLLM does: floats, or base64 strings for ``"base64"``;
``Embedding.floats()`` decodes either. ``dimensions`` asks a model that supports it for
shorter vectors. ``cost`` is ``usage.prompt_tokens`` times the model's
``input_cost_per_token`` (``None`` when no price is known: Inference.net's embedding
model has none published).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from tokenway.catalog import Catalog
from tokenway.params import bad_param, check_integer, check_model, check_type
from tokenway.providers.base import EMBEDDINGS_PATH
from tokenway.request import CallKind, CallKnobs, PreparedCall, prepare_endpoint
from tokenway.types import EmbeddingResponse

__all__ = ["EMBEDDING", "EmbeddingParams", "prepare_embedding", "validate_embedding_body"]

EMBEDDING = CallKind("embedding", EMBEDDINGS_PATH, "data", EmbeddingResponse)

MAX_INPUTS = 2048  # OpenAI's cap on one request's inputs
_INPUT_HELP = "a non-empty string, a list of strings, a token array or a list of token arrays"


class EmbeddingParams(CallKnobs, total=False):
    """Everything ``embedding()`` takes besides ``model`` and ``input``."""

    encoding_format: Literal["float", "base64"]
    dimensions: int
    user: str
    metadata: dict[str, Any]


def prepare_embedding(
    model: str,
    input: Any,
    params: Mapping[str, Any],
    *,
    catalog: Catalog,
    drop_params: bool,
    env: Mapping[str, str] = os.environ,
) -> PreparedCall:
    if params.get("stream"):
        raise bad_param("stream", "embeddings are never streamed")
    return prepare_endpoint(
        model, "input", input, params, EMBEDDING,
        lambda spec: spec.embedding_params, validate_embedding_body,
        catalog=catalog, drop_params=drop_params, env=env,
    )  # fmt: skip


def validate_embedding_body(body: Mapping[str, Any]) -> None:
    """Raise ``BadRequestError`` naming the first parameter that is missing or wrong."""
    check_model(body.get("model"))
    _check_input(body.get("input"))
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ("float", "base64"):
        raise bad_param(
            "encoding_format", f"'encoding_format' must be 'float' or 'base64'; got {encoding!r}"
        )
    check_integer(body, "dimensions", 1, 2**31 - 1)
    check_type(body, "user", str, "a string")
    check_type(body, "metadata", dict, "an object")


def _check_input(value: Any) -> None:
    if isinstance(value, str):
        if not value:
            raise bad_param("input", f"'input' must be {_INPUT_HELP}; got an empty string")
        return
    if not isinstance(value, list) or not value:
        raise bad_param("input", f"'input' must be {_INPUT_HELP}")
    if all(_is_token(t) for t in value):
        return  # one token array
    if len(value) > MAX_INPUTS:
        raise bad_param("input", f"'input' has {len(value)} items; at most {MAX_INPUTS} per call")
    for i, item in enumerate(value):
        ok = isinstance(item, str) or (isinstance(item, list) and all(_is_token(t) for t in item))
        if not ok or not item:
            raise bad_param(
                f"input[{i}]", f"'input[{i}]' must be a non-empty string or token array"
            )


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
