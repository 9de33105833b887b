"""Relaying an upstream SSE stream to the client, frame by frame.

Frames are forwarded as bytes; only a frame that can carry usage or an error is
decoded. The relay holds the response until the first content frame, so a failure
before it can still be answered as an ordinary HTTP error; after that, a failure ends
the stream with an explicit error frame, never with a clean end that looks like success.

``on_end(usage, error_code)`` runs once, as soon as the outcome is known and before the
frame that ends the stream is handed on (``[DONE]`` or the error frame), so the spend row
is journaled before the client can have the whole answer. A client that leaves early is
reported as ``client_disconnected``; a stream that fails before its first content is not
reported at all (the router may still answer from another deployment).

The upstream is read defensively: a frame that should be JSON and is not fails the stream
(before content, a 502 the router may retry; after, the error frame), and so does any
unexpected error in the relay after content began. A usage object with counts that
cannot be trusted (``tokenway.proxy.usage``) is relayed but not charged: the row gets the
estimate of what was delivered.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson

from tokenway.errors import APIConnectionError, Timeout, TokenwayError
from tokenway.http.aclient import AsyncResponse
from tokenway.http.errors import HTTPError, ReadTimeout
from tokenway.proxy.errors import bad_answer, envelope, upstream_failure
from tokenway.proxy.models import Route
from tokenway.proxy.usage import counted
from tokenway.sse import SSEDecoder

log = logging.getLogger("tokenway.proxy")

_DONE = b"data: [DONE]\n\n"


class StreamRelay:
    def __init__(
        self,
        route: Route,
        response: AsyncResponse,
        wants_usage: bool,
        on_end: Callable[[Mapping[str, Any] | None, str | None], None],
    ) -> None:
        self._route = route
        self._response = response
        self._pieces = response.iter_bytes(route.stream_idle_timeout)
        self._wants_usage = wants_usage
        self._on_end = on_end
        self._sse = SSEDecoder()
        self._usage: Mapping[str, Any] | None = None
        self._done = False
        self._ended = False
        self._reported = False
        self._content_frames = 0  # forwarded frames since content began: ~1 token each
        self._started = False  # a frame with content (not just the role) has been read
        self._pending_error: TokenwayError | None = None

    async def prime(self) -> bytes:
        """Read until the first content; raise ``TokenwayError`` if the upstream fails first."""
        held = []
        try:
            while not (self._started or self._done):
                held.append(await self._next_frames())
        except TokenwayError:
            await self._close(report=False)
            raise
        except Exception as exc:  # a bug or a surprise upstream: a failed attempt, not a 500
            await self._close(report=False)
            raise self._unexpected(exc) from None
        except BaseException:
            await self._close(report=False)
            raise
        return b"".join(held)

    async def stream(self, first: bytes) -> AsyncIterator[bytes]:
        """The response body: ``frames`` already started, so that closing it, even before
        the server sends a byte (a client gone early), closes the upstream and reports."""
        frames = self.frames(first)
        await anext(frames)
        return frames

    async def frames(self, first: bytes) -> AsyncIterator[bytes]:
        """The client's frames, after a first ``b""`` (nothing to send) that ``stream``
        takes to enter the ``try``."""
        try:
            yield b""
            yield first
            while not self._done:
                try:
                    frames = await self._next_frames()
                except TokenwayError as error:
                    yield self._fail(error)
                    return
                except Exception as exc:  # whatever it is, the client is told
                    yield self._fail(self._unexpected(exc))
                    return
                if frames:
                    yield frames
        finally:
            await self._close()

    async def _next_frames(self) -> bytes:
        if self._pending_error is not None:
            raise self._pending_error
        try:
            piece = await anext(self._pieces, None)
        except ReadTimeout:
            raise Timeout(f"the upstream for model '{self._route.alias}' stalled") from None
        except HTTPError as exc:
            log.warning("upstream stream for %s broke: %s", self._route.alias, exc)
            raise APIConnectionError(
                f"the upstream stream for model '{self._route.alias}' broke off",
                code="stream_incomplete",
            ) from None
        if piece is None:
            if not self._done:
                raise APIConnectionError(
                    f"the upstream stream for model '{self._route.alias}' ended unfinished",
                    code="stream_incomplete",
                )
            return b""
        return self._relay(piece)

    def _relay(self, piece: bytes) -> bytes:
        fields, alias = self._route.model_fields, self._route.alias_field
        if self._started and self._sse.idle and piece.endswith(b"\n\n") and _plain(piece):
            # Whole frames with nothing to decode: forward them as they are, alias swapped.
            self._content_frames += piece.count(b"\n\n")
            return piece.replace(fields[0], alias).replace(fields[1], alias)
        out = []
        for event in self._sse.feed(piece):
            data = event.data
            if data == b"[DONE]":
                self._done = True
                self._report(None)
                out.append(_DONE)
                break
            if event.event == "error" or data.startswith(b'{"error"'):
                error = upstream_failure(self._route, 500, {}, data)
                if not self._started:
                    raise error
                self._pending_error = error  # after the frames already read
                break
            if not self._started:
                self._started = _has_content(data)
            counts = self._started  # as a delivered token, if cut short
            if data.find(b'"usage":{') != -1 or data.find(b'"usage": {') != -1:
                choices = self._take_usage(data)
                if not (choices or self._wants_usage):
                    continue  # the usage frame asked for the spend row alone
                counts = counts and choices
            if counts:
                self._content_frames += 1
            out.append(
                b"data: " + data.replace(fields[0], alias).replace(fields[1], alias) + b"\n\n"
            )
        return b"".join(out)

    def _take_usage(self, data: bytes) -> bool:
        """Record usage from this frame; return whether it has choices (else it is usage
        alone, which the client gets only if it asked for usage)."""
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise bad_answer(self._route, "a stream frame that is not JSON") from None
        if type(chunk) is not dict:
            raise bad_answer(self._route, "a stream frame that is not a JSON object")
        usage = chunk.get("usage")
        if counted(usage) >= 0:
            self._usage = usage
        return bool(chunk.get("choices"))

    def _unexpected(self, exc: Exception) -> TokenwayError:
        log.error("relaying the stream for %s failed", self._route.alias, exc_info=exc)
        return APIConnectionError(
            f"the stream for model '{self._route.alias}' failed", code="stream_error"
        )

    def _fail(self, error: TokenwayError) -> bytes:
        """After content began: the row says why, the client gets the error frame (no
        ``[DONE]`` after it: a stream that ends without one is not complete)."""
        self._report(error.code or "stream_error")
        log.warning(
            "stream for %s failed after content began: %s", self._route.alias, error.message
        )
        return b"data: " + envelope(error.message, error.error_type, None, error.code) + b"\n\n"

    def _report(self, error_code: str | None) -> None:
        """The outcome, once. A stream cut before its usage frame is charged for what was
        delivered: one completion token per content frame, marked ``estimated``."""
        if not self._reported:
            self._reported = True
            usage = self._usage
            if usage is None and self._content_frames:
                usage = {"completion_tokens": self._content_frames, "estimated": True}
            self._on_end(usage, error_code)

    async def _close(self, report: bool = True) -> None:
        if self._ended:
            return
        self._ended = True
        if report:
            self._report(None if self._done else "client_disconnected")
        await self._response.aclose()


def _has_content(frame: bytes) -> bool:
    """More than the opening role delta: text, a tool call, or a finish."""
    role_only = frame.find(b'"content":""') != -1 or frame.find(b'"content":null') != -1
    return (
        not role_only or frame.find(b'"tool_calls"') != -1 or frame.find(b'"finish_reason":"') != -1
    )


def _plain(piece: bytes) -> bool:
    """Frames that cannot carry usage, an error or the end: no need to decode them.

    ``find`` rather than ``in``: on CPython 3.11 ``bytes in bytes`` first tries the
    argument as an int and pays for a raised and cleared TypeError.
    """
    return (
        piece.find(b"\r") == -1
        and piece.find(b"error") == -1
        and piece.find(b"[DONE]") == -1
        and piece.find(b'"usage":{') == -1
        and piece.find(b'"usage": {') == -1
    )
