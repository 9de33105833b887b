"""The 2025 Inference.net model catalog the emulator serves (reference §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CONTEXT_WINDOW", "MODELS", "ModelCard", "find_model", "models_payload"]

CONTEXT_WINDOW = 16_384
# A fixed creation time keeps `/v1/models` byte-stable across runs.
_CREATED = 1_727_308_800


@dataclass(frozen=True)
class ModelCard:
    """One served model; prices are US dollars per million tokens."""

    id: str
    owned_by: str
    input_price: float
    output_price: float
    context_window: int = CONTEXT_WINDOW
    vision: bool = False

    def to_dict(self, *, include_pricing: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.id,
            "object": "model",
            "created": _CREATED,
            "owned_by": self.owned_by,
        }
        if include_pricing:
            entry["context_length"] = self.context_window
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
_BY_ID = {card.id: card for card in MODELS}


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
