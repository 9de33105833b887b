"""AsyncHTTPClient over real loopback sockets, against small scripted asyncio servers."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvloop

from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import (
    ConnectError,
    ConnectTimeout,
    HTTPError,
    ReadTimeout,
    RemoteProtocolError,
)

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
Handler = Callable[["Server", Reader, Writer, int], Awaitable[None]]


class Server:
    """Runs ``handler(server, reader, writer, n)`` for the n-th connection (1-based)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.conns = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.eof = asyncio.Event()  # set when a handler saw the client close
        self.tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._on_conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _on_conn(self, reader: Reader, writer: Writer) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.conns += 1
        try:
            await self.handler(self, reader, writer, self.conns)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # (a cancelled handler ends quietly: 3.11's streams log cancelled handlers)
        finally:
            writer.close()

    async def read_request(self, reader: Reader) -> tuple[str, dict[str, str], bytes] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.eof.set()
            return None
        line, *rest = head.decode().split("\r\n")
        headers = dict(h.split(": ", 1) for h in rest if h)
        body = await reader.readexactly(int(headers.get("Content-Length", 0)))
        self.requests.append((line, headers, body))
        return line, headers, body

    async def wait_eof(self, reader: Reader) -> None:
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await reader.readuntil(b"never")
        self.eof.set()


def ok(body: bytes = b"hello", extra: str = "", status: str = "200 OK") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def keep_alive_loop(srv: Server, reader: Reader, writer: Writer, response: bytes) -> None:
    while (req := await srv.read_request(reader)) is not None:
        writer.write(response or ok(req[2] or b"hello"))


def keep_alive(response: bytes = b"") -> Handler:
    """Serve every request on the connection with ``response`` (default: ok(request body))."""

    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await keep_alive_loop(srv, reader, writer, response)

    return handler


def serve(handler: Handler) -> Server:
    return Server(handler)


async def until(condition: Callable[[], object]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


@pytest.fixture
async def client() -> AsyncIterator[AsyncHTTPClient]:
    c = AsyncHTTPClient(connect_timeout=1.0)
    yield c
    await c.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


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


async def test_pool_cap_waits_and_cancelled_waiter_does_not_poison() -> None:
    client = AsyncHTTPClient(max_connections_per_host=1)
    release = asyncio.Event()

    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        while (req := await srv.read_request(reader)) is not None:
            if req[2] == b"slow":
                await release.wait()
            writer.write(ok(req[2]))

    async with serve(handler) as srv:
        slow = asyncio.create_task(client.request("POST", srv.url, body=b"slow"))
        await asyncio.sleep(0.02)
        waiting = asyncio.create_task(client.request("POST", srv.url, body=b"w"))
        cancelled = asyncio.create_task(client.request("POST", srv.url, body=b"c"))
        with pytest.raises(ConnectTimeout, match="free connection"):
            await client.request("POST", srv.url, body=b"t", timeout=0.05)
        cancelled.cancel()
        await asyncio.sleep(0.02)
        assert not waiting.done()  # waits for the single connection
        release.set()
        assert await (await slow).read() == b"slow"
        assert await (await waiting).read() == b"w"
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        r = await client.request("POST", srv.url, body=b"after", timeout=1)
        assert await r.read() == b"after"
    assert srv.conns == 1
    assert [req[2] for req in srv.requests] == [b"slow", b"w", b"after"]
    await client.aclose()


@pytest.mark.parametrize("closes", [False, True])
async def test_waiter_cancelled_just_as_it_was_handed_a_connection(closes: bool) -> None:
    client = AsyncHTTPClient(max_connections_per_host=1)
    extra = "Connection: close\r\n" if closes else ""
    async with serve(keep_alive(ok(b"x", extra))) as srv:
        first = await client.request("GET", srv.url)
        waiting = asyncio.create_task(client.request("GET", srv.url))
        await until(lambda: any(pool.waiters for pool in client._pools.values()))
        assert await first.read() == b"x"  # hands the connection (or its slot) to `waiting`
        waiting.cancel()  # ... which is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiting
        r = await client.request("GET", srv.url, timeout=0.5)  # neither leaked
        assert await r.read() == b"x"
    assert srv.conns == (2 if closes else 1)
    await client.aclose()


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


async def test_idle_timeout_and_aclose_close_connections() -> None:
    client = AsyncHTTPClient(idle_timeout=0.05)

    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await keep_alive_loop(srv, reader, writer, b"")

    async with serve(handler) as srv:
        await (await client.request("GET", srv.url)).read()
        await asyncio.wait_for(srv.eof.wait(), 1)  # swept after idle_timeout
        srv.eof.clear()
        client2 = AsyncHTTPClient()
        await (await client2.request("GET", srv.url)).read()
        await client2.aclose()
        await asyncio.wait_for(srv.eof.wait(), 1)
        with pytest.raises(ConnectError, match="closed"):
            await client2.request("GET", srv.url)
    await client.aclose()


async def test_expired_idle_connection_is_not_reused() -> None:
    client = AsyncHTTPClient(idle_timeout=0.05)
    async with serve(keep_alive()) as srv:
        await (await client.request("GET", srv.url)).read()
        time.sleep(0.1)  # block the loop: the sweep can't run before the next request
        await (await client.request("GET", srv.url)).read()
    assert srv.conns == 2
    await client.aclose()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-keyout", str(key), "-out", str(crt), "-days", "1", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, crt


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
