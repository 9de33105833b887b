"""AsyncHTTPClient over loopback sockets: requests, bodies, connection reuse and retries."""

from __future__ import annotations

import asyncio

import pytest
from tests.http.aclient_helpers import Reader, Server, Writer, keep_alive, ok, serve
from tests.http.aclient_helpers import client as client  # a fixture

from tokenway.http.aclient import AsyncHTTPClient


async def test_get_post_and_request_head(client: AsyncHTTPClient) -> None:
    async with serve(keep_alive()) as srv:
        r = await client.request("GET", srv.url + "/a/b?x=1#frag", headers=[("X-Key", "V a")])
        assert (r.status, await r.read()) == (200, b"hello")
        assert r.headers == {"content-length": "5"}
        r = await client.request("POST", srv.url + "/p", body=b'{"a":1}', timeout=2)
        assert await r.read() == b'{"a":1}'
        r = await client.request("POST", srv.url, headers=[("Content-Length", "99")])
        await r.read()
    (l1, h1, _), (l2, h2, b2), (l3, h3, _) = srv.requests
    assert l1 == "GET /a/b?x=1 HTTP/1.1" and h1 == {"Host": f"127.0.0.1:{srv.port}", "X-Key": "V a"}
    assert l2 == "POST /p HTTP/1.1" and h2["Content-Length"] == "7" and b2 == b'{"a":1}'
    assert l3 == "POST / HTTP/1.1" and h3["Content-Length"] == "0"  # ours, not the caller's


async def test_header_injection_rejected(client: AsyncHTTPClient) -> None:
    with pytest.raises(ValueError):
        await client.request("GET", "http://127.0.0.1:9/", headers=[("X", "a\r\nEvil: 1")])


async def test_repeated_headers_joined_and_lowercased(client: AsyncHTTPClient) -> None:
    extra = "Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-Request-ID: Abc\r\n"
    async with serve(keep_alive(ok(b"", extra))) as srv:
        r = await client.request("GET", srv.url)
        assert r.headers["set-cookie"] == "a=1, b=2" and r.headers["x-request-id"] == "Abc"
        assert await r.read() == b""


async def test_chunked_body(client: AsyncHTTPClient) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    resp = head + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    async with serve(keep_alive(resp)) as srv:
        for _ in range(2):
            r = await client.request("GET", srv.url)
            assert await r.read() == b"hello world"
    assert srv.conns == 1


async def test_read_until_close_body_and_no_reuse(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\npart one, ")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"part two")

    async with serve(handler) as srv:
        for _ in range(2):
            r = await client.request("GET", srv.url)
            assert await r.read() == b"part one, part two"
    assert srv.conns == 2


async def test_connection_reuse(client: AsyncHTTPClient) -> None:
    async with serve(keep_alive()) as srv:
        for i in range(5):
            r = await client.request("POST", srv.url, body=b"%d" % i)
            assert await r.read() == b"%d" % i
    assert srv.conns == 1


@pytest.mark.parametrize(
    "response",
    [ok(b"x", "Connection: close\r\n"), b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"],
)
async def test_connection_close_and_http10_not_reused(
    client: AsyncHTTPClient, response: bytes
) -> None:
    async with serve(keep_alive(response)) as srv:
        for _ in range(3):
            r = await client.request("GET", srv.url)
            assert await r.read() == b"x"
    assert srv.conns == 3


async def test_head_request_then_reuse(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        while (req := await srv.read_request(reader)) is not None:
            head = req[0].startswith("HEAD")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" if head else ok())

    async with serve(handler) as srv:
        r = await client.request("HEAD", srv.url, timeout=1)
        assert r.headers["content-length"] == "5" and await r.read(timeout=1) == b""
        r = await client.request("GET", srv.url, timeout=1)
        assert await r.read(timeout=1) == b"hello"
    assert srv.conns == 1


async def test_informational_response_skipped(client: AsyncHTTPClient) -> None:
    async with serve(keep_alive(b"HTTP/1.1 100 Continue\r\n\r\n" + ok())) as srv:
        r = await client.request("POST", srv.url, body=b"x", timeout=1)
        assert (r.status, await r.read(timeout=1)) == (200, b"hello")


async def test_no_content_response_then_reuse(client: AsyncHTTPClient) -> None:
    async with serve(keep_alive(b"HTTP/1.1 204 No Content\r\n\r\n")) as srv:
        for _ in range(2):
            r = await client.request("DELETE", srv.url, timeout=1)
            assert (r.status, await r.read(timeout=1)) == (204, b"")
    assert srv.conns == 1


async def test_stale_keep_alive_retried_on_fresh_connection(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(ok(b"first"))
        if n == 1:  # the next request arrives on a connection we close unanswered
            await srv.read_request(reader)
            return
        while await srv.read_request(reader) is not None:
            writer.write(ok(b"fresh"))

    async with serve(handler) as srv:
        r = await client.request("GET", srv.url)
        assert await r.read() == b"first"
        r = await client.request("POST", srv.url, body=b"payload")
        assert await r.read() == b"first"  # conn 2's first answer
    assert srv.conns == 2
    assert [req[2] for req in srv.requests] == [b"", b"payload", b"payload"]


async def test_server_closed_idle_connection(client: AsyncHTTPClient) -> None:
    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await srv.read_request(reader)
        writer.write(ok(b"%d" % n))  # then close while the client holds it idle

    async with serve(handler) as srv:
        assert await (await client.request("GET", srv.url)).read() == b"1"
        await asyncio.sleep(0.02)
        assert await (await client.request("GET", srv.url)).read() == b"2"
