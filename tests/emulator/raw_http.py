"""Plain `http.client` requests and SSE splitting, for what the openai SDK hides."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import Any

import orjson

from tokenway.emulator import Emulator

KEY = "sk-emulator-test"
MODEL = "meta-llama/llama-3.1-8b-instruct/fp-16"
HELLO = [{"role": "user", "content": "Hello there!"}]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def raw_request(
    emulator: Emulator,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = KEY,
    headers: dict[str, str] | None = None,
) -> RawResponse:
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    payload = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
    if payload is not None:
        sent["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        data = response.read()
        received = {name.lower(): value for name, value in response.getheaders()}
        return RawResponse(response.status, received, data)
    finally:
        connection.close()


def chat(emulator: Emulator, **fields: Any) -> RawResponse:
    body = {"model": MODEL, "messages": HELLO, **fields}
    return raw_request(emulator, "POST", "/v1/chat/completions", body)


def sse_events(body: bytes) -> list[bytes]:
    """Each `\\n\\n`-terminated event; asserts nothing trails the last one."""
    assert body.endswith(b"\n\n"), body[-80:]
    return [event + b"\n\n" for event in body[:-2].split(b"\n\n")]


def sse_chunks(body: bytes) -> list[dict[str, Any]]:
    """The JSON chunks of a complete stream, `[DONE]` checked and dropped."""
    events = sse_events(body)
    assert events[-1] == b"data: [DONE]\n\n"
    assert all(event.startswith(b"data: ") for event in events)
    return [orjson.loads(event[len(b"data: ") :]) for event in events[:-1]]
