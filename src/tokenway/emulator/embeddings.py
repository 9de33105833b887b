"""`POST /v1/embeddings` (reference §2, checklist 25): one unit vector per input.

Vectors are a pure function of the model, the input and `dimensions`, so identical
inputs embed identically across requests and runs. Values are float32 (what the
real servers compute), and the `float` and `base64` encodings carry the same values:
base64 is the little-endian float32 array, as OpenAI sends it. Emulation rules, where
the reference says nothing: token-array inputs (OpenAI's shape) count one token per
integer; `dimensions` keeps the first N values and renormalises, the way Matryoshka
models such as Qwen3-Embedding shorten a vector; at most 2,048 inputs (OpenAI's cap).
"""

from __future__ import annotations

import array
import base64
import hashlib
import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .catalog import EMBEDDING, ModelCard
from .errors import context_length_exceeded, invalid_request
from .tokens import count_tokens
from .validate import decode_body, integer_field, model_for

__all__ = ["MAX_INPUTS", "EmbeddingRequest", "embedding_body", "parse_embedding_request"]

MAX_INPUTS = 2048
_FORMATS = ("float", "base64")
_INPUT_HELP = "expected a non-empty string, an array of strings, or an array of token arrays"


@dataclass(frozen=True)
class EmbeddingRequest:
    """A valid request; each input is text or a token array, as sent."""

    model: str
    inputs: tuple[str | tuple[int, ...], ...]
    encoding_format: str
    dimensions: int | None


def parse_embedding_request(body: bytes) -> EmbeddingRequest:
    data = decode_body(body)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_request("You must provide a model parameter.", "model")
    encoding = data.get("encoding_format") or "float"
    if encoding not in _FORMATS:
        raise invalid_request(
            f"Invalid value for 'encoding_format': expected 'float' or 'base64', got {encoding!r}.",
            "encoding_format",
        )
    if data.get("user") is not None and not isinstance(data["user"], str):
        raise invalid_request("Invalid type for 'user': expected a string.", "user")
    return EmbeddingRequest(
        model=model,
        inputs=_inputs(data.get("input")),
        encoding_format=str(encoding),
        dimensions=integer_field(data, "dimensions", 1, None),
    )


def embedding_body(request: EmbeddingRequest) -> dict[str, Any]:
    """The `list` answer, once the request fits its model; raises `ApiError` otherwise."""
    card = model_for(request.model, EMBEDDING)
    size = _vector_size(request, card)
    counts = [_token_count(item) for item in request.inputs]
    for count in counts:
        if count > card.context_window:
            raise context_length_exceeded(card.context_window, count, 0, "input")
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _encoded(_vector(card.id, item, size), request.encoding_format),
        }
        for index, item in enumerate(request.inputs)
    ]
    prompt = sum(counts)
    return {
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }


def _inputs(value: object) -> tuple[str | tuple[int, ...], ...]:
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, list) and value:
        # A flat array of integers is one token array, as in OpenAI's API.
        items = [value] if all(_is_token(t) for t in value) else list(value)
    else:
        raise invalid_request(f"Invalid 'input': {_INPUT_HELP}.", "input")
    if len(items) > MAX_INPUTS:
        raise invalid_request(
            f"Invalid 'input': array too long. Expected at most {MAX_INPUTS} items, "
            f"but got {len(items)} instead.",
            "input",
        )
    return tuple(_one_input(item, index) for index, item in enumerate(items))


def _one_input(item: object, index: int) -> str | tuple[int, ...]:
    if isinstance(item, str) and item:
        return item
    if isinstance(item, list) and item and all(_is_token(t) for t in item):
        return tuple(item)
    raise invalid_request(f"Invalid 'input[{index}]': {_INPUT_HELP}.", "input")


def _is_token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _token_count(item: str | tuple[int, ...]) -> int:
    return count_tokens(item) if isinstance(item, str) else len(item)


def _vector_size(request: EmbeddingRequest, card: ModelCard) -> int:
    native = card.dimensions or 0
    if request.dimensions is None:
        return native
    if request.dimensions > native:
        raise invalid_request(
            f"Invalid 'dimensions': {card.id} makes vectors of at most {native} dimensions, "
            f"but {request.dimensions} were requested.",
            "dimensions",
        )
    return request.dimensions


@lru_cache(maxsize=4096)
def _vector(model: str, item: str | tuple[int, ...], size: int) -> array.array[float]:
    """A unit float32 vector drawn from a hash of the model and the input."""
    material = f"{model}\0{item!r}".encode()
    # Two bytes per value: signed 16-bit draws, centred on zero, are plenty of spread.
    draws = array.array("h", hashlib.shake_256(material).digest(2 * size))
    norm = math.sqrt(math.fsum(v * v for v in draws)) or 1.0
    return array.array("f", [v / norm for v in draws])


def _encoded(vector: array.array[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector.tolist()
    raw = vector if sys.byteorder == "little" else _swapped(vector)
    return base64.b64encode(raw.tobytes()).decode("ascii")


def _swapped(vector: array.array[float]) -> array.array[float]:
    copy = array.array("f", vector)
    copy.byteswap()
    return copy
