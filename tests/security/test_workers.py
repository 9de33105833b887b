"""``tokenway --workers N`` is supervised: a dead worker is replaced, a worker that keeps
dying at start is not forked in a loop, and SIGTERM still drains them all (exit 0)."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.proxy.crash_helpers import tokenway_process, write_config

from tokenway.emulator import Emulator, EmulatorConfig, run_emulator_in_thread

_STARTED = re.compile(r"worker (\d+) started")


@dataclass
class Workers:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self) -> list[int]:
        """Every worker the parent has started so far, in order."""
        return [int(pid) for pid in _STARTED.findall(self.text())]

    def wait_for_pids(self, count: int, timeout: float = 15.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(pids := self.pids()) < count:
            assert time.monotonic() < deadline, f"{pids} after {timeout}s:\n{self.text()}"
            time.sleep(0.02)
        return pids


@pytest.fixture(scope="module")
def upstream() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,))) as emu:
        yield emu


@contextmanager
def tokenway_workers(config: Path, workdir: Path, count: int) -> Iterator[Workers]:
    with tokenway_process(config, workdir, "workers", "--workers", str(count)) as proxy:
        yield Workers(proxy.proc, proxy.port, proxy.log)


def _alive(pid: int) -> bool:
    """Running, not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except FileNotFoundError:
        return 0


def _models(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_killed_worker_is_replaced_and_sigterm_drains_them_all(
    upstream: Emulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.yaml", upstream.base_url)
    with tokenway_workers(config, tmp_path, 2) as workers:
        first, second = workers.wait_for_pids(2)
        assert all(_models(workers.port) == 200 for _ in range(4))

        os.kill(first, signal.SIGKILL)
        assert all(_models(workers.port) == 200 for _ in range(10))  # the other one serves
        *_, replacement = workers.wait_for_pids(3)
        assert replacement not in (first, second)
        assert _alive(replacement) and _parent_of(replacement) == workers.proc.pid
        assert f"worker {first} was killed by SIGKILL" in workers.text()
        assert all(_models(workers.port) == 200 for _ in range(4))

        workers.proc.send_signal(signal.SIGTERM)
        assert workers.proc.wait(15) == 0, workers.text()
        assert not _alive(second) and not _alive(replacement)
        assert len(workers.pids()) == 3  # nothing was restarted while stopping


def test_workers_that_keep_dying_at_start_are_not_forked_in_a_loop(
    upstream: Emulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.yaml", upstream.base_url)
    (tmp_path / "tokenway-journal").write_text("not a directory")  # every worker fails at start
    with tokenway_workers(config, tmp_path, 2) as workers:
        code = workers.proc.wait(30)
        log = workers.text()
    assert code != 0, log
    assert "keep dying at start" in log, log
    assert len(_STARTED.findall(log)) <= 2 + 5, log  # backed off, then gave up
