"""``--workers N``: fork the workers, replace one that dies, stop them all on SIGTERM.

The parent process only supervises: it keeps the listening socket (so a replacement can
inherit it, and connections wait in the backlog meanwhile) and blocks in ``waitpid``.
A worker that exits while the parent is not stopping is logged with its pid and how it
ended, and a new one is forked. A worker that dies soon after its start counts as a fast
failure: the next start waits (exponential backoff), and after ``max_fast_failures`` in
a row the parent stops the rest and exits 1 rather than fork in a loop (a bad config or
an unusable data directory fails every worker the same way). SIGTERM or SIGINT to the
parent is forwarded as SIGTERM to every worker, which drains; the parent exits 0 when
they all exited 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

__all__ = ["RestartPolicy", "Supervisor"]

log = logging.getLogger("tokenway.proxy")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_POLL = 0.05  # seconds between checks while a replacement waits for its backoff


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    fast_failure: float = 10.0  # a worker that dies sooner than this after its start
    max_fast_failures: int = 5  # in a row: give up
    backoff_initial: float = 0.25
    backoff_max: float = 4.0

    def delay(self, fast_failures: int) -> float:
        """Seconds before the next start, after ``fast_failures`` in a row."""
        if fast_failures == 0:
            return 0.0
        return min(self.backoff_max, self.backoff_initial * 2.0 ** (fast_failures - 1))


class Supervisor:
    def __init__(
        self,
        count: int,
        sock: socket.socket,
        run_one: Callable[[], int],
        policy: RestartPolicy | None = None,
    ) -> None:
        self._count = count
        self._sock = sock
        self._run_one = run_one
        self._policy = policy or RestartPolicy()
        self._pid = os.getpid()
        self.children: dict[int, float] = {}  # pid -> when it started (monotonic)
        self._due: list[float] = []  # when each pending replacement may start
        self._stopping = False
        self._fast_failures = 0
        self._exit_code = 0

    def run(self) -> int:
        """Start the workers and supervise them until they have all exited."""
        previous = {sig: signal.signal(sig, self._on_stop_signal) for sig in _STOP_SIGNALS}
        try:
            for _ in range(self._count):
                self._spawn()
            while self.children or (self._due and not self._stopping):
                self._wait()
                self._start_due()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._sock.close()
        return self._exit_code

    # ---- the parent -------------------------------------------------------------------

    def _on_stop_signal(self, signum: int, _frame: object) -> None:
        if os.getpid() != self._pid:
            return  # a worker between fork and resetting its handlers: not ours to act on
        self._stop()

    def _stop(self) -> None:
        self._stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _wait(self) -> None:
        """Reap one worker; while a replacement is pending, only until it is due."""
        if self._due and not self._stopping:
            pid, status = os.waitpid(-1, os.WNOHANG) if self.children else (0, 0)
            if pid == 0:
                time.sleep(min(_POLL, max(0.0, min(self._due) - time.monotonic())))
                return
        else:
            pid, status = os.waitpid(-1, 0)  # a stop signal's handler runs meanwhile
        self._exited(pid, status)

    def _exited(self, pid: int, status: int) -> None:
        started = self.children.pop(pid, None)
        if started is None:
            return  # not a worker of ours
        code = os.waitstatus_to_exitcode(status)
        _forget_live_gauges(pid)
        if self._stopping:
            self._exit_code = max(self._exit_code, _shell_code(code))
            return
        lived = time.monotonic() - started
        policy = self._policy
        self._fast_failures = self._fast_failures + 1 if lived < policy.fast_failure else 0
        if self._fast_failures >= policy.max_fast_failures:
            log.error(
                "worker %d %s after %.1fs; workers keep dying at start (%d in a row, each "
                "within %.0fs): stopping",
                pid,
                _describe(code),
                lived,
                self._fast_failures,
                policy.fast_failure,
            )
            self._exit_code = 1
            self._due.clear()
            self._stop()
            return
        delay = policy.delay(self._fast_failures)
        log.error(
            "worker %d %s after %.1fs; starting another in %.2fs",
            pid,
            _describe(code),
            lived,
            delay,
        )
        self._due.append(time.monotonic() + delay)

    def _start_due(self) -> None:
        now = time.monotonic()
        while self._due and not self._stopping and min(self._due) <= now:
            self._due.remove(min(self._due))
            self._spawn()

    def _spawn(self) -> None:
        # Stop signals wait until the child is in the table (parent) or has its own
        # handlers (child): one arriving in between is neither lost nor misrouted.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:
            self._child(mask)
        self.children[pid] = time.monotonic()
        log.info("worker %d started", pid)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    # ---- the worker -------------------------------------------------------------------

    def _child(self, mask: Iterable[int]) -> NoReturn:
        code = 1
        try:
            for sig in _STOP_SIGNALS:  # until the worker's loop installs its own
                signal.signal(sig, _stop_while_starting)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            code = self._run_one()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            os._exit(code)


def _stop_while_starting(signum: int, _frame: object) -> NoReturn:
    """Stopped before the worker's loop took its signals over: it has served nothing, so
    there is nothing to drain, and it ends at once. (An exception raised here could land
    inside the event loop's own start, which then fails to close: a clean stop reported
    as a failed worker, seen in CI.)"""
    os._exit(0)


def _forget_live_gauges(pid: int) -> None:
    """A dead worker's live gauges (requests in flight, connections, spend backlog) leave
    ``/metrics``: prometheus-client adds up only the live workers' files of those."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _shell_code(code: int) -> int:
    """A worker's exit as a process status: a signal is 128 + its number, not a success."""
    return 128 - code if code < 0 else code
