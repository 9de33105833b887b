"""Streamed answers: chunk iterators that account for usage and close their connection.

A ``Stream`` (sync) or ``AsyncStream`` owns one upstream response. Iterating yields
``ChatCompletionChunk`` objects as they arrive; when the caller stops early, ``close()``
(also run by ``with``/``async with`` and when the object is dropped) closes the
connection, which cancels the upstream request. ``TextCompletionStream`` and
``AsyncTextCompletionStream`` do the same for ``text_completion()``'s chunks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from tokenway.catalog import cost_of
from tokenway.errors import TokenwayError
from tokenway.http.errors import HTTPError
from tokenway.providers.base import StreamDecoder
from tokenway.request import PreparedCall, hidden_params
from tokenway.tokens import prompt_likely, text_likely
from tokenway.transport_errors import map_http_error
from tokenway.types import ChatCompletion, ChatCompletionChunk, Result, TextCompletionChunk, Usage

__all__ = [
    "AsyncStream",
    "AsyncTextCompletionStream",
    "Stream",
    "TextCompletionStream",
    "stream_chunk_builder",
    "watch_stream",
]

C = TypeVar("C", bound=Result)  # the chunk type: chat or text completion


class _StreamState(Generic[C]):
    """What sync and async streams share: buffered chunks, usage, cost, the decoder."""

    def __init__(self, call: PreparedCall, decoder: StreamDecoder[C]) -> None:
        self.call = call
        self.decoder = decoder
        self.pending: deque[C] = deque()
        self.usage: Usage | None = None
        self.cost: float | None = None
        self.finished = False
        self.seen: list[C] | None = None  # every chunk, when a callback needs the whole answer
        self.error: BaseException | None = None
        self.model_id: str | None = None  # the Router's deployment id

    def accept(self, chunks: Iterable[C]) -> None:
        for chunk in chunks:
            if self.seen is not None:
                self.seen.append(chunk)
            usage = chunk.usage
            if usage is not None:
                self.usage = usage
                chunk.cost = self.cost = cost_of(
                    self.call.info,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    self.call.input_cost_per_token,
                    self.call.output_cost_per_token,
                )
                if not self.call.caller_wants_usage and not chunk.get("choices"):
                    continue  # the usage chunk tokenway asked for, not the caller
            self.pending.append(chunk)

    def end_of_input(self) -> None:
        """The upstream closed: take the last chunks, or finish (raising if it was cut)."""
        chunks = self.decoder.close()
        if chunks:
            self.accept(chunks)  # the next end_of_input() checks for [DONE]
        else:
            self.finished = True


class _SyncStream(Generic[C]):
    """A sync iterator of chunks. ``usage`` and ``cost`` are set once the stream ends."""

    def __init__(self, state: _StreamState[C], response: Any) -> None:
        self._state = state
        self._response = response
        self._pieces: Iterator[bytes] = response.iter_bytes()
        self._closed = False
        self._on_close: list[Callable[[Usage | None], None]] = []

    def add_close_hook(self, hook: Callable[[Usage | None], None]) -> None:
        """Run ``hook(usage)`` once, when the stream ends or is closed (the router's slot)."""
        self._on_close.append(hook)

    @property
    def _hidden_params(self) -> dict[str, Any]:
        return _hidden(self._state)

    @property
    def usage(self) -> Usage | None:
        return self._state.usage

    @property
    def cost(self) -> float | None:
        return self._state.cost

    def prime(self) -> None:
        """Read until the first chunk, so failures before any content can still be retried."""
        while not self._state.pending and not self._state.finished:
            self._read_more()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> C:
        state = self._state
        while not state.pending:
            if state.finished or self._closed:
                self.close()
                raise StopIteration
            self._read_more()
        return state.pending.popleft()

    def _read_more(self) -> None:
        try:
            piece = next(self._pieces, None)
            if piece is None:
                self._state.end_of_input()
            else:
                self._state.accept(self._state.decoder.feed(piece))
        except HTTPError as exc:
            error = map_http_error(exc, self._state.call)
            self._state.error = error
            self.close()
            raise error from exc
        except TokenwayError as exc:
            self._state.error = exc
            self.close()
            raise

    def close(self) -> None:
        """Stop here: drop what is buffered and close the connection (cancels the upstream)."""
        self._state.pending.clear()
        if not self._closed:
            self._closed = True
            try:
                self._response.close()
            finally:
                _run_hooks(self._on_close, self._state.usage)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):  # __init__ may not have finished
            self.close()


class Stream(_SyncStream[ChatCompletionChunk]):
    """A sync iterator of ``ChatCompletionChunk``; ``usage`` and ``cost`` once it ends."""


class TextCompletionStream(_SyncStream[TextCompletionChunk]):
    """A sync iterator of ``TextCompletionChunk``; ``usage`` and ``cost`` once it ends."""


