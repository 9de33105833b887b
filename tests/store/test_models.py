"""Models added through the management API: ``proxy_models`` on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tokenway.store import Store
from tokenway.store.base import ConflictError
from tokenway.store.models import ModelRecord


def _model(model_id: str = "m-1", **changes: object) -> ModelRecord:
    fields: dict[str, object] = {
        "model_id": model_id,
        "model_name": "llama",
        "litellm_params": {"model": "openai/x", "api_base": "http://127.0.0.1:9/v1", "rpm": 5},
        "model_info": {"id": model_id, "team_id": "t-1"},
        "api_key_sealed": "aesgcm1:opaque",
    }
    fields.update(changes)
    return ModelRecord(**fields)  # type: ignore[arg-type]


async def test_a_created_model_reads_back_whole(store: Store) -> None:
    created = await store.create_model(_model())
    assert created.created_at > 0 and created.updated_at == created.created_at
    found = await store.get_model("m-1")
    assert found == created
    assert found is not None and found.litellm_params["rpm"] == 5
    assert found.model_info == {"id": "m-1", "team_id": "t-1"}
    assert found.api_key_sealed == "aesgcm1:opaque"


async def test_an_id_is_stored_once(store: Store) -> None:
    await store.create_model(_model())
    with pytest.raises(ConflictError):
        await store.create_model(_model(model_name="other"))


async def test_replace_changes_the_row_and_its_time(store: Store) -> None:
    created = await store.create_model(_model())
    replaced = await store.replace_model(_model(model_name="renamed", api_key_sealed=None))
    assert replaced is not None
    assert replaced.model_name == "renamed" and replaced.api_key_sealed is None
    assert replaced.created_at == created.created_at
    assert replaced.updated_at >= created.updated_at
    assert await store.replace_model(_model("absent")) is None


async def test_list_is_in_creation_order_and_delete_removes(store: Store) -> None:
    for ident in ("b", "a", "c"):
        await store.create_model(_model(ident))
    assert [m.model_id for m in await store.list_models()] == ["b", "a", "c"]
    assert await store.delete_model("a") is True
    assert await store.delete_model("a") is False
    assert [m.model_id for m in await store.list_models()] == ["b", "c"]
    assert await store.get_model("a") is None
