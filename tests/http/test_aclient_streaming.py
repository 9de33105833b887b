"""AsyncHTTPClient over loopback sockets: streamed bodies, early close, cancellation."""

from __future__ import annotations

import asyncio

import pytest
from tests.http.aclient_helpers import (
    Reader,
    Server,
    Writer,
    keep_alive,
    keep_alive_loop,
    ok,
    serve,
    until,
)
from tests.http.aclient_helpers import client as client  # a fixture

from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import ReadTimeout


async def test_streaming_is_incremental_and_idle_timeout(client: AsyncHTTPClient) -> None:
    go = asyncio.Event()

    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\npiece 1\r\n")
        await go.wait()
        writer.write(b"7\r\npiece 2\r\n")
        await srv.wait_eof(reader)  # never finishes the body

    async with serve(handler) as srv:
        r = await client.request("POST", srv.url, body=b"{}")
        pieces = r.iter_bytes(timeout=0.2)
        assert await anext(pieces) == b"piece 1"  # before the server sent piece 2
        go.set()
        assert await anext(pieces) == b"piece 2"
        with pytest.raises(ReadTimeout):
            await asyncio.wait_for(anext(pieces), 2)
        await asyncio.wait_for(srv.eof.wait(), 1)


async def test_aclose_half_read_stream_closes_socket(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst")
        await srv.wait_eof(reader)

    async with serve(handler) as srv:
        async with await client.request("GET", srv.url) as r:
            pieces = r.iter_bytes()
            assert await anext(pieces) == b"first"
        await asyncio.wait_for(srv.eof.wait(), 1)
        with pytest.raises(RuntimeError):
            await r.read()
        del pieces


async def test_aclose_of_complete_unread_response_reuses(client: AsyncHTTPClient) -> None:
    async with serve(keep_alive()) as srv:
        for _ in range(3):
            async with await client.request("GET", srv.url) as r:
                await asyncio.sleep(0.01)  # the body arrives, nobody reads it
    assert srv.conns == 1 and r.status == 200


async def test_cancel_while_waiting_for_head_closes_connection() -> None:
    client = AsyncHTTPClient(max_connections_per_host=1)

    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        if n == 1:
            await srv.read_request(reader)
            await srv.wait_eof(reader)
        else:
            await keep_alive_loop(srv, reader, writer, b"")

    async with serve(handler) as srv:
        task = asyncio.create_task(client.request("GET", srv.url))
        await until(lambda: srv.requests)  # the request is out, the client awaits the head
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(srv.eof.wait(), 1)
        r = await client.request("GET", srv.url, timeout=1)  # the only slot was freed
        assert await r.read() == b"hello"
    await client.aclose()


async def test_cancel_while_reading_body_closes_connection(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
        await srv.wait_eof(reader)

    async with serve(handler) as srv:
        r = await client.request("GET", srv.url)
        task = asyncio.create_task(r.read())
        await until(lambda: r._conn is not None and r._conn.waiter is not None)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(srv.eof.wait(), 1)


async def test_flow_control_pauses_reading(client: AsyncHTTPClient) -> None:
    big = bytes(range(256)) * 16 * 1024  # 4 MiB

    async with serve(keep_alive(ok(big))) as srv:
        r = await client.request("GET", srv.url)
        await asyncio.sleep(0.1)  # the consumer is slow
        conn = r._conn
        assert conn is not None and conn.paused and conn.buffered < 1024 * 1024
        assert await r.read() == big
        assert await (await client.request("GET", srv.url)).read() == big
    assert srv.conns == 1