class _AsyncStream(Generic[C]):
    """An async iterator of chunks. ``usage`` and ``cost`` are set once the stream ends.

    Dropped without ``aclose()``, its response closes the connection when collected.
    """

    def __init__(self, state: _StreamState[C], response: Any, idle_timeout: float | None) -> None:
        self._state = state
        self._response = response
        self._pieces: AsyncIterator[bytes] = response.iter_bytes(idle_timeout)
        self._closed = False
        self._on_close: list[Callable[[Usage | None], None]] = []

    def add_close_hook(self, hook: Callable[[Usage | None], None]) -> None:
        """Run ``hook(usage)`` once, when the stream ends, is closed or is collected."""
        self._on_close.append(hook)

    @property
    def _hidden_params(self) -> dict[str, Any]:
        return _hidden(self._state)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):  # dropped unclosed: free the router's slot
            self._closed = True
            _run_hooks(self._on_close, self._state.usage)

    @property
    def usage(self) -> Usage | None:
        return self._state.usage

    @property
    def cost(self) -> float | None:
        return self._state.cost

    async def prime(self) -> None:
        while not self._state.pending and not self._state.finished:
            await self._read_more()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> C:
        state = self._state
        while not state.pending:
            if state.finished or self._closed:
                await self.aclose()
                raise StopAsyncIteration
            await self._read_more()
        return state.pending.popleft()

    async def _read_more(self) -> None:
        try:
            piece = await anext(self._pieces, None)
            if piece is None:
                self._state.end_of_input()
            else:
                self._state.accept(self._state.decoder.feed(piece))
        except HTTPError as exc:
            error = map_http_error(exc, self._state.call)
            self._state.error = error
            await self.aclose()
            raise error from exc
        except BaseException as exc:
            self._state.error = exc
            await self.aclose()
            raise

    async def aclose(self) -> None:
        self._state.pending.clear()
        if not self._closed:
            self._closed = True
            try:
                await self._response.aclose()
            finally:
                _run_hooks(self._on_close, self._state.usage)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncStream(_AsyncStream[ChatCompletionChunk]):
    """An async iterator of ``ChatCompletionChunk``; ``usage`` and ``cost`` once it ends."""


class AsyncTextCompletionStream(_AsyncStream[TextCompletionChunk]):
    """An async iterator of ``TextCompletionChunk``; ``usage`` and ``cost`` once it ends."""


def stream_chunk_builder(
    chunks: Iterable[ChatCompletionChunk],
    messages: list[dict[str, Any]] | None = None,
    start_time: Any = None,
    end_time: Any = None,
) -> ChatCompletion:
    """Rebuild the full response from streamed chunks (content, tool calls, usage, cost).

    LiteLLM's signature. When no chunk carries usage (the stream did not ask for it) and
    ``messages`` are given, usage is the offline estimate: ``token_counter`` of the
    messages and of the text received. ``start_time`` / ``end_time`` are accepted for
    LiteLLM's signature and do not change the answer.
    """
    head: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    cost = None
    for chunk in chunks:
        data = chunk.model_dump()
        for key in ("id", "created", "model", "system_fingerprint"):
            if data.get(key) is not None:
                head.setdefault(key, data[key])
        if data.get("usage"):
            head["usage"] = data["usage"]
            cost = chunk.cost
        for choice in data.get("choices") or ():
            _merge_choice(choices.setdefault(choice.get("index", 0), _empty_choice(choice)), choice)
    for choice in choices.values():
        if not choice["message"].get("tool_calls"):
            choice["message"].pop("tool_calls", None)
    if "usage" not in head and messages is not None:
        head["usage"] = _estimated_usage(messages, choices.values())
    body = {
        **head,
        "object": "chat.completion",
        "choices": [choices[i] for i in sorted(choices)],
    }
    return ChatCompletion(body, cost=cost)


def _estimated_usage(messages: Any, choices: Iterable[dict[str, Any]]) -> dict[str, int]:
    prompt = prompt_likely(messages)
    completion = 0
    for choice in choices:
        message = choice["message"]
        completion += text_likely(message.get("content") or "")
        completion += sum(
            text_likely(c["function"]["arguments"]) for c in message.get("tool_calls") or ()
        )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def watch_stream(
    stream: _SyncStream[Any] | _AsyncStream[Any],
    on_end: Callable[[Result | None, BaseException | None], None],
) -> None:
    """Call ``on_end(whole_answer, error)`` once the stream ends or is closed (callbacks)."""
    state = stream._state
    state.seen = list(state.pending)

    def ended(usage: Usage | None) -> None:
        if state.error is not None:
            on_end(None, state.error)
            return
        whole = stream_chunk_builder(state.seen or ())
        if whole.usage is None and usage is not None:
            whole._data["usage"] = usage.model_dump()
        whole.cost = state.cost
        whole._hidden_params = _hidden(state)
        on_end(whole, None)

    stream.add_close_hook(ended)


def _empty_choice(choice: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": []}
    return {
        "index": choice.get("index", 0),
        "message": message,
        "finish_reason": None,
        "logprobs": None,
    }


def _merge_choice(into: dict[str, Any], choice: dict[str, Any]) -> None:
    delta = choice.get("delta") or {}
    message = into["message"]
    if delta.get("content"):
        message["content"] = (message["content"] or "") + delta["content"]
    for call in delta.get("tool_calls") or ():
        index = call.get("index", 0)
        calls = message["tool_calls"]
        while len(calls) <= index:
            calls.append(
                {"id": None, "type": "function", "function": {"name": None, "arguments": ""}}
            )
        target = calls[index]
        if call.get("id"):
            target["id"] = call["id"]
        function = call.get("function") or {}
        if function.get("name"):
            target["function"]["name"] = function["name"]
        target["function"]["arguments"] += function.get("arguments") or ""
    if choice.get("finish_reason"):
        into["finish_reason"] = choice["finish_reason"]


def _hidden(state: _StreamState[Any]) -> dict[str, Any]:
    """A stream's ``_hidden_params`` (LiteLLM's stream wrapper has them too)."""
    return hidden_params(state.call, state.cost, model_id=state.model_id)


def _run_hooks(hooks: list[Callable[[Usage | None], None]], usage: Usage | None) -> None:
    while hooks:
        hooks.pop(0)(usage)
