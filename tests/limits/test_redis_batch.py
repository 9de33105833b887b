"""Script calls batched to Redis: two batches on the wire at once, in order on one
connection; a batch Redis does not answer in time fails and the next connects again; a
script Redis lost is loaded and its calls sent again."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio

import tokenway.limits.redis_batch as redis_batch
from tokenway.limits.redis_batch import Batches, head, pack
from tokenway.limits.resp import RespConnection, connect


@asynccontextmanager
async def scratch_key(redis_url: str) -> AsyncIterator[str]:
    key = f"tokenway-test-{secrets.token_hex(6)}"
    try:
        yield key
    finally:
        conn = await connect(redis_url)
        await conn.send(head(2) + pack(["DEL", key]), 1)
        conn.close()


async def test_two_batches_go_on_the_wire_at_once_in_order_on_one_connection(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second sender writes the next turns' calls while the first batch waits for its
    replies; both share the one connection (opened once), so replies keep their order."""
    opened: list[str] = []

    async def counting_connect(url: str) -> RespConnection:
        opened.append(url)
        return await connect(url)

    monkeypatch.setattr(redis_batch, "connect", counting_connect)
    errors: list[BaseException] = []
    batches = Batches(None, redis_url, [], 2.0, errors.append)
    async with scratch_key(redis_url) as key:
        incr = head(2) + pack(["INCR", key])
        calls = [batches.call(incr) for _ in range(3)]
        await asyncio.sleep(0)  # the first sender starts: connecting, then waiting
        calls += [batches.call(incr) for _ in range(3)]
        await asyncio.sleep(0)
        assert batches._senders == 2  # the second started while the first waits
        calls += [batches.call(incr) for _ in range(3)]  # queued for the first free
        assert await asyncio.wait_for(asyncio.gather(*calls), 5) == list(range(1, 10))
        assert len(opened) == 1 and not errors
        assert not batches.pending
        batches.close()


async def test_a_batch_redis_does_not_answer_in_time_fails_and_the_next_reconnects(
    redis_url: str,
) -> None:
    errors: list[BaseException] = []
    batches = Batches(None, redis_url, [], 0.2, errors.append)
    admin = await connect(redis_url)
    async with scratch_key(redis_url) as key:
        incr = head(2) + pack(["INCR", key])
        assert await asyncio.wait_for(batches.call(incr), 5) == 1  # connected
        await admin.send(head(3) + pack(["CLIENT", "PAUSE", "600"]), 1)
        with pytest.raises(ConnectionError, match="did not answer"):
            await asyncio.wait_for(batches.call(incr), 5)
        assert errors and "did not answer" in str(errors[0])
        await asyncio.sleep(0.7)  # the pause ends
        # a new connection; the unanswered INCR may or may not have run
        assert await asyncio.wait_for(batches.call(incr), 5) in (2, 3)
        assert len(errors) == 1
    admin.close()
    batches.close()


async def test_a_script_redis_lost_is_loaded_and_its_call_sent_again(redis_url: str) -> None:
    script = "return redis.call('INCR', KEYS[1])"
    client = redis.asyncio.Redis.from_url(redis_url)
    errors: list[BaseException] = []
    batches = Batches(client, redis_url, [script], 2.0, errors.append)
    admin = await connect(redis_url)
    try:
        await batches.load()
        async with scratch_key(redis_url) as key:
            call = head(4) + pack(["EVALSHA", batches.shas[0], 1, key])
            assert await asyncio.wait_for(batches.call(call), 5) == 1
            await admin.send(head(2) + pack(["SCRIPT", "FLUSH"]), 1)  # a restarted Redis
            calls = [batches.call(call), batches.call(head(2) + pack(["GET", key]))]
            assert await asyncio.wait_for(asyncio.gather(*calls), 5) == [2, b"1"]
            assert not errors
    finally:
        admin.close()
        batches.close()
        await client.aclose()
