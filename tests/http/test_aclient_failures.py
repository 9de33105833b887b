"""AsyncHTTPClient over real loopback sockets: broken responses, refused connections, timeouts."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.http.aclient_helpers import Reader, Server, Writer, free_port, keep_alive, ok, serve
from tests.http.aclient_helpers import client as client  # a fixture

from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import ConnectError, ReadTimeout, RemoteProtocolError


async def test_no_retry_after_partial_head(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(ok())
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")

    async with serve(handler) as srv:
        await (await client.request("GET", srv.url)).read()
        with pytest.raises(RemoteProtocolError, match="mid-response"):
            await client.request("GET", srv.url)
    assert srv.conns == 1


async def test_partial_body_is_an_error(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")

    async with serve(handler) as srv:
        r = await client.request("GET", srv.url)
        with pytest.raises(RemoteProtocolError):
            await r.read()
        with pytest.raises(RuntimeError):
            await r.read()


async def test_fresh_connection_closed_without_response_not_retried(
    client: AsyncHTTPClient,
) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)

    async with serve(handler) as srv:
        with pytest.raises(RemoteProtocolError, match="without sending a response"):
            await client.request("GET", srv.url)
    assert srv.conns == 1


async def test_malformed_response(client: AsyncHTTPClient) -> None:
    async with serve(keep_alive(b"HTTQ/9 nope\r\n\r\n")) as srv:
        with pytest.raises(RemoteProtocolError, match="malformed"):
            await client.request("GET", srv.url)


async def test_refused_port(client: AsyncHTTPClient) -> None:
    port = free_port()
    with pytest.raises(ConnectError, match=f"connection refused by 127.0.0.1:{port}"):
        await client.request("GET", f"http://127.0.0.1:{port}/")
    with pytest.raises(ValueError):
        await client.request("GET", "ftp://127.0.0.1/")


async def test_head_timeout(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        await srv.wait_eof(reader)

    async with serve(handler) as srv:
        t0 = time.monotonic()
        with pytest.raises(ReadTimeout):  # (wait_for: fail, don't hang, if timeouts break)
            await asyncio.wait_for(client.request("GET", srv.url, timeout=0.1), 2)
        assert time.monotonic() - t0 < 0.5
        await asyncio.wait_for(srv.eof.wait(), 1)  # the connection was closed


async def test_timeouts_on_a_reused_connection(client: AsyncHTTPClient) -> None:
    """A connection keeps one timer across requests: a later, shorter deadline still fires
    on time, and a later, longer one is not cut short by the earlier timer."""

    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(ok())  # request 1 (timeout 0.1 s): at once
        await srv.read_request(reader)
        await asyncio.sleep(0.2)
        writer.write(ok())  # request 2 (timeout 5 s): after request 1's deadline
        await srv.read_request(reader)
        await srv.wait_eof(reader)  # request 3 (timeout 0.1 s): never answered

    async with serve(handler) as srv:
        await (await client.request("GET", srv.url, timeout=0.1)).read()
        await (await client.request("GET", srv.url, timeout=5.0)).read()
        t0 = time.monotonic()
        with pytest.raises(ReadTimeout):
            await asyncio.wait_for(client.request("GET", srv.url, timeout=0.1), 2)
        assert time.monotonic() - t0 < 1.0
    assert srv.conns == 1
