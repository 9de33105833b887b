"""The batches' own Redis connection: replies parsed however the bytes are cut, errors
kept per call, the database of the URL selected."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from redis.exceptions import NoScriptError, ResponseError

from tokenway.limits.redis_batch import head, pack
from tokenway.limits.resp import RespConnection, connect

REPLIES = (
    b":42\r\n$5\r\nhello\r\n$-1\r\n*3\r\n:1\r\n*1\r\n$3\r\n0.5\r\n+OK\r\n"
    b"-NOSCRIPT No matching script\r\n-ERR wrong\r\n*0\r\n"
)
PARSED = [42, b"hello", None, [1, [b"0.5"], "OK"]]


class _Sink:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("step", [1, 2, 3, 7, len(REPLIES)])
async def test_replies_cut_anywhere_are_parsed_whole(step: int) -> None:
    conn = RespConnection()
    conn.connection_made(_Sink())  # type: ignore[arg-type]
    first = conn.send(b"", 4)
    second = conn.send(b"", 3)
    for start in range(0, len(REPLIES), step):
        conn.data_received(REPLIES[start : start + step])
    assert await first == PARSED
    errors = await second
    assert isinstance(errors[0], NoScriptError)
    assert isinstance(errors[1], ResponseError) and "wrong" in str(errors[1])
    assert errors[2] == []


async def test_a_lost_connection_fails_the_batches_waiting() -> None:
    conn = RespConnection()
    conn.connection_made(_Sink())  # type: ignore[arg-type]
    waiting = conn.send(b"", 1)
    conn.connection_lost(None)
    with pytest.raises(ConnectionError):
        await waiting
    with pytest.raises(ConnectionError):
        await conn.send(b"", 1)


async def test_the_url_s_database_is_selected(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    key = f"tokenway-test-{secrets.token_hex(6)}"
    conn = await connect(f"{base}/3")
    try:
        command = head(3) + pack(["SET", key, "x"]) + head(1) + pack(["DBSIZE"])
        assert (await asyncio.wait_for(conn.send(command, 2), 2))[0] == "OK"
        other = await connect(f"{base}/0")
        try:
            assert await other.send(head(2) + pack(["EXISTS", key]), 1) == [0]
        finally:
            other.close()
        assert await conn.send(head(2) + pack(["DEL", key]), 1) == [1]
    finally:
        conn.close()


def test_words_that_are_not_ascii_are_counted_in_bytes() -> None:
    assert pack(["GET", "clé"]) == b"$3\r\nGET\r\n$4\r\ncl\xc3\xa9\r\n"
    assert pack([7, "x"]) == b"$1\r\n7\r\n$1\r\nx\r\n"
