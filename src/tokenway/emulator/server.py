"""Running an emulator: in the current event loop (`Emulator`) or in a thread of its own."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tokenway.http.server import HTTPServer

from .app import EmulatorApp
from .config import EmulatorConfig, FaultConfig
from .faults import StreamCut
from .limits import Clock

__all__ = ["Emulator", "run_emulator_in_thread"]

# Bodies up to this size reach the handler, which answers 400 past `max_body_bytes`
# (reference §7: Inference.net refuses bodies over 1 MB with a 400, not a 413).
_SERVER_BODY_LIMIT = 16 * 1024 * 1024
_HANG_GRACE_S = 0.1


class Emulator:
    """An Inference.net emulator (a testing tool, not the real API).

    Assign `emulator.faults = FaultConfig(...)` to change faults at runtime.
    """

    def __init__(self, config: EmulatorConfig, *, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.app = EmulatorApp(config, clock)
        self._server: HTTPServer | None = None
        self._host = "127.0.0.1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = HTTPServer(
            self.app.handle,
            error_responder=self.app.server_error_response,
            max_body_size=max(_SERVER_BODY_LIMIT, self.config.max_body_bytes),
        )
        _quiet_injected_stream_cuts()
        await server.start(host, port)
        self._server, self._host = server, host

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let answers in progress finish, drop hanging requests."""
        if self._server is None:
            return
        if self.app.hanging:
            timeout = min(timeout, _HANG_GRACE_S)
        await self._server.shutdown(timeout)
        self._server = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return self._server.port

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/v1"

    @property
    def faults(self) -> FaultConfig:
        return self.app.faults

    @faults.setter
    def faults(self, config: FaultConfig) -> None:
        self.app.faults = config

    @property
    def requests_total(self) -> int:
        return self.app.requests_total

    @property
    def requests_by_status(self) -> dict[int, int]:
        return self.app.requests_by_status

    @property
    def traceparents(self) -> list[str]:
        """The ``traceparent`` headers of the latest requests that carried one, in order."""
        return list(self.app.traceparents)

    @property
    def rate_limited(self) -> int:
        return self.app.rate_limited


class _DropStreamCuts(logging.Filter):
    """Injected stream cuts are the point of the fault, not server failures worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamCut))


def _quiet_injected_stream_cuts() -> None:
    http_log = logging.getLogger("tokenway.http")
    if not any(isinstance(f, _DropStreamCuts) for f in http_log.filters):
        http_log.addFilter(_DropStreamCuts())


@contextmanager
def run_emulator_in_thread(
    config: EmulatorConfig, *, clock: Clock = time.monotonic, host: str = "127.0.0.1", port: int = 0
) -> Iterator[Emulator]:
    """An emulator served by its own event loop in a daemon thread, for synchronous tests."""
    emulator = Emulator(config, clock=clock)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="tokenway-emulator", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(emulator.start(host, port), loop).result(timeout=10)
        yield emulator
    finally:
        try:
            asyncio.run_coroutine_threadsafe(emulator.stop(), loop).result(timeout=15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
