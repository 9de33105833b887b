"""The Inference.net emulator as a separate, pinned process for the SDK benchmark."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
EMULATOR_CORE = 0


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child if this process dies (even KILLed)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not after the fork
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return hook


@contextlib.contextmanager
def emulator(pin: bool) -> Iterator[tuple[str, list[str]]]:
    """Start the emulator on a free port; yield (base URL, command); always stop it."""
    cmd = [sys.executable, "-m", "tokenway.emulator", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--api-key", API_KEY, "--rpm", "100000000", "--log-level", "warning"]
    use_taskset = pin and shutil.which("taskset") is not None
    if use_taskset:
        cmd = ["taskset", "-c", str(EMULATOR_CORE), *cmd]
    preexec = _die_with_parent_hook()
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True, preexec_fn=preexec
        )
        try:
            if pin and not use_taskset:
                os.sched_setaffinity(proc.pid, {EMULATOR_CORE})
            url = _read_banner(proc, timeout=20.0)
            if url is None:
                errors.seek(0)
                raise RuntimeError(f"the emulator did not start: {errors.read()[-2000:]}")
            yield url, cmd
        finally:
            _stop(proc)


def _read_banner(proc: subprocess.Popen[str], timeout: float) -> str | None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:  # exited
            return None
        for word in line.split():
            if word.startswith("http://"):
                return word
    return None


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()
