"""Script calls to Redis, batched: the calls made while a batch is on the wire go out
together as the next one (a pipeline: one write, one read, one connection).

Measured first (bench/RESULTS.md, issue 14): one redis-py command per call, each on a
pooled connection, opened a connection per concurrent call until the pool refused ("Too
many connections") under load, and sent each release in a task of its own. Batched, a busy
process sends one write per round trip whatever its load, and an idle one sends each call
at once.

Every batch is bounded by ``timeout``; a batch that fails fails each of its calls, and
tells ``on_error`` (the store falls back to counting in the process). Scripts are loaded
by SHA1 (``EVALSHA``); one that Redis does not know (a restarted server) is loaded and
only the calls that got ``NOSCRIPT`` are sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tokenway.limits.resp import RespConnection, connect

__all__ = ["Batches", "close_quietly", "head", "pack"]

_Call = tuple[bytes, "asyncio.Future[Any] | None"]  # a command in RESP, who waits for it


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
        self._sending = False
        self._conn: RespConnection | None = None
        self._url = url
        self.shas = list(self._sources)  # in the order of ``scripts``

    @property
    def pending(self) -> bool:
        """Calls are queued or on the wire."""
        return self._sending or bool(self._queue)

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
        if not self._sending:
            self._sending = True
            asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send_batch(batch)
        finally:
            self._sending = False

    async def _send_batch(self, batch: list[_Call]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                replies = await self._execute(batch)
        except Exception as error:
            self._on_error(error)
            for _, future in batch:
                if future is not None and not future.done():
                    future.set_exception(error)
            return
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
        conn = self._conn
        if conn is None:  # one connection, kept: batches go one at a time
            conn = self._conn = await connect(self._url)
        try:
            return await conn.send(b"".join(c for c, _ in batch), len(batch))
        except BaseException:
            self._conn = None
            conn.close()
            raise


def pack(words: Sequence[str | int]) -> bytes:
    """Words as the parts of a RESP command (an array of bulk strings), e.g. the static
    head of a script call made once and the few words that change per call."""
    parts = []
    for word in words:
        data = word.encode() if isinstance(word, str) else b"%d" % word
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


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
