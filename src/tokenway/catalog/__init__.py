"""Model facts (prices, context windows, capabilities) from a bundled data file.

Nothing is fetched: the file ships with the package, and callers add models with
``Catalog.register``. A model the catalog does not know has no price (cost ``None``)
and no context check; it is never an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

__all__ = ["Catalog", "ModelInfo", "cost_of"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    context_window: int | None = None
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    supports_tools: bool = True
    supports_response_schema: bool = True
    supports_vision: bool = False
    supports_parallel_function_calling: bool = False
    description: str = ""
    # LiteLLM's names: "chat", "embedding" or "completion"; what endpoint serves the model.
    mode: str = "chat"
    # Length of an embedding vector; None for other modes, or when no source states it.
    output_vector_size: int | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ModelInfo:
        window = data.get("context_window", data.get("max_input_tokens", data.get("max_tokens")))
        return cls(
            context_window=int(window) if window is not None else None,
            input_cost_per_token=_opt_float(data.get("input_cost_per_token")),
            output_cost_per_token=_opt_float(data.get("output_cost_per_token")),
            supports_tools=bool(
                data.get("supports_tools", data.get("supports_function_calling", True))
            ),
            supports_response_schema=bool(data.get("supports_response_schema", True)),
            supports_vision=bool(data.get("supports_vision", False)),
            supports_parallel_function_calling=bool(
                data.get("supports_parallel_function_calling", False)
            ),
            description=str(data.get("description", "")),
            mode=str(data.get("mode", "chat")),
            output_vector_size=_opt_int(data.get("output_vector_size")),
        )


class Catalog:
    """Models keyed by their full ``provider/model`` name."""

    def __init__(self, models: Mapping[str, ModelInfo] | None = None) -> None:
        self._models: dict[str, ModelInfo] = dict(_bundled() if models is None else models)

    def get(self, model: str) -> ModelInfo | None:
        return self._models.get(model)

    def register(self, model: str, info: ModelInfo | Mapping[str, Any]) -> None:
        """Add or update a model (a partial mapping updates only the fields it names)."""
        if not isinstance(info, ModelInfo):
            known = self._models.get(model)
            fresh = ModelInfo.from_mapping(info)
            if known is not None:
                changes = {k: getattr(fresh, k) for k in _named_fields(info)}
                fresh = replace(known, **changes)
            info = fresh
        self._models[model] = info

    def __contains__(self, model: object) -> bool:
        return model in self._models

    def names(self) -> list[str]:
        return sorted(self._models)


def cost_of(
    info: ModelInfo | None,
    prompt_tokens: int,
    completion_tokens: int,
    input_cost_per_token: float | None = None,
    output_cost_per_token: float | None = None,
) -> float | None:
    """USD for one call; ``None`` when no price is known for either side.

    An embedding call has prompt tokens only: pass ``completion_tokens=0``.
    """
    price_in = (
        input_cost_per_token
        if input_cost_per_token is not None
        else (info and info.input_cost_per_token)
    )
    price_out = (
        output_cost_per_token
        if output_cost_per_token is not None
        else (info and info.output_cost_per_token)
    )
    if price_in is None and price_out is None:
        return None
    return prompt_tokens * (price_in or 0.0) + completion_tokens * (price_out or 0.0)


_FIELD_ALIASES = {
    "max_input_tokens": "context_window",
    "max_tokens": "context_window",
    "supports_function_calling": "supports_tools",
}


def _named_fields(data: Mapping[str, Any]) -> set[str]:
    fields = set(ModelInfo.__dataclass_fields__)
    return {_FIELD_ALIASES.get(k, k) for k in data} & fields


def _opt_float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _opt_int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _bundled() -> dict[str, ModelInfo]:
    text = resources.files(__package__).joinpath("models.json").read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    return {k: ModelInfo.from_mapping(v) for k, v in raw.items() if not k.startswith("_")}
