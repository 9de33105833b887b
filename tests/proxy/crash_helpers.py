"""The crash test's parts: a real ``tokenway`` process, load to kill it under, its rows read back.

The proxy runs as a subprocess so that SIGKILL really ends it mid-request: no ``finally``,
no shutdown flush, only what the spend journal had handed to the OS survives. Spend rows
are read straight from the store (stdlib ``sqlite3`` read-only, or asyncpg), not through
the proxy, so duplicates would show even if an endpoint hid them.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from tests.conftest import run_private_loop
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, UPSTREAM_KEY

from tokenway.proxy.accounting.journal import decode_row

_BANNER = re.compile(r"RUNNING on http://127\.0\.0\.1:(\d+)")
_DONE = b"data: [DONE]\n\n"
JOURNAL_DIR = "tokenway-journal"
DB_FILE = "tokenway.db"


def write_config(path: Path, api_base: str, **general: Any) -> Path:
    """A config.yaml with the brief's models pointing at ``api_base`` and a master key."""
    entries = [
        {
            "model_name": alias,
            "litellm_params": {"model": model, "api_base": api_base, "api_key": UPSTREAM_KEY},
        }
        for alias, model in BRIEF_MODELS.items()
    ]
    data = {
        "model_list": entries,
        "general_settings": {"master_key": MASTER_KEY, **general},
        "litellm_settings": {"num_retries": 0},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@dataclass
class ProxyProcess:
    """One ``tokenway --config`` process serving from ``workdir``."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM: drain and flush the spend writer, as in a normal shutdown."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


@contextmanager
def tokenway_process(
    config: Path, workdir: Path, tag: str, *options: str
) -> Iterator[ProxyProcess]:
    """Start the proxy in ``workdir`` on a free loopback port; yield once its banner is out.
    It runs in a session of its own, so its workers (``--workers N``) go with it."""
    out, err = workdir / f"{tag}.stdout", workdir / f"{tag}.stderr"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LITELLM_MASTER_KEY")}
    args = ["--config", str(config), "--host", "127.0.0.1", "--port", "0", *options]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tokenway.cli", *args],
            cwd=workdir,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        yield ProxyProcess(proc, _wait_for_banner(proc, out, err), err)
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever failed, leave nothing behind
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _wait_for_banner(proc: subprocess.Popen[bytes], out: Path, err: Path) -> int:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        match = _BANNER.search(out.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"the proxy did not start; stderr:\n{err.read_text(errors='replace')}")


@dataclass
class Load:
    """Client threads sending chat requests until ``stop``; who got a whole answer."""

    port: int
    threads: int = 8
    received: set[str] = field(default_factory=set)  # request ids answered in full
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), daemon=True)
            self._workers.append(worker)
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(15)
        assert not any(w.is_alive() for w in self._workers), "a load thread hung"

    def _run(self, n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        aliases = itertools.cycle(BRIEF_MODELS)
        for i in itertools.count():
            if self._stop.is_set():
                break
            request_id = f"crash-{n}-{i}-{uuid.uuid4().hex[:8]}"
            stream = (n + i) % 2 == 0
            with self._lock:
                self.sent += 1
            try:
                whole = _send(conn, request_id, next(aliases), stream)
            except (OSError, http.client.HTTPException):
                conn.close()  # killed mid-answer, or refused once it is gone
                time.sleep(0.01)
                continue
            if whole:
                with self._lock:
                    self.received.add(request_id)
        conn.close()


def client_id(spend_id: str) -> str:
    """The client's x-request-id of a spend row: the proxy appends ``.<random>`` to it so a
    reused id cannot merge two requests' rows."""
    return spend_id.rsplit(".", 1)[0]


def _send(conn: http.client.HTTPConnection, request_id: str, alias: str, stream: bool) -> bool:
    """One chat request; True when the client got the whole answer."""
    body = {
        "model": alias,
        "messages": [{"role": "user", "content": f"crash test {request_id}"}],
        "max_tokens": 12,
        "stream": stream,
    }
    headers = {
        "authorization": f"Bearer {MASTER_KEY}",
        "content-type": "application/json",
        "x-request-id": request_id,
    }
    conn.request("POST", "/v1/chat/completions", body=orjson.dumps(body), headers=headers)
    response = conn.getresponse()
    try:
        data = response.read()
    except http.client.IncompleteRead as cut:
        # Cut before the chunked terminator: a stream is still whole if [DONE] arrived.
        conn.close()
        return stream and response.status == 200 and cut.partial.endswith(_DONE)
    if response.status != 200:
        return False
    if stream:
        return data.endswith(_DONE)
    return bool(orjson.loads(data).get("choices"))


@dataclass(frozen=True)
class StoredRow:
    request_id: str
    status: int
    error_code: str | None
    cost: float | None


def stored_rows(database_url: str | None, workdir: Path) -> list[StoredRow]:
    """Every spend row in the store (PostgreSQL at ``database_url``, else the SQLite file)."""
    if database_url is not None:
        return run_private_loop(_postgres_rows(database_url))
    path = workdir / DB_FILE
    if not path.exists():
        return []
    conn = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=5)
    try:
        cursor = conn.execute("SELECT request_id, status, error_code, cost FROM spend_logs")
        return [StoredRow(client_id(row[0]), *row[1:]) for row in cursor.fetchall()]
    finally:
        conn.close()


async def _postgres_rows(url: str) -> list[StoredRow]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch("SELECT request_id, status, error_code, cost FROM spend_logs")
    finally:
        await conn.close()
    return [
        StoredRow(client_id(r["request_id"]), r["status"], r["error_code"], r["cost"]) for r in rows
    ]


def journaled_ids(workdir: Path) -> Counter[str]:
    """Request ids in the journal files left on disk (a torn last line is skipped)."""
    found: Counter[str] = Counter()
    for path in sorted((workdir / JOURNAL_DIR).glob("*/*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                found[client_id(decode_row(line).request_id)] += 1
            except ValueError:
                continue
    return found


def wait_for_rows(
    database_url: str | None, workdir: Path, wanted: set[str], timeout: float = 15.0
) -> list[StoredRow]:
    """Poll the store until it holds a row for each of ``wanted`` (or the bound passes)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = stored_rows(database_url, workdir)
        if wanted <= {row.request_id for row in rows} or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
