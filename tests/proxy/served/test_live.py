"""``LiveModels``: stored models merged into the config's, applied only on a change."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from tokenway.proxy.config import DeploymentConfig, parse_config
from tokenway.proxy.served import LiveModels, SecretBox
from tokenway.store.base import Store
from tokenway.store.models import ModelRecord
from tokenway.store.sqlite import SQLiteStore

BASE = "http://127.0.0.1:9/v1"


def _config() -> tuple[DeploymentConfig, ...]:
    entry = {"model_name": "cfg", "litellm_params": {"model": "openai/x", "api_base": BASE}}
    return parse_config({"model_list": [entry]}, env={}).deployments


def _row(model_id: str, name: str = "db") -> ModelRecord:
    params = {"model": "openai/y", "api_base": BASE, "api_key": "k"}
    return ModelRecord(model_id, name, params, {"id": model_id})


class Applied:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, deployments: Sequence[DeploymentConfig]) -> None:
        self.calls.append([str(d.model_info["id"]) for d in deployments])


async def test_only_a_change_is_applied_and_unservable_rows_are_left_out(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "m.db"))
    await store.open()
    applied = Applied()
    live = LiveModels(_config(), store, SecretBox("s"), {}, applied)
    try:
        await store.create_model(_row("a"))
        bad = ModelRecord("b", "bad", {"model": "nosuch/x"}, {"id": "b"})
        await store.create_model(bad)
        assert await live.refresh() is True
        assert applied.calls == [["cfg-0", "a"]]  # the config's first, "b" left out
        assert await live.refresh() is False  # nothing changed: nothing rebuilt
        await store.delete_model("a")
        assert await live.refresh() is True and applied.calls[-1] == ["cfg-0"]
    finally:
        await store.close()


class SlowFirstRead:
    """A store whose first read is held until released, then answers what it held."""

    def __init__(self) -> None:
        self.rows: list[ModelRecord] = []
        self.release = asyncio.Event()
        self.reads = 0

    async def list_models(self) -> list[ModelRecord]:
        self.reads += 1
        snapshot = list(self.rows)
        if self.reads == 1:
            await self.release.wait()
        return snapshot


async def test_a_read_begun_before_a_change_is_not_applied_after_it() -> None:
    store = SlowFirstRead()
    applied = Applied()
    live = LiveModels(_config(), cast(Store, cast(Any, store)), SecretBox("s"), {}, applied)
    poll = asyncio.create_task(live.refresh())  # reads the empty table, and is held
    await asyncio.sleep(0)
    store.rows.append(_row("new"))
    change = asyncio.create_task(live.refresh())  # the change's own read
    await asyncio.sleep(0)
    store.release.set()
    await asyncio.gather(poll, change)
    assert applied.calls[-1] == ["cfg-0", "new"]
