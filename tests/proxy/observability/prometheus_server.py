"""A real Prometheus server (Debian's ``prometheus``) scraping a proxy, for the tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prometheus_binary() -> str:
    """The binary, else a skip (a failure under ``TOKENWAY_REQUIRE_SERVICES``)."""
    found = shutil.which("prometheus")
    if found is None:
        reason = "the prometheus server is not installed (apt-get install prometheus)"
        if os.environ.get("TOKENWAY_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


class Prometheus:
    def __init__(self, port: int) -> None:
        self.port = port

    def query(self, expr: str) -> float | None:
        """An instant query's single value, or None when it has no sample."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        with urllib.request.urlopen(url, timeout=5) as response:
            data = json.load(response)
        result = data["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, expected: float, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.query(expr)
            if value is not None and abs(value - expected) < 1e-9:
                return
            time.sleep(0.25)
        raise AssertionError(f"{expr} = {value}, expected {expected}")

    def scrapes(self, job: str) -> float:
        return self.query(f'count_over_time(up{{job="{job}"}}[1h])') or 0.0


@contextmanager
def prometheus_scraping(target_port: int, bearer: str, workdir: Path) -> Iterator[Prometheus]:
    binary = prometheus_binary()
    port = _free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "tokenway",
                "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials": bearer},
                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
            }
        ],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={path}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        server = Prometheus(port)
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1).close()
                break
            assert proc.poll() is None, (workdir / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.1)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
