"""Models added through the management API (LiteLLM's ``store_model_in_db``).

One row per deployment in ``proxy_models`` (migration 006). ``litellm_params`` never holds
an upstream key given in clear: the proxy seals it (``api_key_sealed``) before it reaches
the store, so a database dump or a log of a query shows no credential. Both dialects run
the same SQL through the three primitives of ``RecordOperations``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tokenway.store.common import RecordOperations
from tokenway.store.rows import RowLike

_COLUMNS = (
    "model_id",
    "model_name",
    "litellm_params",
    "model_info",
    "api_key_sealed",
    "created_at",
    "updated_at",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM proxy_models"


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A stored deployment: its public alias, its parameters (no key in clear) and info."""

    model_id: str
    model_name: str
    litellm_params: Mapping[str, Any] = field(default_factory=dict)
    model_info: Mapping[str, Any] = field(default_factory=dict)
    api_key_sealed: str | None = field(default=None, repr=False)
    created_at: float = 0.0
    updated_at: float = 0.0


class ModelOperations(RecordOperations):
    """``proxy_models`` over the store's primitives (mixed into both dialects)."""

    async def create_model(self, model: ModelRecord) -> ModelRecord:
        """Insert; a ``model_id`` already stored raises ``ConflictError``."""
        now = time.time()
        stored = ModelRecord(
            model.model_id,
            model.model_name,
            model.litellm_params,
            model.model_info,
            model.api_key_sealed,
            model.created_at or now,
            now,
        )
        marks = ", ".join("?" for _ in _COLUMNS)
        sql = f"INSERT INTO proxy_models ({', '.join(_COLUMNS)}) VALUES ({marks})"
        await self._execute(sql, _row(stored))
        return stored

    async def get_model(self, model_id: str) -> ModelRecord | None:
        return await self._fetch_one(f"{_SELECT} WHERE model_id = ?", (model_id,), _record)

    async def replace_model(self, model: ModelRecord) -> ModelRecord | None:
        """Store ``model`` in place of the row with its id (None if there is none)."""
        now = time.time()
        sql = (
            "UPDATE proxy_models SET model_name = ?, litellm_params = ?, model_info = ?, "
            "api_key_sealed = ?, updated_at = ? WHERE model_id = ? "
            f"RETURNING {', '.join(_COLUMNS)}"
        )
        args = (
            model.model_name,
            _text(model.litellm_params),
            _text(model.model_info),
            model.api_key_sealed,
            now,
            model.model_id,
        )
        return await self._fetch_one(sql, args, _record)

    async def delete_model(self, model_id: str) -> bool:
        return await self._execute("DELETE FROM proxy_models WHERE model_id = ?", (model_id,)) > 0

    async def list_models(self) -> list[ModelRecord]:
        """Every stored model, oldest first (the order they are served in)."""
        return await self._fetch_all(f"{_SELECT} ORDER BY created_at, model_id", (), _record)


def _row(model: ModelRecord) -> tuple[Any, ...]:
    return (
        model.model_id,
        model.model_name,
        _text(model.litellm_params),
        _text(model.model_info),
        model.api_key_sealed,
        model.created_at,
        model.updated_at,
    )


def _text(value: Mapping[str, Any]) -> str:
    return orjson.dumps(dict(value)).decode()


def _record(row: RowLike) -> ModelRecord:
    return ModelRecord(
        model_id=row["model_id"],
        model_name=row["model_name"],
        litellm_params=orjson.loads(row["litellm_params"]),
        model_info=orjson.loads(row["model_info"]),
        api_key_sealed=row["api_key_sealed"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
    )


__all__ = ["ModelOperations", "ModelRecord"]
