"""Limits shared by the workers of one ``tokenway --workers N`` without Redis.

Before it forks the workers, the parent starts one more process, the counter: a
``MemoryLimitStore`` served on a Unix socket in a private directory. Each worker's
``LocalLimitStore`` sends it every ``acquire`` and ``release`` (one line of JSON each,
naming a quota set it defined once on its connection; the calls made in one turn of the
event loop go out in one write, and a settle or release waits up to ``CAST_DELAY`` for a
call that needs a reply), so the workers count one limit as one. Replies come back
in order on each connection. The counter also keeps the workers' budget reservations (a
``BudgetBook``: ``reserve`` and ``settle``, the ``BudgetLedger`` of ``--workers N``).

A worker that dies frees its parallel slots and its reservations: the counter releases
what a connection holds when it closes. If the counter itself is lost, each worker says
so once and counts in its own memory from then on (the banner's warning for
``--workers`` without Redis applies).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson

from tokenway.limits.budgets import BudgetBook, Hold, Verdict
from tokenway.limits.memo import Memo
from tokenway.limits.window import MemoryLimitStore, Quota, RateRefused, RateState

__all__ = ["LocalLimitStore", "start_counter"]

log = logging.getLogger("tokenway.limits")

_WHY = ("requests", "tokens", "parallel")
CAST_DELAY = 0.001  # seconds a settle or release may wait for a message to go with


def start_counter(path: str) -> int:
    """Fork the counter process serving on the Unix socket ``path``; its pid. It exits
    when its parent does (or on SIGTERM)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(256)
    parent = os.getpid()
    pid = os.fork()
    if pid:
        listener.close()
        return pid
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's ^C: it stops us
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from tokenway.http.server import install_uvloop

        install_uvloop()
        asyncio.run(_serve(listener, parent))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


async def _serve(listener: socket.socket, parent: int) -> None:
    store, book = MemoryLimitStore(), BudgetBook()
    server = await asyncio.start_unix_server(
        lambda r, w: _connection(store, book, r, w), sock=listener
    )
    async with server:
        while os.getppid() == parent:  # orphaned: the proxy has gone
            await asyncio.sleep(1.0)


