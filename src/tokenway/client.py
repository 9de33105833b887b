"""The SDK's engine: one ``Client`` holds connection pools, pacers, the catalog and defaults.

A call is prepared without I/O (``tokenway.request``; ``tokenway.embeddings`` and
``tokenway.text`` for the other endpoints), paced per (provider, key), sent, and retried
while that can still help and the call's deadline allows. Every endpoint shares this
path; a call's ``CallKind`` says where it goes and what its answer becomes. The sync
path uses ``SyncHTTPClient``; the async path one ``AsyncHTTPClient`` per event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

from tokenway.catalog import Catalog, ModelInfo, cost_of
from tokenway.embeddings import prepare_embedding
from tokenway.errors import Timeout, TokenwayError
from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import HTTPError
from tokenway.http.sclient import SyncHTTPClient
from tokenway.limits.bucket import AsyncPacer, Pacer
from tokenway.reporting import arun_reported, run_reported
from tokenway.request import PreparedCall, hidden_params, prepare_call
from tokenway.retry import DEFAULT_NUM_RETRIES, DEFAULT_TIMEOUT, Backoff, retry_delay
from tokenway.streaming import (
    AsyncStream,
    AsyncTextCompletionStream,
    Stream,
    TextCompletionStream,
    _AsyncStream,
    _StreamState,
    _SyncStream,
)
from tokenway.text import prepare_text_completion
from tokenway.transport_errors import map_http_error
from tokenway.types import ChatCompletion, EmbeddingResponse, Result, TextCompletion

T = TypeVar("T")
_log = logging.getLogger("tokenway.client")
_Answer = Result | _SyncStream[Any]
_AsyncAnswer = Result | _AsyncStream[Any]
_Prepare = Callable[[str, Any, Mapping[str, Any]], PreparedCall]  # (model, input, params)

# The stream classes of each streamed endpoint (CallKind.name).
_STREAMS: dict[str, tuple[type[_SyncStream[Any]], type[_AsyncStream[Any]]]] = {
    "chat": (Stream, AsyncStream),
    "text_completion": (TextCompletionStream, AsyncTextCompletionStream),
}


class _Deadline:
    __slots__ = ("_end", "total")

    def __init__(self, total: float) -> None:
        self.total = total
        self._end = time.monotonic() + total

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def expired_error(self, call: PreparedCall) -> Timeout:
        return Timeout(
            f"{call.model}: no complete answer within timeout={self.total:g}s (retries included)",
            llm_provider=call.deployment.spec.name,
            model=call.model,
        )


class Client:
    """Defaults and shared resources for many calls. Safe to share between threads."""

    def __init__(
        self,
        *,
        num_retries: int = DEFAULT_NUM_RETRIES,
        timeout: float = DEFAULT_TIMEOUT,
        drop_params: bool = False,
        catalog: Catalog | None = None,
        rpm: Mapping[str, int] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.num_retries = num_retries
        self.timeout = timeout
        self.drop_params = drop_params
        self.catalog = catalog if catalog is not None else Catalog()
        self.rpm_overrides = dict(rpm or {})
        self.backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self._sync_http: SyncHTTPClient | None = None
        self._async_http: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncHTTPClient] = (
            weakref.WeakKeyDictionary()
        )
        self._pacers: dict[tuple[str, str | None, str], Pacer] = {}
        self._async_pacers: dict[tuple[str, str | None, str], AsyncPacer] = {}

    # ---- public API -------------------------------------------------------------------

    # Every call is reported to tokenway.success_callback & co. when any is set
    # (tokenway.callbacks); ``mock_response`` & co. answer a chat call without the network.

    def completion(self, model: str, messages: Any, **params: Any) -> ChatCompletion | Stream:
        answer = self._call("completion", self.prepare, model, messages, params)
        return cast("ChatCompletion | Stream", answer)

    async def acompletion(
        self, model: str, messages: Any, **params: Any
    ) -> ChatCompletion | AsyncStream:
        answer = await self._acall("acompletion", self.prepare, model, messages, params)
        return cast("ChatCompletion | AsyncStream", answer)

    def embedding(self, model: str, input: Any, **params: Any) -> EmbeddingResponse:
        """Vectors for ``input`` (see ``tokenway.embeddings``)."""
        answer = self._call("embedding", self._prepare_embedding, model, input, params)
        return cast(EmbeddingResponse, answer)

    async def aembedding(self, model: str, input: Any, **params: Any) -> EmbeddingResponse:
        answer = await self._acall("aembedding", self._prepare_embedding, model, input, params)
        return cast(EmbeddingResponse, answer)

    def text_completion(
        self, prompt: Any, model: str, **params: Any
    ) -> TextCompletion | TextCompletionStream:
        """The legacy completions API (see ``tokenway.text``); LiteLLM's argument order."""
        answer = self._call("text_completion", self._prepare_text, model, prompt, params)
        return cast("TextCompletion | TextCompletionStream", answer)

    async def atext_completion(
        self, prompt: Any, model: str, **params: Any
    ) -> TextCompletion | AsyncTextCompletionStream:
        answer = await self._acall("atext_completion", self._prepare_text, model, prompt, params)
        return cast("TextCompletion | AsyncTextCompletionStream", answer)

    def _call(
        self, call_type: str, prepare: _Prepare, model: str, value: Any, params: Mapping[str, Any]
    ) -> _Answer:
        """One call of any endpoint, reported to the callbacks (``tokenway.reporting``)."""
        return run_reported(
            call_type, model, value, params, lambda: self._run(prepare(model, value, params))
        )

    async def _acall(
        self, call_type: str, prepare: _Prepare, model: str, value: Any, params: Mapping[str, Any]
    ) -> _AsyncAnswer:
        return await arun_reported(
            call_type, model, value, params, lambda: self._arun(prepare(model, value, params))
        )

    def prepare(self, model: str, messages: Any, params: Mapping[str, Any]) -> PreparedCall:
        return prepare_call(
            model,
            messages,
            params,
            catalog=self.catalog,
            drop_params=self.drop_params,
            env=os.environ,
        )

    def _prepare_embedding(self, model: str, input: Any, params: Mapping[str, Any]) -> PreparedCall:
        return prepare_embedding(
            model, input, params, catalog=self.catalog, drop_params=self.drop_params, env=os.environ
        )

    def _prepare_text(self, model: str, prompt: Any, params: Mapping[str, Any]) -> PreparedCall:
        return prepare_text_completion(
            model,
            prompt,
            params,
            catalog=self.catalog,
            drop_params=self.drop_params,
            env=os.environ,
        )

    def register_model(self, model: str, info: ModelInfo | Mapping[str, Any]) -> None:
        self.catalog.register(model, info)

    def close(self) -> None:
        if self._sync_http is not None:
            self._sync_http.close()

    async def aclose(self) -> None:
        client = self._async_http.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # ---- retries ----------------------------------------------------------------------

    def _run(self, call: PreparedCall) -> _Answer:
        _debug(call)
        deadline = _Deadline(call.timeout or self.timeout)
        return self._with_retries(call, deadline, lambda: self._attempt(call, deadline))

    async def _arun(self, call: PreparedCall) -> _AsyncAnswer:
        _debug(call)
        deadline = _Deadline(call.timeout or self.timeout)
        return await self._awith_retries(call, deadline, lambda: self._aattempt(call, deadline))

    def _with_retries(self, call: PreparedCall, deadline: _Deadline, attempt: Callable[[], T]) -> T:
        tries = 0
        while True:
            try:
                return attempt()
            except TokenwayError as error:
                delay = self._retry_delay(call, deadline, tries, error)
                tries += 1
                time.sleep(delay)

    async def _awith_retries(
        self, call: PreparedCall, deadline: _Deadline, attempt: Callable[[], Awaitable[T]]
    ) -> T:
        tries = 0
        while True:
            try:
                return await attempt()
            except TokenwayError as error:
                delay = self._retry_delay(call, deadline, tries, error)
                tries += 1
                await asyncio.sleep(delay)

    def _retry_delay(
        self, call: PreparedCall, deadline: _Deadline, tries: int, error: TokenwayError
    ) -> float:
        """Seconds to wait before the next try; re-raises ``error`` when there is none."""
        retries = call.num_retries if call.num_retries is not None else self.num_retries
        delay = retry_delay(self.backoff, tries, retries, error, deadline.remaining())
        if delay is None:
            raise error
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s: %s; retry %d in %.2fs", call.model, error, tries + 1, delay)
        return delay

    # ---- one sync attempt -------------------------------------------------------------

    def _attempt(self, call: PreparedCall, deadline: _Deadline) -> _Answer:
        if call.mock is None:
            self._pacer(call)
        remaining = deadline.remaining()
        if remaining <= 0:
            raise deadline.expired_error(call)
        try:
            response = self._open(call, deadline, remaining)
            if response.status >= 400 or not call.stream:
                body = self._read_all(response, call, deadline)
                return self._finish(call, response.status, response.headers, body)
        except HTTPError as exc:
            raise map_http_error(exc, call) from exc
        state = _StreamState(call, call.provider.stream_decoder(_chunk_maker(call)))
        stream = _STREAMS[call.kind.name][0](state, response)
        stream.prime()
        return stream

    def _open(self, call: PreparedCall, deadline: _Deadline, remaining: float) -> Any:
        """The upstream's response, or a mocked call's (``tokenway.mock``), in its place."""
        mock = call.mock
        if mock is None:
            req = call.request
            return self._http().request(
                req.method, req.url, headers=req.headers, body=req.body, timeout=remaining
            )
        if mock.timeout:
            time.sleep(remaining)
            raise deadline.expired_error(call)
        return mock.response()

    @staticmethod
    def _read_all(response: Any, call: PreparedCall, deadline: _Deadline) -> bytes:
        pieces = []
        with response:
            for piece in response.iter_bytes():
                pieces.append(piece)
                if deadline.remaining() <= 0:
                    raise deadline.expired_error(call)
        return b"".join(pieces)

    def _http(self) -> SyncHTTPClient:
        if self._sync_http is None:
            with self._lock:
                if self._sync_http is None:
                    self._sync_http = SyncHTTPClient()
        return self._sync_http

    def _pacer(self, call: PreparedCall) -> None:
        rpm = self._rpm(call)
        if rpm:
            key = _pacer_key(call)
            pacer = self._pacers.get(key)
            if pacer is None:
                with self._lock:
                    pacer = self._pacers.setdefault(key, Pacer(rpm))
            pacer.wait()

    # ---- one async attempt ------------------------------------------------------------

    async def _aattempt(self, call: PreparedCall, deadline: _Deadline) -> _AsyncAnswer:
        if call.mock is None:
            await self._apacer(call)
        remaining = deadline.remaining()
        if remaining <= 0:
            raise deadline.expired_error(call)
        try:
            async with asyncio.timeout(remaining):
                return await self._asend(call, remaining)
        except TimeoutError:
            raise deadline.expired_error(call) from None
        except HTTPError as exc:
            raise map_http_error(exc, call) from exc

    async def _asend(self, call: PreparedCall, remaining: float) -> _AsyncAnswer:
        response = await self._aopen(call, remaining)
        if response.status >= 400 or not call.stream:
            async with response:
                body = await response.read()
            return self._finish(call, response.status, response.headers, body)
        state = _StreamState(call, call.provider.stream_decoder(_chunk_maker(call)))
        stream = _STREAMS[call.kind.name][1](
            state, response, idle_timeout=call.timeout or self.timeout
        )
        await stream.prime()
        return stream

    async def _aopen(self, call: PreparedCall, remaining: float) -> Any:
        mock = call.mock
        if mock is None:
            req = call.request
            return await self._ahttp().request(
                req.method, req.url, headers=req.headers, body=req.body, timeout=remaining
            )
        if mock.timeout:
            await asyncio.sleep(remaining)  # the deadline's asyncio.timeout ends this
        return await mock.aresponse()

    def _ahttp(self) -> AsyncHTTPClient:
        loop = asyncio.get_running_loop()
        client = self._async_http.get(loop)
        if client is None:
            client = self._async_http[loop] = AsyncHTTPClient()
        return client

    async def _apacer(self, call: PreparedCall) -> None:
        rpm = self._rpm(call)
        if rpm:
            key = _pacer_key(call)
            pacer = self._async_pacers.get(key)
            if pacer is None:
                pacer = self._async_pacers.setdefault(key, AsyncPacer(rpm))
            await pacer.wait()

    # ---- shared -----------------------------------------------------------------------

    def _rpm(self, call: PreparedCall) -> int | None:
        if call.rpm is not None:
            return call.rpm
        spec = call.deployment.spec
        return self.rpm_overrides.get(spec.name, spec.default_rpm)

    @staticmethod
    def _finish(call: PreparedCall, status: int, headers: Mapping[str, str], body: bytes) -> Result:
        kind = call.kind
        response = kind.result(call.provider.parse_json(status, headers, body, kind.required))
        usage = response.usage
        if usage is not None:
            response.cost = cost_of(
                call.info,
                usage.prompt_tokens,
                usage.completion_tokens,
                call.input_cost_per_token,
                call.output_cost_per_token,
            )
        response.response_headers = dict(headers)
        response._hidden_params = hidden_params(call, response.cost, response.response_headers)
        return response


def _chunk_maker(call: PreparedCall) -> Callable[[dict[str, Any]], Result]:
    chunk = call.kind.chunk
    if chunk is None:  # prepare_* refuses stream=True for endpoints that never stream
        raise AssertionError(f"{call.kind.name} calls are never streamed")
    return chunk


def _debug(call: PreparedCall) -> None:
    """What ``tokenway.set_verbose = True`` shows: each call's model, endpoint and base URL."""
    if _log.isEnabledFor(logging.DEBUG):
        where = "mock" if call.mock is not None else call.deployment.api_base
        _log.debug("%s %s via %s (stream=%s)", call.kind.name, call.model, where, call.stream)


def _pacer_key(call: PreparedCall) -> tuple[str, str | None, str]:
    d = call.deployment
    return (d.spec.name, d.api_key, d.api_base)
