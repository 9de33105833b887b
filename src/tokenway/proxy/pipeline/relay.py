"""Relaying an upstream SSE stream to the client, frame by frame.

Frames are parsed, not matched as compact JSON: servers space their JSON, open with a
role delta that has no ``content``, send ``: ping`` comments (llama.cpp does all three).
Every frame before the first content is decoded, and so is any later frame that might
carry usage, an error or the end (``_plain`` errs towards decoding); other whole frames
are forwarded as bytes, the alias swapped in. The relay holds the response until the
first real content (text, a tool call, or a finish), so a failure before it can still
be answered as an ordinary HTTP error; after that, a failure ends the stream with an
explicit error frame, never with a clean end that looks like success.

A stream cut after its 200 but before any content is ``stream_cut_before_content``: the
router retries it once at most and does not hold it against the deployment (an upstream
that drops a prompt too long for it does that; another try rarely helps). An error
frame about the context window is the client's 400, as the same error answered plainly.

Without the upstream's usage (llama.cpp ignores ``stream_options``; a stream cut short)
the stream is charged an estimate, marked ``estimated``: the request's likely prompt
(``tokens.prompt_likely``) and the text delivered (``tokens.text_likely`` of the
content, refusal, reasoning and tool-call deltas, kept as their JSON string bodies). A
client that asked for ``include_usage`` gets that estimate as the usage chunk.

``on_end(usage, error_code)`` runs once, as soon as the outcome is known and before the
frame that ends the stream is handed on (``[DONE]`` or the error frame), so the spend row
is journaled before the client can have the whole answer. A client that leaves early is
reported as ``client_disconnected``; a stream that fails before its first content is not
reported at all (the router may still answer from another deployment).

The upstream is read defensively: a frame that should be JSON and is not fails the stream
(before content, a 502 the router may retry; after, the error frame), and so does any
unexpected error in the relay after content began. A usage object with counts that
cannot be trusted (``tokenway.proxy.usage``) is relayed but not charged: the row gets the
estimate.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import orjson

from tokenway.errors import (
    APIConnectionError,
    ContextWindowExceededError,
    Timeout,
    TokenwayError,
)
from tokenway.http.errors import HTTPError, ReadTimeout
from tokenway.proxy.errors import bad_answer, envelope, upstream_failure
from tokenway.proxy.models import Route
from tokenway.proxy.usage import Usage, read_usage
from tokenway.router.cooldown import CUT_BEFORE_CONTENT
from tokenway.sse import SSEDecoder
from tokenway.tokens import text_likely

log = logging.getLogger("tokenway.proxy")

_DONE = b"data: [DONE]\n\n"
_MODEL_KEY = len(b'"model":')
_KEEP_BYTES = 65_536
_CONTENT_KEYS = ("content", "tool_calls", "function_call", "refusal", "reasoning_content")
# The JSON string bodies of a chunk's generated text (a stream without usage is charged
# for it): the deltas' text, the tool calls' names and arguments, a legacy completion's
# text. Spacing is free.
_TEXT = re.compile(
    rb'"(?:content|reasoning_content|refusal|name|arguments|text)"\s*:\s*"((?:[^"\\]|\\.)*)"'
)


class StreamBody(Protocol):
    """What the relay reads: an upstream response (or a mock's) as pieces of bytes."""

    def iter_bytes(self, timeout: float | None = None, /) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class StreamRelay:
    def __init__(
        self,
        route: Route,
        response: StreamBody,
        wants_usage: bool,
        on_end: Callable[[Usage, str | None], None],
        prompt: Callable[[], int],
        chunk_object: str = "chat.completion.chunk",
    ) -> None:
        self._route = route
        self._response = response
        self._pieces = response.iter_bytes(route.stream_idle_timeout)
        self._wants_usage = wants_usage
        self._on_end = on_end
        self._sse = SSEDecoder()
        self._usage: Usage | None = None  # the upstream's, if it sent a usable one
        self._object = chunk_object  # of an estimated usage chunk
        self._done = False
        self._ended = False
        self._reported = False
        self._prompt = prompt  # the request's likely prompt tokens, if the upstream never says
        # The frames delivered, kept as bytes until they add up to _KEEP_BYTES, then
        # reduced to their text (one regular expression over many frames, not one a frame).
        self._frames: list[bytes] = []
        self._frames_size = 0
        self._text: list[str] = []
        self._head: dict[str, Any] | None = None  # the first chunk (its id, for a usage chunk)
        self._started = False  # a frame with content (not just the role) has been read
        self._pending_error: TokenwayError | None = None

    def answer_id(self) -> str | None:
        """The stream's ``id`` (its first chunk's), once read."""
        found = self._head.get("id") if self._head is not None else None
        return found if type(found) is str else None

    async def prime(self) -> bytes:
        """Read until the first content; raise ``TokenwayError`` if the upstream fails first."""
        held = []
        try:
            while not (self._started or self._done):
                held.append(await self._next_frames())
        except TokenwayError as error:
            await self._close(report=False)
            if error.code == "stream_incomplete":
                raise APIConnectionError(
                    f"the upstream stream for model '{self._route.alias}' ended before any content",
                    code=CUT_BEFORE_CONTENT,
                ) from None
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
        if self._started and self._sse.idle and piece.endswith(b"\n\n") and _plain(piece):
            # Whole frames with nothing to decode: forward them as they are, alias swapped.
            self._delivered(piece)
            return self._swap(piece)
        out = []
        for event in self._sse.feed(piece):
            data = event.data
            if data == b"[DONE]":
                self._done = True
                out.append(self._finish())
                break
            if event.event == "error":
                self._error_frame(data)
                break
            if not data or (event.event is not None and event.event != "message"):
                continue  # nothing for a client of the OpenAI API
            if self._started and _plain(data):
                self._delivered(data)
                out.append(b"data: " + self._swap(data) + b"\n\n")
                continue
            chunk = self._decode(data)
            if "error" in chunk:
                self._error_frame(data)
                break
            if not self._started:
                self._started = _has_content(chunk)
                self._head = self._head or chunk
            usage = chunk.get("usage")
            if usage is not None:
                self._usage = read_usage(usage) or self._usage
                if not (chunk.get("choices") or self._wants_usage):
                    continue  # the usage frame asked for the spend row alone
            self._delivered(data)
            out.append(b"data: " + self._swap(data) + b"\n\n")
        return b"".join(out)

    def _delivered(self, frames: bytes) -> None:
        self._frames.append(frames)
        self._frames_size += len(frames)
        if self._frames_size > _KEEP_BYTES:
            self._reduce()

    def _reduce(self) -> None:
        """The text of the frames kept so far (their JSON string bodies, decoded)."""
        raw = b"".join(_TEXT.findall(b"\n".join(self._frames)))
        self._frames.clear()
        self._frames_size = 0
        try:
            self._text.append(orjson.loads(b'"' + raw + b'"'))
        except orjson.JSONDecodeError:  # a broken escape: the bytes are near enough
            self._text.append(raw.decode("utf-8", "replace"))

    def _decode(self, data: bytes) -> dict[str, Any]:
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise bad_answer(self._route, "a stream frame that is not JSON") from None
        if type(chunk) is not dict:
            raise bad_answer(self._route, "a stream frame that is not a JSON object")
        return chunk

    def _error_frame(self, data: bytes) -> None:
        """Raise the error an upstream's error frame stands for, before content; after,
        keep it for after the frames already read. A context overflow is the client's
        400 (``context_window_fallbacks`` may take it), whatever status came with it."""
        error = upstream_failure(self._route, 400, {}, data)
        if not isinstance(error, ContextWindowExceededError):
            error = upstream_failure(self._route, 500, {}, data)
        if not self._started:
            raise error
        self._pending_error = error

    def _swap(self, data: bytes) -> bytes:
        """``data`` with the alias for the upstream's model id, however the JSON is spaced."""
        route = self._route
        fields, alias = route.model_fields, route.alias_field
        data = data.replace(fields[0], alias).replace(fields[1], alias)
        quoted = fields[0][_MODEL_KEY:]
        if data.find(quoted) != -1:  # another spacing (rare): the regular expression
            data = re.sub(rb'"model"\s*:\s*' + re.escape(quoted), alias, data)
        return data

    def _finish(self) -> bytes:
        """What ends a stream: the usage the client asked for if the upstream sent none
        (estimated, and marked so), then ``[DONE]``; the row is written first."""
        usage = self._report(None)
        if usage is None or self._usage is not None or not self._wants_usage:
            return _DONE
        head = self._head or {}
        chunk: dict[str, Any] = {
            "id": head.get("id"), "object": self._object,
            "created": head.get("created"), "model": self._route.alias,
            "choices": [], "usage": usage.as_openai(),
        }  # fmt: skip
        return b"data: " + orjson.dumps(chunk) + b"\n\n" + _DONE

    def _estimate(self) -> Usage:
        """The usage of a stream the upstream did not count: the request's likely prompt
        and the text delivered so far, marked ``estimated``."""
        self._reduce()
        return Usage(self._prompt(), text_likely("".join(self._text)), estimated=True)

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

    def _report(self, error_code: str | None) -> Usage | None:
        """The outcome, once; the usage charged for it. Without the upstream's usage (a
        stream cut short, or an upstream that never counts) that is the estimate."""
        if self._reported:
            return None
        self._reported = True
        usage = self._usage or self._estimate()
        self._on_end(usage, error_code)
        return usage

    async def _close(self, report: bool = True) -> None:
        if self._ended:
            return
        self._ended = True
        if report:
            self._report(None if self._done else "client_disconnected")
        await self._response.aclose()


def _has_content(chunk: Mapping[str, Any]) -> bool:
    """More than the opening role delta: text, a tool call, or a finish."""
    choices = chunk.get("choices")
    for choice in choices if type(choices) is list else ():
        if type(choice) is not dict:
            continue
        if choice.get("finish_reason") is not None or choice.get("text"):
            return True
        delta = choice.get("delta")
        if type(delta) is dict and any(delta.get(name) for name in _CONTENT_KEYS):
            return True
    return False


def _plain(piece: bytes) -> bool:
    """Frames that cannot carry usage, an error or the end: no need to decode them. Any
    doubt decodes: a ``"usage"`` key whose value is not a plain ``null``, any ``error``.

    ``find`` rather than ``in``: on CPython 3.11 ``bytes in bytes`` first tries the
    argument as an int and pays for a raised and cleared TypeError.
    """
    return (
        piece.find(b"\r") == -1
        and piece.find(b"error") == -1
        and piece.find(b"[DONE]") == -1
        and piece.count(b'"usage"') == piece.count(b'"usage":null') + piece.count(b'"usage": null')
    )