async def _connection(
    store: MemoryLimitStore,
    book: BudgetBook,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    held: list[tuple[Quota, ...]] = []  # admitted with parallel limits, not released yet
    sets: dict[int, tuple[Quota, ...]] = {}  # the quota sets this worker defined
    leases: dict[str, list[Hold]] = {}  # budget reservations not settled yet
    replies = _Replies(writer)
    try:
        while line := await reader.readline():
            message = orjson.loads(line)
            kind = message[0]
            if kind == "b":
                replies.add(_reserve(store, book, sets, held, leases, message))
            elif kind == "s":  # ["s", lease, cost, quota set id or -1, tokens, now]: no reply
                holds = leases.pop(message[1], None)
                if holds is not None:
                    book.settle(holds, message[1], message[2])
                if message[3] >= 0:
                    _release(store, held, sets[message[3]], message[4], message[5])
            elif kind == "d":  # ["d", id, [[name, label, rpm, tpm, parallel], ...]]
                sets[message[1]] = tuple(Quota(*q) for q in message[2])
            elif kind == "a":  # ["a", now, id]
                quotas = sets[message[2]]
                state = _acquire(store, quotas, message[1])
                if state.refused is None and any(q.parallel is not None for q in quotas):
                    held.append(quotas)
                replies.add(orjson.dumps(_reply(state, quotas)) + b"\n")
            else:  # ["r", now, id, tokens]
                _release(store, held, sets[message[2]], message[3], message[1])
    except (ConnectionError, ValueError):
        pass
    finally:
        for quotas in held:  # the worker died: its requests hold nothing any more
            store.release(quotas, 0, 0.0)
        for lease, holds in leases.items():
            book.settle(holds, lease, 0.0)
        writer.close()


class _Replies:
    """The replies to one connection's requests, written once per turn of the loop: the
    requests that arrived in one read are answered in one write (a write to the worker's
    socket wakes it up; measured, one per reply cost more than the counting)."""

    __slots__ = ("_out", "_writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._out: list[bytes] = []

    def add(self, reply: bytes) -> None:
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(reply)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if not self._writer.is_closing():
            self._writer.write(b"".join(out))


def _release(
    store: MemoryLimitStore,
    held: list[tuple[Quota, ...]],
    quotas: tuple[Quota, ...],
    tokens: int,
    now: float,
) -> None:
    store.release(quotas, tokens, now)
    if quotas in held:
        held.remove(quotas)


def _acquire(store: MemoryLimitStore, quotas: tuple[Quota, ...], now: float) -> RateState:
    """``store.acquire`` without a coroutine (it never waits)."""
    try:
        return RateState(None, None, 0.0, *store.acquire_now(quotas, now))
    except RateRefused as refused:
        return refused.state


def _reserve(
    store: MemoryLimitStore,
    book: BudgetBook,
    sets: dict[int, tuple[Quota, ...]],
    held: list[tuple[Quota, ...]],
    leases: dict[str, list[Hold]],
    message: list[Any],
) -> bytes:
    """``["b", lease, estimate, holds, quota set id or -1, now]``: reserve, then acquire
    the quota set's limits (a refusal gives the reservation back); the reply is
    ``[outcome, account, spend, the limits' reply or null]``."""
    _, lease, estimate, fields, ident, now = message
    holds = [Hold(*hold) for hold in fields]
    verdict = book.reserve(holds, estimate, lease)
    rate = None
    if verdict.outcome == 0:
        leases[lease] = holds
        if ident >= 0:
            quotas = sets[ident]
            state = _acquire(store, quotas, now)
            if state.refused is not None:
                book.settle(holds, lease, 0.0)
                del leases[lease]
            elif any(q.parallel is not None for q in quotas):
                held.append(quotas)
            rate = _reply(state, quotas)
    return orjson.dumps([verdict.outcome, verdict.at, verdict.spend, rate]) + b"\n"


def _reply(state: RateState, quotas: Sequence[Quota]) -> list[Any]:
    refused = -1 if state.refused is None else _WHY.index(state.refused)
    by = -1 if state.refused_by is None else list(quotas).index(state.refused_by)
    return [
        refused,
        by,
        state.retry_after,
        state.limit_requests,
        state.remaining_requests,
        state.reset_requests,
        state.limit_tokens,
        state.remaining_tokens,
        state.reset_tokens,
    ]


class LocalLimitStore:
    """A worker's side: the counter process's limits (this process's while it is lost)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fallback = MemoryLimitStore()
        self.available = False
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: deque[asyncio.Future[list[Any]]] = deque()
        self._out: list[bytes] = []
        self._reader_task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._sets: dict[tuple[Quota, ...], int] = {}  # quota sets defined to the counter
        self._ids: Memo[Sequence[Quota], int] = Memo(self._define)  # the same, by identity
        self._soon = False  # a flush is due at the end of this turn of the loop
        self._timer: asyncio.TimerHandle | None = None  # a flush of casts, a little later

    async def start(self) -> None:
        try:
            reader, self._writer = await asyncio.open_unix_connection(self.path)
        except OSError as error:
            self._lost(error)
        else:
            self.available = True
            self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
        self._started.set()

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush()  # the settles and releases still waiting for company
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()

    async def acquire(self, quotas: Sequence[Quota], now: float) -> RateState:
        if not self._started.is_set():
            await self._started.wait()
        if self.available:
            future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            self._waiting.append(future)
            self._send(["a", now, self._quotas(quotas)])
            try:
                reply = await future
            except ConnectionError:
                pass  # lost meanwhile (``_lost`` said so): counted here instead
            else:
                return _state(reply, quotas)
        return await self.fallback.acquire(quotas, now)

    @property
    def shared(self) -> bool:
        """The counter is reachable (the ``BudgetLedger`` side of this store)."""
        return self.available

    @property
    def limits(self) -> object:
        return self  # the counter takes the limits with the budget

    @property
    def strict(self) -> bool:
        return False  # a lost counter is never replaced: this worker counts from then on

    async def reserve(
        self,
        holds: Sequence[Hold],
        estimate: float,
        lease: str,
        quotas: Sequence[Quota] = (),
        now: float = 0.0,
    ) -> Verdict:
        """With ``quotas``, acquired in the same message once the budget admits (one
        round trip for both). Raises ConnectionError when the counter is lost meanwhile."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        ident = self._quotas(quotas) if quotas else -1
        self._send(["b", lease, estimate, _fields(holds), ident, now])
        outcome, index, spend, rate = await future
        return Verdict(outcome, index, spend, None if rate is None else _state(rate, quotas))

    def settle(
        self,
        holds: Sequence[Hold],
        lease: str,
        cost: float,
        quotas: Sequence[Quota] = (),
        tokens: int = 0,
        now: float = 0.0,
    ) -> None:
        """With ``quotas`` (those ``reserve`` acquired), release them in the same message.
        The counter knows the reservation's accounts by its lease."""
        if self.available:
            self._cast(["s", lease, cost, self._quotas(quotas) if quotas else -1, tokens, now])
        elif quotas:
            self.fallback.release(quotas, tokens, now)

    def release(self, quotas: Sequence[Quota], tokens: int, now: float) -> None:
        if self.available:
            self._cast(["r", now, self._quotas(quotas), tokens])
        else:
            self.fallback.release(quotas, tokens, now)

    def _quotas(self, quotas: Sequence[Quota]) -> int:
        """The id of this quota set on the connection (defined to the counter once)."""
        return self._ids.get(quotas)

    def _define(self, quotas: Sequence[Quota]) -> int:
        key = quotas if isinstance(quotas, tuple) else tuple(quotas)
        known = self._sets.get(key)
        if known is None:
            known = self._sets[key] = len(self._sets)
            fields = [[q.name, q.label, q.rpm, q.tpm, q.parallel] for q in quotas]
            self._send(["d", known, fields])
        return known

    def _send(self, message: list[Any]) -> None:
        """A message the worker waits for: written at the end of this turn of the loop."""
        if not self._soon:
            self._soon = True
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(orjson.dumps(message) + b"\n")

    def _cast(self, message: list[Any]) -> None:
        """A message nobody waits for (a settle, a release): it goes with the next message
        waited for, or within ``CAST_DELAY`` seconds. Under load that saves a write (and
        the counter's wake-up) per request; a slot or reservation freed a little later only
        makes the other workers stricter for that long, never laxer."""
        self._out.append(orjson.dumps(message) + b"\n")
        if not self._soon and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(CAST_DELAY, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._out and not self._soon:
            self._flush()

    def _flush(self) -> None:
        self._soon = False
        out, self._out = self._out, []
        if out and self._writer is not None and self.available:
            self._writer.write(b"".join(out))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                future = self._waiting.popleft()
                if not future.done():
                    future.set_result(orjson.loads(line))
            raise ConnectionError("the counter process closed the connection")
        except (ConnectionError, OSError) as error:
            self._lost(error)

    def _lost(self, error: BaseException) -> None:
        self.available = False
        log.warning(
            "the workers' shared limit counter is lost (%s); this worker counts rate limits "
            "on its own from now on",
            error,
        )
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError("counter lost"))


def _fields(holds: Sequence[Hold]) -> list[list[Any]]:
    return [[h.name, h.window, h.budget, h.floor] for h in holds]


def _state(reply: list[Any], quotas: Sequence[Quota]) -> RateState:
    refused, by, retry, *figures = reply
    return RateState(
        None if refused < 0 else _WHY[refused],  # type: ignore[arg-type]
        None if by < 0 else quotas[by],
        retry,
        *figures,
    )
