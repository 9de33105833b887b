"""AsyncHTTPClient's pool over loopback sockets: its cap, waiters and idle connections."""

from __future__ import annotations

import asyncio
import time

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

from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import ConnectError, ConnectTimeout


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
