"""Script calls to Redis, batched: the calls made in one turn of the event loop go out
together (a pipeline: one write on one connection), up to ``DEPTH`` batches on the wire
at once; the calls made while they are all out go as the next.

Measured first (bench/RESULTS.md, issue 14): one redis-py command per call, each on a
pooled connection, opened a connection per concurrent call until the pool refused ("Too
many connections") under load, and sent each release in a task of its own. Batched, a busy
process sends a write or two per round trip whatever its load, and an idle one sends each
call at once. With one batch at a time the proxy and Redis worked in turns; two overlap
(more made the batches smaller and cost more than they saved).

Every batch is bounded by ``timeout``; a batch that fails fails each of its calls, and
tells ``on_error`` (the store falls back to counting in the process). Scripts are loaded
by SHA1 (``EVALSHA``); one that Redis does not know (a restarted server) is loaded and
only the calls that got ``NOSCRIPT`` are sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from tokenway.limits.resp import RespConnection, connect

__all__ = ["Batches", "amount", "close_quietly", "head", "pack", "seconds"]

_Call = tuple[bytes, "asyncio.Future[Any] | None"]  # a command in RESP, who waits for it
DEPTH = 2  # batches on the wire at once, in order on the one connection


class Batches:
    def __init__(
        self,
        client: Any,
        url: str,
        scripts: Sequence[str],
        timeout: float,
        on_error: Callable[[BaseException], None],
    ) -> None:
        """``client`` (redis-py) loads the scripts; the calls go on a connection of our
        own to ``url``."""
        from redis.exceptions import NoScriptError

        self._client = client
        self._sources = {hashlib.sha1(s.encode()).hexdigest(): s for s in scripts}
        self._timeout = timeout
        self._on_error = on_error
        self._no_script = NoScriptError
        self._queue: list[_Call] = []
        self._starting = False  # a sender starts at the next turn of the loop
        self._senders = 0  # senders with a batch on the wire (at most ``DEPTH``)
        self._conn: RespConnection | None = None
        self._connecting: asyncio.Future[RespConnection] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._url = url
        self.shas = list(self._sources)  # in the order of ``scripts``

    @property
    def pending(self) -> bool:
        """Calls are queued or on the wire."""
        return self._starting or self._senders > 0 or bool(self._queue)

    def call(self, command: bytes) -> asyncio.Future[Any]:
        """Send ``command`` (RESP, see ``pack``); the future holds its reply (or the batch's
        error)."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((command, future))
        self._kick()
        return future

    def cast(self, command: bytes) -> None:
        """Send ``command``; nobody waits for the reply (an error goes to ``on_error``)."""
        self._queue.append((command, None))
        self._kick()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def load(self) -> None:
        """Load every script (after a start or an outage: Redis may have restarted empty)."""
        for source in self._sources.values():
            await self._client.script_load(source)

    def _kick(self) -> None:
        if not self._starting and self._senders < DEPTH:
            self._starting = True
            if self._conn is None:
                self._spawn(self._send())  # connects first
            else:
                asyncio.get_running_loop().call_soon(self._write)

    def _write(self) -> None:
        """Once connected, a batch is written from a callback at the end of the turn, and
        its replies are handed out by the connection as soon as they are parsed
        (``_answered``): no task to wake per batch, no turn of the loop in between. The
        second batch on the wire is written while the first waits, so Redis and this
        process work at the same time instead of in turns."""
        self._starting = False
        conn = self._conn
        if not self._queue:
            return
        if conn is None:  # lost meanwhile
            self._kick()
            return
        batch, self._queue = self._queue, []
        self._senders += 1
        error = TimeoutError(f"Redis did not answer within {self._timeout:g} s")
        timer = asyncio.get_running_loop().call_later(self._timeout, conn.abort, error)
        conn.send_to(
            b"".join([c for c, _ in batch]),
            len(batch),
            lambda replies: self._answered(conn, batch, replies, timer),
        )

    def _answered(
        self,
        conn: RespConnection,
        batch: list[_Call],
        replies: list[Any] | BaseException,
        timer: asyncio.TimerHandle,
    ) -> None:
        timer.cancel()
        self._senders -= 1
        if isinstance(replies, BaseException):
            if self._conn is conn:
                self._conn = None
            conn.close()
            self._fail(batch, replies)
        else:
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, self._no_script)]
            if missing:  # Redis restarted empty: load the scripts, send those again
                self._senders += 1
                self._spawn(self._send_again([batch[i] for i in missing]))
                kept = [i for i in range(len(batch)) if i not in missing]
                batch, replies = [batch[i] for i in kept], [replies[i] for i in kept]
            self._dispatch(batch, replies)
        if self._queue:
            self._kick()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # referenced until done
        task.add_done_callback(self._tasks.discard)

    async def _send(self) -> None:
        """A sender while there is no connection: connects (once for every sender that
        needs it), sends what was queued until its start, then what was queued meanwhile."""
        self._starting = False
        self._senders += 1
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send_batch(batch)
        finally:
            self._senders -= 1

    async def _send_again(self, batch: list[_Call]) -> None:
        try:
            await self._send_batch(batch)
        finally:
            self._senders -= 1
            if self._queue:
                self._kick()

    async def _send_batch(self, batch: list[_Call]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                replies = await self._execute(batch)
        except Exception as error:
            self._fail(batch, error)
            return
        self._dispatch(batch, replies)

    def _fail(self, batch: list[_Call], error: BaseException) -> None:
        self._on_error(error)
        for _, future in batch:
            if future is not None and not future.done():
                future.set_exception(error)

    def _dispatch(self, batch: list[_Call], replies: list[Any]) -> None:
        for (_, future), reply in zip(batch, replies, strict=True):
            if future is None:
                if isinstance(reply, Exception):
                    self._on_error(reply)
            elif future.done():
                continue
            elif isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        replies = await self._pipeline(batch)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, self._no_script)]
        if missing:
            await self.load()
            again = await self._pipeline([batch[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        """The calls written at once, their replies parsed in order as they arrive (an
        error reply is the call's, not the batch's), on one connection of our own kept from
        one batch to the next (``tokenway.limits.resp``: redis-py's pipeline and its
        ``read_response`` per reply cost several times more CPU). A batch cut short
        (timeout, cancellation) closes it: the next batch connects again."""
        conn = self._conn or await self._connect()
        try:
            return await conn.send(b"".join(c for c, _ in batch), len(batch))
        except BaseException:
            if self._conn is conn:
                self._conn = None
            conn.close()
            raise

    async def _connect(self) -> RespConnection:
        """The connection, opened once for the senders that need it at the same time."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(connect(self._url))
        connecting = self._connecting
        try:
            conn = self._conn = await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None
        return conn


def pack(words: Sequence[str | int]) -> bytes:
    """Words as the parts of a RESP command (an array of bulk strings), e.g. the static
    head of a script call made once and the few words that change per call. Built as
    text and encoded once (a bulk string's length counts bytes: text that is not ASCII
    takes the word-by-word way)."""
    text = "".join([f"${len(w)}\r\n{w}\r\n" for w in map(str, words)])
    if text.isascii():
        return text.encode()
    parts = []
    for word in words:
        data = str(word).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def seconds(value: float) -> str:
    """A time in seconds as text to the millisecond below, in integer arithmetic: ``repr``
    runs the shortest-digits float conversion (measured: about 4,000 instructions a call,
    a sixth of what a request's Redis calls cost the proxy)."""
    ms = int(value * 1000)
    if ms < 0:
        return repr(value)
    return f"{ms // 1000}.{ms % 1000:03d}"


_AMOUNTS: dict[float, str] = {}


def amount(value: float) -> str:
    """An amount's exact text (``repr``), remembered: budgets, the store's spend, estimates
    and costs repeat from one request to the next."""
    text = _AMOUNTS.get(value)
    if text is None:
        if len(_AMOUNTS) >= 4096:
            _AMOUNTS.clear()
        text = _AMOUNTS[value] = repr(value)
    return text


def head(count: int) -> bytes:
    """The start of a command of ``count`` words (followed by their ``pack``)."""
    return b"*%d\r\n" % count


async def close_quietly(tasks: Iterable[asyncio.Task[Any] | None], client: Any) -> None:
    """Cancel ``tasks`` and close the Redis ``client``, whatever state they are in."""
    for task in tasks:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if client is not None:
        with contextlib.suppress(Exception):
            await client.aclose()
