"""AsyncHTTPClient over loopback sockets: HTTPS, uvloop, and moving to a new event loop."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import uvloop
from tests.http.aclient_helpers import (
    Reader,
    Server,
    Writer,
    free_port,
    keep_alive,
    keep_alive_loop,
    serve,
)
from tests.http.aclient_helpers import client as client  # a fixture

from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import ConnectError, HTTPError


async def test_https(cert: tuple[Path, Path]) -> None:
    key, crt = cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(crt, key)
    srv = serve(keep_alive())
    srv_ = await asyncio.start_server(srv._on_conn, "127.0.0.1", 0, ssl=server_ctx)
    url = f"https://127.0.0.1:{srv_.sockets[0].getsockname()[1]}/"
    trusting = AsyncHTTPClient(ssl_context=ssl.create_default_context(cafile=str(crt)))
    default = AsyncHTTPClient()
    try:
        for _ in range(2):
            assert await (await trusting.request("GET", url, timeout=2)).read() == b"hello"
        assert srv.conns == 1
        with pytest.raises(ConnectError, match=r"TLS handshake with 127\.0\.0\.1:\d+ failed"):
            await default.request("GET", url, timeout=2)
    finally:
        await trusting.aclose()
        await default.aclose()
        srv_.close()
        for task in srv.tasks:
            task.cancel()


async def test_https_to_plain_http_server_is_connect_error(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await srv.wait_eof(reader)

    async with serve(handler) as srv:
        with pytest.raises(ConnectError, match="TLS"):
            await client.request("GET", srv.url.replace("http:", "https:"), timeout=2)


async def _uvloop_scenario(client: AsyncHTTPClient) -> list[bytes]:
    out = []

    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
        if n == 1:
            await srv.read_request(reader)  # stale: closed unanswered
        else:
            await keep_alive_loop(srv, reader, writer, b"")

    async with serve(handler) as srv:
        for _ in range(3):
            out.append(await (await client.request("GET", srv.url, timeout=2)).read())
        out.append(await (await client.request("POST", srv.url, body=b"b")).read())
    with pytest.raises(HTTPError, match="refused"):
        await client.request("GET", f"http://127.0.0.1:{free_port()}/")
    return out


def test_uvloop_and_rebinding_to_a_new_loop() -> None:
    client = AsyncHTTPClient()
    expected = [b"ok", b"ok", b"hello", b"b"]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(_uvloop_scenario(client)) == expected
    with asyncio.Runner() as runner:  # same client, another loop
        assert runner.run(_uvloop_scenario(client)) == expected
        runner.run(client.aclose())
