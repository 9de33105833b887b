"""The 2025 Inference.net model catalog the emulator serves (reference §3).

`GET /v1/models` lists the three chat models of the §3 table (checklist 1). The
embedding model `qwen/qwen3-embedding-4b` (reference §2, `/features/embeddings`) is
served and found by ID but not listed; its price and context window are unknown
(emulation rule: no price, the chat models' window), its 2,560-float vector is the
size Qwen's model card states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHAT",
    "CONTEXT_WINDOW",
    "EMBEDDING",
    "EMBEDDING_MODELS",
    "MODELS",
    "ModelCard",
    "find_model",
    "models_payload",
]

CONTEXT_WINDOW = 16_384
CHAT = "chat"
EMBEDDING = "embedding"
# A fixed creation time keeps `/v1/models` byte-stable across runs.
_CREATED = 1_727_308_800


@dataclass(frozen=True)
class ModelCard:
    """One served model; prices are US dollars per million tokens, None when unknown.

    `kind` is the endpoint family that serves it: `chat` models answer chat and legacy
    completions, `embedding` models answer embeddings with `dimensions`-float vectors.
    """

    id: str
    owned_by: str
    input_price: float | None
    output_price: float | None
    context_window: int = CONTEXT_WINDOW
    vision: bool = False
    kind: str = CHAT
    dimensions: int | None = None

    def to_dict(self, *, include_pricing: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.id,
            "object": "model",
            "created": _CREATED,
            "owned_by": self.owned_by,
        }
        if include_pricing:
            entry["context_length"] = self.context_window
        if include_pricing and self.input_price is not None and self.output_price is not None:
            entry["pricing"] = {
                "input_per_million": self.input_price,
                "output_per_million": self.output_price,
                "prompt": _per_token(self.input_price),
                "completion": _per_token(self.output_price),
            }
        return entry


MODELS: tuple[ModelCard, ...] = (
    ModelCard("meta-llama/llama-3.1-8b-instruct/fp-16", "meta-llama", 0.03, 0.03),
    ModelCard("meta-llama/llama-3.2-3b-instruct/fp-16", "meta-llama", 0.02, 0.02),
    ModelCard("mistralai/mistral-nemo-12b-instruct/fp-8", "mistralai", 0.04, 0.10),
)
EMBEDDING_MODELS: tuple[ModelCard, ...] = (
    ModelCard("qwen/qwen3-embedding-4b", "qwen", None, None, kind=EMBEDDING, dimensions=2560),
)
_BY_ID = {card.id: card for card in (*MODELS, *EMBEDDING_MODELS)}


def find_model(model_id: str) -> ModelCard | None:
    """The card for an exact ID; the precision suffix is part of the ID."""
    return _BY_ID.get(model_id)


def models_payload(*, include_pricing: bool) -> dict[str, Any]:
    """The `GET /v1/models` body."""
    return {
        "object": "list",
        "data": [card.to_dict(include_pricing=include_pricing) for card in MODELS],
    }


def _per_token(price_per_million: float) -> str:
    # OpenRouter-style per-token price strings, as the 2026 catalog carries them.
    return f"{price_per_million / 1_000_000:.10f}".rstrip("0")
