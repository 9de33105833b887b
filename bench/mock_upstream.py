"""A cheap OpenAI-compatible upstream for load tests: raw asyncio (+ uvloop), hand-parsed HTTP.

``POST /v1/chat/completions`` answers a fixed, realistic ``chat.completion`` (with
``usage``) that echoes the requested ``model``. With ``"stream": true`` it answers
``--chunks`` content chunks, a finish chunk, a usage chunk when
``stream_options.include_usage`` is true, then ``data: [DONE]``, as a chunked
``text/event-stream`` like the real APIs send it. ``POST /v1/embeddings`` answers one
vector of ``EMBEDDING_DIMS`` values (floats, or base64 with ``"encoding_format":
"base64"``, as the openai SDK asks by default) and ``POST /v1/completions`` a legacy text
completion, both with ``usage``.

``--chunk-interval-ms 0`` (the default) writes a whole stream in one write, so the proxy under
test reads it in as few pieces as the kernel allows; ``--chunk-interval-ms N`` writes one frame
every N ms, so every frame reaches the proxy on its own (the per-chunk relay cost).

Everything a response needs is rendered once per model name and cached, so the mock spends a
few microseconds per request and leaves the CPU to whatever it is testing. ``GET /health``
answers 200. With ``--port 0`` the chosen port is printed as ``LISTENING <port>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any, cast

try:
    import orjson

    def _loads(raw: bytes) -> Any:
        return orjson.loads(raw)

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - the project venv has orjson
    import json

    def _loads(raw: bytes) -> Any:
        return json.loads(raw)

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


CREATED = 1_735_689_600
COMPLETION_ID = "chatcmpl-BENCHbenchBENCHbenchBENCHbench01"
FINGERPRINT = "fp_bench0001"
ANSWER = (
    "Sure. A load balancer spreads incoming requests across several servers so that no single "
    "one is overwhelmed; it also takes unhealthy servers out of rotation and can terminate TLS."
)
PROMPT_TOKENS = 42
EMBEDDING_DIMS = 2560  # Qwen3-Embedding-4B's, the catalog's embedding model
COMPLETION_TOKENS = 38

_WORDS = (
    "Sure", ".", " A", " load", " balancer", " spreads", " incoming", " requests", " across",
    " several", " servers", " so", " that", " no", " single", " one", " is", " overwhelmed",
    ";", " it",
)  # fmt: skip


def usage(completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion_tokens,
        "total_tokens": PROMPT_TOKENS + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion(model: str) -> bytes:
    return _dumps(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": ANSWER,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage(COMPLETION_TOKENS),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
    )


def chunk(model: str, delta: dict[str, Any], finish: str | None, with_usage: bool) -> bytes:
    frame: dict[str, Any] = {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if with_usage:
        frame["usage"] = None  # what OpenAI sends in every chunk when usage was asked for
    return b"data: " + _dumps(frame) + b"\n\n"


def stream_frames(model: str, chunks: int, with_usage: bool) -> list[bytes]:
    frames = []
    for i in range(chunks):
        word = _WORDS[i % len(_WORDS)]
        delta = {"role": "assistant", "content": word, "refusal": None} if i == 0 else {}
        delta["content"] = word
        frames.append(chunk(model, delta, None, with_usage))
    frames.append(chunk(model, {}, "stop", with_usage))
    if with_usage:
        last = {
            "id": COMPLETION_ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": usage(chunks),
        }
        frames.append(b"data: " + _dumps(last) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return [b"%x\r\n%s\r\n" % (len(f), f) for f in frames]  # HTTP/1.1 chunked framing


def text_completion(model: str) -> bytes:
    return _dumps(
        {
            "id": "cmpl-BENCHbenchBENCHbench01",
            "object": "text_completion",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "text": ANSWER, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage(COMPLETION_TOKENS),
        }
    )


def embedding(model: str, base64_form: bool) -> bytes:
    import base64
    import struct

    values = [((i * 7919) % 1000) / 1000.0 - 0.5 for i in range(EMBEDDING_DIMS)]
    vector: Any = values
    if base64_form:
        vector = base64.b64encode(struct.pack(f"<{EMBEDDING_DIMS}f", *values)).decode()
    return _dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": vector}],
            "model": model,
            "usage": {"prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS},
        }
    )


JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n%s\r\n"
)
CHUNKED_END = b"0\r\n\r\n"


def plain_response(status: int, body: bytes, close: bool) -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 411: b"Length Required"}
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
    return head % (status, reason.get(status, b"Error"), len(body), _conn(close)) + body


def _conn(close: bool) -> bytes:
    return b"connection: close\r\n" if close else b""


class Responses:
    """Rendered responses per (model, stream, usage); a handful of entries at most."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self._plain: dict[tuple[str, bool], bytes] = {}
        self._vectors: dict[tuple[str, bool | None, bool], bytes] = {}
        self._streams: dict[tuple[str, bool], tuple[bytes, list[bytes]]] = {}

    def plain(self, model: str, close: bool) -> bytes:
        key = (model, close)
        out = self._plain.get(key)
        if out is None:
            body = completion(model)
            out = JSON_HEAD % (len(body), _conn(close)) + body
            if len(self._plain) < 64:
                self._plain[key] = out
        return out

    def embedding(self, model: str, base64_form: bool | None, close: bool) -> bytes:
        """An embedding answer; ``base64_form`` None: a legacy text completion instead."""
        key = (model, base64_form, close)
        out = self._vectors.get(key)
        if out is None:
            body = text_completion(model) if base64_form is None else embedding(model, base64_form)
            out = JSON_HEAD % (len(body), _conn(close)) + body
            if len(self._vectors) < 64:
                self._vectors[key] = out
        return out

    def stream(self, model: str, with_usage: bool) -> tuple[bytes, list[bytes]]:
        key = (model, with_usage)
        out = self._streams.get(key)
        if out is None:
            out = (SSE_HEAD % b"", stream_frames(model, self.chunks, with_usage))
            if len(self._streams) < 64:
                self._streams[key] = out
        return out


