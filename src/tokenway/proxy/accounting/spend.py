"""Spend capture: one row per chat request, whatever its outcome, and the key's settlement.

A ``Ticket`` follows one request from admission to its end. ``close`` runs exactly once
(success, upstream error, a stream cut short, a client gone): it settles the key's budget
reservation and hands a ``SpendRow`` to the writer, which journals it before returning,
so the row exists before the response's last byte is sent. No prompt or answer text is
kept unless the config asks for it (``store_prompts_in_spend_logs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from tokenway.proxy.accounting.gate import Admission
from tokenway.proxy.accounting.keys import KeyContext
from tokenway.proxy.usage import Usage
from tokenway.store.base import SpendRow

log = logging.getLogger("tokenway.proxy")


class RowSink(Protocol):
    def record(self, row: SpendRow) -> None: ...


class SpendTracker:
    """The sink rows go to, with this process's recent rows and counts (tests, metrics).

    ``open_tickets`` counts requests whose row is not written yet, so that a shutdown can
    wait for them (``drained``) before it closes what their rows need."""

    def __init__(self, sink: RowSink | None = None, *, store_payload: bool = False) -> None:
        self.sink = sink
        self.store_payload = store_payload
        self.calls_without_usage = 0
        self.recent: deque[SpendRow] = deque(maxlen=1000)
        self.open_tickets = 0
        self._idle: asyncio.Event | None = None  # only while ``drained`` waits

    async def drained(self, timeout: float) -> int:
        """Wait (at most ``timeout`` seconds) until every open ticket has closed; return
        how many are still open."""
        if self.open_tickets:
            self._idle = idle = asyncio.Event()
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await idle.wait()
            finally:
                self._idle = None
        return self.open_tickets

    def ticket_closed(self) -> None:
        self.open_tickets -= 1
        if self._idle is not None and not self.open_tickets:
            self._idle.set()

    def record(self, row: SpendRow) -> None:
        self.recent.append(row)
        if self.sink is not None:
            try:
                self.sink.record(row)
            except Exception:  # a bug in the sink must not fail the request
                log.exception("spend row %s could not be recorded", row.request_id)


class Ticket:
    """One request's spend: who pays, what was reserved, and the row written at the end."""

    __slots__ = (
        "_admission", "_body", "_release", "_tracker", "alias", "closed", "end_user",
        "end_user_admission", "key", "key_hash", "metadata", "on_close", "request_id",
        "response_id", "started_at", "started_perf", "stream",
    )  # fmt: skip

    def __init__(
        self,
        tracker: SpendTracker,
        request_id: str,
        started_perf: float,
        key_hash: str | None,
        key: KeyContext | None,
        on_close: Callable[[SpendRow], None] | None = None,
    ) -> None:
        """``on_close``: given the row once it is recorded (the request log, metrics)."""
        self._tracker = tracker
        self.on_close = on_close
        self.request_id = request_id
        self.started_perf = started_perf
        self.started_at = time.time()
        self.key_hash = key_hash
        self.key = key
        self.alias = ""
        self.stream = False
        self.closed = False
        self._admission: Admission | None = None
        self._body: Mapping[str, Any] | None = None
        self._release: Callable[[], None] | None = None
        self.end_user: str | None = None  # the request's ``user``
        self.end_user_admission: Admission | None = None  # its hold on that end user's budget
        self.metadata: dict[str, Any] | None = None  # the request's ``metadata`` object
        self.response_id: str | None = None  # the answer's ``id``
        tracker.open_tickets += 1

    def hold(self, release: Callable[[], None]) -> None:
        """Run ``release`` (a stream's deployment slot) when this ticket closes: at once if
        it already has (a short stream can end before the router returns)."""
        if self.closed:
            release()
        else:
            self._release = release

    def admitted(self, admission: Admission, body: Mapping[str, Any]) -> None:
        self._admission = admission
        if self._tracker.store_payload:
            self._body = body

    def discard(self) -> None:
        """Close without a row: the request became others, each with its own ticket
        (one chat request naming several models)."""
        if not self.closed:
            self.closed = True
            self._tracker.ticket_closed()

    def close(
        self,
        *,
        status: int,
        deployment: str | None = None,
        usage: Usage | None = None,
        cost: float | None = None,
        error_code: str | None = None,
        answer: Any = None,
    ) -> None:
        """Settle and write the row; later calls do nothing."""
        if self.closed:
            return
        self.closed = True
        tracker = self._tracker
        try:
            if status == 200 and (usage is None or usage.estimated):
                tracker.calls_without_usage += 1  # the upstream never said what it used
            usage = usage or _NONE
            if self._admission is not None:
                self._admission.settle(cost, usage.total)
            if self.end_user_admission is not None:
                self.end_user_admission.settle(cost, usage.total)
            row = self._row(status, deployment, usage, cost, error_code, answer)
            tracker.record(row)
        finally:
            tracker.ticket_closed()  # the row is journaled (or logged lost): nothing to wait for
        if self._release is not None:
            self._release()
        if self.on_close is not None:
            try:
                self.on_close(row)
            except Exception:  # an observer's bug must not fail the request
                log.exception("request %s: its row's observer failed", row.request_id)

    def _row(
        self,
        status: int,
        deployment: str | None,
        usage: Usage,
        cost: float | None,
        error_code: str | None,
        answer: Any,
    ) -> SpendRow:
        key = self.key
        team = key.team if key is not None else None
        metadata = self.metadata
        return SpendRow(
            request_id=self.request_id,
            key_hash=self.key_hash,
            user_id=key.key.user_id if key is not None else None,
            team_id=key.key.team_id if key is not None else None,
            model_alias=self.alias,
            deployment=deployment,
            prompt_tokens=usage.prompt,
            completion_tokens=usage.completion,
            cost=cost,
            latency_ms=(time.perf_counter() - self.started_perf) * 1000,
            status=status,
            error_code=error_code,
            stream=self.stream,
            started_at=self.started_at,
            payload=self._payload(answer),
            usage_estimated=usage.estimated,
            organization_id=team.organization_id if team is not None else None,
            end_user=self.end_user,
            metadata=orjson.dumps(metadata).decode() if metadata else None,
            response_id=self.response_id,
        )

    def _payload(self, answer: Any) -> str | None:
        if self._body is None:
            return None
        data = {"messages": self._body.get("messages"), "response": answer}
        return orjson.dumps(data, default=str).decode()


_NONE = Usage(0, 0)  # a row without usage: nothing was sent, or nothing came back
