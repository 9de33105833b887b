"""The OpenAI dialect: one provider class serves every OpenAI-compatible row."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from time import time
from typing import Any, Generic, TypeVar

import orjson

from tokenway.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    TokenwayError,
    error_for_status,
)
from tokenway.providers.base import CHAT_PATH, Deployment, ProviderSpec, UpstreamRequest
from tokenway.sse import SSEDecoder, SSEEvent
from tokenway.types import ChatCompletion

C = TypeVar("C")

_USER_AGENT = "tokenway/0.1"
_CONTEXT_MARKERS = ("maximum context length", "context_length_exceeded", "context window")


class OpenAICompatibleProvider:
    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def build_request(
        self, body: dict[str, object], deployment: Deployment, path: str = CHAT_PATH
    ) -> UpstreamRequest:
        headers = [
            ("content-type", "application/json"),
            ("accept", "text/event-stream" if body.get("stream") else "application/json"),
            ("user-agent", _USER_AGENT),
        ]
        if deployment.api_key:
            headers.append(("authorization", f"Bearer {deployment.api_key}"))
        headers.extend(deployment.extra_headers.items())
        url = deployment.api_base.rstrip("/") + path
        return UpstreamRequest("POST", url, headers, self.encode_body(body))

    # The proxy's byte-level fast path: OpenAI's dialect is the client's, so a body goes
    # up as JSON and an answer comes back as its JSON (the relay streams frames as bytes).
    encode_body = staticmethod(orjson.dumps)
    decode_answer = staticmethod(orjson.loads)

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ChatCompletion:
        return ChatCompletion(self.parse_json(status, headers, body, "choices"))

    def parse_json(
        self, status: int, headers: Mapping[str, str], body: bytes, required: str
    ) -> dict[str, Any]:
        if status >= 400:
            raise self.map_error(status, headers, body)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InternalServerError(
                f"{self.spec.name} answered {status} with a non-JSON body: {_snippet(body)}",
                status_code=502,
                llm_provider=self.spec.name,
            ) from None
        if not isinstance(data, dict) or required not in data:
            if isinstance(data, dict) and "error" in data:
                raise self.map_error(500, headers, body)
            raise InternalServerError(
                f"{self.spec.name} answered without '{required}': {_snippet(body)}",
                status_code=502,
                llm_provider=self.spec.name,
            )
        return data

    def stream_decoder(self, chunk: Callable[[dict[str, Any]], C]) -> OpenAIStreamDecoder[C]:
        return OpenAIStreamDecoder(self, chunk)

    def map_error(self, status: int, headers: Mapping[str, str], body: bytes) -> TokenwayError:
        message, err_type, param, code = parse_error_body(body)
        if not message:
            message = f"{self.spec.name} answered HTTP {status}" + (
                " with an empty body" if not body else ""
            )
        cls = error_for_status(status)
        lowered = f"{message} {code} {err_type}".lower()
        if issubclass(cls, BadRequestError) and any(m in lowered for m in _CONTEXT_MARKERS):
            cls = ContextWindowExceededError
        if cls is AuthenticationError and self.spec.api_key_env:
            message += f" (check {self.spec.api_key_env} or the api_key you passed)"
        return cls(
            message,
            status_code=status,
            param=param,
            code=None if code is None else str(code),
            llm_provider=self.spec.name,
            retry_after=parse_retry_after(headers),
            body=body[:2048],
        )


class OpenAIStreamDecoder(Generic[C]):
    """SSE bytes → chunks; error frames and streams cut before ``[DONE]`` raise.

    The chunk type is the endpoint's (chat or text completion); the framing is the same.
    """

    __slots__ = ("_done", "_make", "_pending", "_provider", "_sse")

    def __init__(
        self, provider: OpenAICompatibleProvider, make: Callable[[dict[str, Any]], C]
    ) -> None:
        self._provider = provider
        self._make = make
        self._sse = SSEDecoder()
        self._done = False
        self._pending: TokenwayError | None = None  # an error read after good chunks

    def feed(self, data: bytes) -> list[C]:
        return self._decode(self._sse.feed(data))

    def close(self) -> list[C]:
        chunks = self._decode(self._sse.flush())
        if chunks:
            return chunks  # the caller gets these first; the next close() raises
        if not self._done:
            raise APIConnectionError(
                f"{self._provider.spec.name} stream ended before [DONE]: the answer is incomplete",
                llm_provider=self._provider.spec.name,
            )
        return chunks

    @property
    def done(self) -> bool:
        return self._done

    def _decode(self, events: list[SSEEvent]) -> list[C]:
        """Chunks of ``events``; an error frame after good chunks is raised on the next call."""
        if self._pending is not None:
            raise self._pending
        chunks: list[C] = []
        for event in events:
            try:
                chunk = self._chunk(event)
            except TokenwayError as error:
                if not chunks:
                    raise
                self._pending = error
                break
            if chunk is not None:
                chunks.append(chunk)
        return chunks

    def _chunk(self, event: SSEEvent) -> C | None:
        if self._done:
            return None
        if event.data == b"[DONE]":
            self._done = True
            return None
        if event.event == "error":
            raise self._stream_error(event.data)
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise self._stream_error(event.data) from None
        if not isinstance(data, dict):
            raise self._stream_error(event.data)
        if data.get("error"):
            raise self._stream_error(event.data)
        return self._make(data)

    def _stream_error(self, payload: bytes) -> TokenwayError:
        message, _type, param, code = parse_error_body(payload)
        status = code if isinstance(code, int) and code >= 400 else 500
        error = self._provider.map_error(status, {}, payload)
        error.message = f"error inside the stream: {message or _snippet(payload)}"
        error.param = param
        return error


def parse_error_body(body: bytes) -> tuple[str, str | None, str | None, Any]:
    """(message, type, param, code) from any error body an OpenAI-style server sends."""
    if not body.strip():
        return "", None, None, None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"non-JSON error body: {_snippet(body)}", None, None, None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data = data["error"]
    if isinstance(data, dict):
        message = data.get("message") or data.get("error") or data.get("detail") or ""
        if not isinstance(message, str):
            message = orjson.dumps(message).decode()
        param = data.get("param")
        return (
            message,
            data.get("type"),
            param if isinstance(param, str) else None,
            data.get("code"),
        )
    return str(data), None, None, None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # rare: only for an HTTP-date retry-after

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", "replace").strip()
    return text + ("…" if len(body) > limit else "")
