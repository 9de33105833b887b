"""A loopback upstream that answers with the exact bytes a test scripts, and a proxy in
front of it: for the answers the bundled emulator is too faithful to give (bad usage,
keys in error text, an upstream that never answers).

A script is ``async def script(conn: UpstreamConn) -> None``: it reads the request and
writes whatever it likes; ``RawUpstream.closed`` is set when the proxy closes a connection
the upstream was still holding open (the proxy gave up on the call).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from tests.proxy.conftest import MASTER_KEY, RunningProxy, running_proxy

from tokenway.proxy.config import parse_config

ALIAS = "llama-3.1-8b-instruct"
UPSTREAM_MODEL = "meta-llama/llama-3.1-8b-instruct/fp-16"
# The shape of a real provider key, so the generic patterns alone would not catch it.
UPSTREAM_KEY = "inf-3f9c2a7e5b1d4c8a9e0f7a6b"
MESSAGES = [{"role": "user", "content": "Say hello to the whole wide world, please."}]
T = 5.0  # bound on any single wait in these tests


@dataclass
class UpstreamConn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    body: bytes = b""

    async def read_request(self) -> bytes:
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.body = await self.reader.readexactly(length)
        return self.body

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def wait_closed_by_peer(self) -> None:
        """Until the proxy closes this connection (EOF or reset)."""
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass


Script = Callable[[UpstreamConn], Awaitable[None]]


@dataclass
class RawUpstream:
    script: Script
    port: int = 0
    bodies: list[bytes] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = UpstreamConn(reader, writer)
        try:
            while True:
                body = await conn.read_request()
                self.bodies.append(body)
                self.received.set()
                await self.script(conn)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the proxy closed the connection
        except asyncio.CancelledError:
            pass  # the test is over (asyncio's server would log a cancelled handler)
        finally:
            self.closed.set()
            writer.close()


@contextlib.contextmanager
def raw_upstream(script: Script) -> Iterator[RawUpstream]:
    """Serve ``script`` on a loopback port, on a loop of its own in a thread."""
    upstream = RawUpstream(script)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> asyncio.Server:
        server = await asyncio.start_server(upstream._serve, "127.0.0.1", 0)
        upstream.port = server.sockets[0].getsockname()[1]
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(T)
    try:
        yield upstream
    finally:

        async def stop() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(T)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(T)
        loop.close()


@contextlib.contextmanager
def proxy_for(upstream: RawUpstream, deployments: int = 1, **params: Any) -> Iterator[RunningProxy]:
    """A proxy (master key ``sk-test-master-key``, no retries) whose one model is
    ``upstream`` (as ``deployments`` deployments); ``params`` are more ``litellm_params``."""
    entry = {
        "model_name": ALIAS,
        "litellm_params": {
            "model": f"inference/{UPSTREAM_MODEL}",
            "api_base": upstream.base_url,
            "api_key": UPSTREAM_KEY,
            **params,
        },
    }
    config = parse_config(
        {
            "model_list": [entry] * deployments,
            "general_settings": {"master_key": MASTER_KEY},
            "litellm_settings": {"num_retries": 0},
        },
        env={},
    )
    with running_proxy(config) as proxy:
        yield proxy


def http_response(status: int, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 %d X\r\ncontent-type: %b\r\ncontent-length: %d\r\n\r\n%b" % (
        status,
        content_type,
        len(body),
        body,
    )


def answer(content: str, usage: Any = None, *, with_usage: bool = True) -> bytes:
    """A plain chat answer; ``usage`` as given (any JSON value) unless ``with_usage`` is off."""
    data: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": UPSTREAM_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    if with_usage:
        data["usage"] = usage
    return json.dumps(data).encode()  # json, not orjson: it writes integers of any size


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    """One piece of a chunked body (``b""`` ends it)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def frame(delta: dict[str, Any] | None = None, **extra: Any) -> bytes:
    """An SSE frame of a chat chunk with one choice's ``delta`` (none: no choices)."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": None}]
    data = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": UPSTREAM_MODEL}
    return b"data: " + orjson.dumps({**data, "choices": choices, **extra}) + b"\n\n"


ROLE = frame({"role": "assistant", "content": ""})
DONE = b"data: [DONE]\n\n"


def rows_for(proxy: RunningProxy, request_id: str | None) -> list[Any]:
    """The spend rows this process wrote for ``request_id`` (the x-request-id it answered)."""
    return [row for row in proxy.app.spend.recent if row.request_id == request_id]