class MockProtocol(asyncio.Protocol):
    """One connection: parse requests off the buffer, answer them in order."""

    def __init__(self, responses: Responses, interval: float) -> None:
        self.responses = responses
        self.interval = interval
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.streaming = False  # a paced stream is being written; later requests wait
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf = self.buf + data if self.buf else data
        if not self.streaming:
            self.process()

    def process(self) -> None:
        buf = self.buf
        while buf and not self.streaming and self.transport is not None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop > 0 else len(head)])
            elif b"\r\ntransfer-encoding:" in head:
                self.buf = b""
                self.reply(plain_response(411, b'{"error":"send content-length"}', True), True)
                return
            total = end + 4 + length
            if len(buf) < total:
                break
            body = buf[end + 4 : total]
            buf = buf[total:]
            self.buf = buf
            self.handle(head, body)
            buf = self.buf
        self.buf = buf

    def handle(self, head: bytes, body: bytes) -> None:
        close = b"\r\nconnection: close" in head
        line = head[: head.find(b"\r\n")]
        if line.startswith(b"post "):
            try:
                req = _loads(body)
                model = str(req.get("model") or "mock-model")
            except (ValueError, AttributeError):
                self.reply(plain_response(400, b'{"error":"bad json"}', close), close)
                return
        if line.startswith(b"post /v1/chat/completions ") or line.startswith(
            b"post /chat/completions "
        ):
            if req.get("stream"):
                options = req.get("stream_options") or {}
                self.stream(model, bool(options.get("include_usage")), close)
            else:
                self.reply(self.responses.plain(model, close), close)
        elif line.startswith(b"post /v1/completions "):
            self.reply(self.responses.embedding(model, None, close), close)
        elif line.startswith(b"post /v1/embeddings "):
            packed = req.get("encoding_format") == "base64"
            self.reply(self.responses.embedding(model, packed, close), close)
        elif line.startswith(b"get /health") or line.startswith(b"get /v1/models"):
            self.reply(plain_response(200, b'{"status":"ok"}', close), close)
        else:
            self.reply(plain_response(404, b'{"error":"not found"}', close), close)

    def reply(self, data: bytes, close: bool) -> None:
        transport = self.transport
        if transport is None:
            return
        transport.write(data)
        if close:
            transport.close()
            self.transport = None

    def stream(self, model: str, with_usage: bool, close: bool) -> None:
        head, frames = self.responses.stream(model, with_usage)
        if self.interval <= 0:
            self.reply(head + b"".join(frames) + CHUNKED_END, close)
            return
        assert self.transport is not None
        self.transport.write(head)
        self.streaming = True
        loop = asyncio.get_running_loop()
        loop.call_later(self.interval, self.paced, loop, frames, 0, close)

    def paced(
        self, loop: asyncio.AbstractEventLoop, frames: list[bytes], i: int, close: bool
    ) -> None:
        transport = self.transport
        if transport is None:
            self.streaming = False
            return
        if i < len(frames) - 1:
            transport.write(frames[i])
            loop.call_later(self.interval, self.paced, loop, frames, i + 1, close)
            return
        self.streaming = False
        self.reply(frames[i] + CHUNKED_END, close)
        if self.buf:
            self.process()


async def serve(host: str, port: int, chunks: int, interval_ms: float) -> None:
    loop = asyncio.get_running_loop()
    responses = Responses(chunks)
    server = await loop.create_server(
        lambda: MockProtocol(responses, interval_ms / 1000.0),
        host,
        port,
        backlog=4096,
        reuse_address=True,
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"LISTENING {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    p.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    p.add_argument(
        "--chunk-interval-ms",
        type=float,
        default=0.0,
        help="0: a stream goes out in one write; N: one frame every N ms",
    )
    args = p.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve(args.host, args.port, args.chunks, args.chunk_interval_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
