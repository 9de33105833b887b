"""PostgreSQL specifics: failures surface as StoreError, never with the password."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tokenway.store import StoreError
from tokenway.store.postgres import PostgresStore


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    store = PostgresStore("postgresql://app:s3cret-pw@127.0.0.1:1/tokenway")
    with pytest.raises(StoreError) as info:
        await store.open()
    message = str(info.value)
    assert "cannot reach PostgreSQL at 127.0.0.1:1/tokenway" in message
    assert "s3cret-pw" not in message
    await store.close()


async def test_a_server_that_does_not_answer_times_out_as_a_store_error(silent_port: int) -> None:
    store = PostgresStore(f"postgresql://app:pw@127.0.0.1:{silent_port}/x", connect_timeout=0.2)
    with pytest.raises(StoreError, match="did not answer in time"):
        await store.open()


async def test_a_refusing_server_is_a_store_error(postgres_url: str) -> None:
    store = PostgresStore(postgres_url.rpartition("/")[0] + "/no_such_database_here")
    with pytest.raises(StoreError, match='refused: database "no_such_database_here"'):
        await store.open()


async def test_using_a_store_before_open_says_so() -> None:
    store = PostgresStore("postgresql://app@127.0.0.1:1/x")
    with pytest.raises(StoreError, match="not open"):
        await store.get_key("hash")


async def test_a_query_that_takes_too_long_is_a_store_error(postgres_schema_url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    store = PostgresStore(postgres_schema_url, command_timeout=0.2)
    await store.open()
    blocker = await asyncpg.connect(postgres_schema_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE keys IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreError, match="did not answer in time"):
                await store.get_key("hash")
        assert await store.get_key("hash") is None  # and the store carries on
    finally:
        await blocker.close()
        await store.close()
