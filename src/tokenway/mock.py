"""``mock_response`` / ``mock_tool_calls`` / ``mock_timeout``: a chat call answered without
the network, for tests (LiteLLM's parameters, same meanings).

The call is prepared as any other (provider, parameters, context window: the same errors),
then, instead of the upstream, a fake HTTP response in the provider's own wire format
answers it, so parsing, streaming, usage, cost and retries are the real ones. No key is
needed and nothing is sent.

* ``mock_response="text"``: a normal answer with that content; usage counted with
  ``token_counter`` (prompt) and the offline estimate (completion), cost from the catalog.
* ``mock_response=<exception>``: a ``TokenwayError`` is raised as is; another exception
  becomes the error of its ``status_code`` (500 if it has none), as LiteLLM's
  ``MockException``; the strings ``"litellm.RateLimitError"``,
  ``"litellm.InternalServerError"`` and ``"litellm.ContextWindowExceededError"`` (or
  ``tokenway.``) raise those errors.
* ``mock_tool_calls=[{...}]``: the answer's ``message.tool_calls`` (finish reason
  ``tool_calls``).
* ``mock_timeout=True``: waits out ``timeout`` (the call's) and raises ``Timeout``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tokenway.errors import (
    ContextWindowExceededError,
    InternalServerError,
    RateLimitError,
    TokenwayError,
    UnsupportedParamsError,
    error_for_status,
)
from tokenway.tokens import text_likely

__all__ = ["MOCK_PARAMS", "AsyncMockResponse", "Mock", "MockResponse", "mock_of"]

MOCK_PARAMS = frozenset({"mock_response", "mock_tool_calls", "mock_timeout"})

_NAMED_ERRORS: dict[str, type[TokenwayError]] = {
    "RateLimitError": RateLimitError,
    "InternalServerError": InternalServerError,
    "ContextWindowExceededError": ContextWindowExceededError,
}


@dataclass(frozen=True, slots=True)
class Mock:
    """What a mocked call answers: a body (JSON or SSE), an error, or a timeout."""

    body: bytes = b""
    stream: bool = False
    error: BaseException | None = None
    timeout: bool = False

    def response(self) -> MockResponse:
        """The fake HTTP response; raises the mock's error instead, if it has one."""
        if self.error is not None:
            raise self.error
        return MockResponse(self.body)

    async def aresponse(self) -> AsyncMockResponse:
        if self.error is not None:
            raise self.error
        return AsyncMockResponse(self.body)


def mock_of(params: Mapping[str, Any], model: str, prompt_tokens: int, stream: bool) -> Mock | None:
    """The mock a call's parameters ask for, or ``None`` for a real call."""
    if not any(params.get(name) is not None for name in MOCK_PARAMS):
        return None
    if params.get("mock_timeout") is True:
        return Mock(timeout=True)
    reply = params.get("mock_response")
    if isinstance(reply, BaseException):
        return Mock(error=_as_error(reply, model))
    if isinstance(reply, str):
        named = _named_error(reply, model)
        if named is not None:
            return Mock(error=named)
    elif reply is not None:
        raise UnsupportedParamsError(
            "mock_response must be a string or an exception", param="mock_response"
        )
    content = reply
    if reply is None and not params.get("mock_tool_calls"):
        content = "This is a mock request"  # LiteLLM's default text
    return _answer(params, model, content, prompt_tokens, stream)


def _as_error(error: BaseException, model: str) -> BaseException:
    if isinstance(error, TokenwayError) or not isinstance(error, Exception):
        return error
    status = getattr(error, "status_code", 500)
    message = str(getattr(error, "text", None) or error)
    code = status if isinstance(status, int) and 400 <= status <= 599 else 500
    return error_for_status(code)(message, status_code=code, model=model, llm_provider="mock")


def _named_error(reply: str, model: str) -> TokenwayError | None:
    for prefix in ("litellm.", "tokenway."):
        if reply.startswith(prefix):
            cls = _NAMED_ERRORS.get(reply[len(prefix) :])
            if cls is not None:
                return cls(f"this is a mock {cls.__name__}", model=model, llm_provider="mock")
    return None


def _answer(
    params: Mapping[str, Any], model: str, content: str | None, prompt_tokens: int, stream: bool
) -> Mock:
    tool_calls = [
        {"type": "function", **call, "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}"}
        for call in params.get("mock_tool_calls") or ()
    ]
    n = int(params.get("n") or 1)
    completion_tokens = n * (text_likely(content or "") + text_likely(json.dumps(tool_calls)))
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    head = {"id": f"chatcmpl-mock-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}
    finish = "tool_calls" if tool_calls else "stop"
    if not stream:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        choices = [{"index": i, "message": message, "finish_reason": finish} for i in range(n)]
        body = {**head, "object": "chat.completion", "choices": choices, "usage": usage}
        return Mock(body=json.dumps(body).encode())
    return Mock(body=_sse(head, content, tool_calls, finish, n, usage), stream=True)


def _sse(
    head: dict[str, Any],
    content: str | None,
    tool_calls: list[dict[str, Any]],
    finish: str,
    n: int,
    usage: dict[str, int],
) -> bytes:
    chunk = {**head, "object": "chat.completion.chunk"}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    for piece in _pieces(content or ""):
        deltas.append({"content": piece})
    for i, call in enumerate(tool_calls):
        deltas.append({"tool_calls": [{"index": i, **call}]})
    events = []
    for index in range(n):
        for delta in deltas:
            events.append({**chunk, "choices": [{"index": index, "delta": delta}]})
        events.append(
            {**chunk, "choices": [{"index": index, "delta": {}, "finish_reason": finish}]}
        )
    events.append({**chunk, "choices": [], "usage": usage})
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def _pieces(text: str) -> Iterator[str]:
    """The text in word-sized pieces, spaces kept, as a model streams it."""
    start = 0
    for i in range(1, len(text)):
        if text[i] == " ":
            yield text[start:i]
            start = i
    if text:
        yield text[start:]


class MockResponse:
    """What ``SyncHTTPClient.request`` returns, for a body already known."""

    status = 200

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers = {"content-type": "application/json", "x-tokenway-mock": "true"}

    def iter_bytes(self) -> Iterator[bytes]:
        yield self.body

    def close(self) -> None:
        pass

    def __enter__(self) -> MockResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class AsyncMockResponse:
    """What ``AsyncHTTPClient.request`` returns, for a body already known."""

    status = 200

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers = {"content-type": "application/json", "x-tokenway-mock": "true"}

    async def read(self) -> bytes:
        return self.body

    async def iter_bytes(self, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
        yield self.body

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> AsyncMockResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass
