"""Virtual keys on a real SQLite store for the key cache and gate tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from tokenway.proxy.accounting.keys import KeyCache, KeyContext
from tokenway.proxy.auth import hash_key
from tokenway.store.base import KeyRecord, Limits, Store, TeamRecord, UserRecord
from tokenway.store.sqlite import SQLiteStore


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingStore:
    """The real store, counting key reads; ``hold`` (when set) pauses them until released."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.key_reads = 0
        self.hold: asyncio.Event | None = None

    async def get_key(self, key_hash: str) -> KeyRecord | None:
        self.key_reads += 1
        if self.hold is not None:
            await self.hold.wait()
        return await self.inner.get_key(key_hash)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def as_store(self) -> Store:
        return cast(Store, self)


async def open_sqlite(path: Path) -> SQLiteStore:
    store = SQLiteStore(str(path))
    await store.open()
    return store


async def add_key(
    store: SQLiteStore,
    secret: str,
    *,
    models: tuple[str, ...] = (),
    team_id: str | None = None,
    user_id: str | None = None,
    expires_at: float | None = None,
    blocked: bool = False,
    **limits: Any,
) -> str:
    key_hash = hash_key(secret)
    record = KeyRecord(
        key_hash=key_hash,
        key_name=f"sk-...{secret[-4:]}",
        key_alias=secret,
        user_id=user_id,
        team_id=team_id,
        models=list(models),
        limits=Limits(**limits),
        expires_at=expires_at,
        blocked=blocked,
    )
    await store.create_key(record)
    return key_hash


async def add_team(
    store: SQLiteStore, team_id: str, *, models: tuple[str, ...] = (), **limits: Any
) -> None:
    await store.create_team(
        TeamRecord(team_id=team_id, models=list(models), limits=Limits(**limits))
    )


async def add_user(store: SQLiteStore, user_id: str, **limits: Any) -> None:
    await store.create_user(UserRecord(user_id=user_id, limits=Limits(**limits)))


async def resolved(cache: KeyCache, key_hash: str) -> KeyContext:
    ctx = await cache.resolve(key_hash)
    assert ctx is not None
    return ctx


async def settle_refreshes() -> None:
    """Let background refreshes on the store's worker thread finish."""
    for _ in range(20):
        await asyncio.sleep(0.005)
