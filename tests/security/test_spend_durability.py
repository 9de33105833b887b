"""Issue 11, item 7 and readiness: no spend row lost at SIGTERM or to a store fault.

Each test runs the real ``tokenway`` process (or, for the PostgreSQL outage, a proxy in
this process) in front of the emulator, and counts rows in the store plus the journal
files left on disk, read directly rather than through the proxy.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
import yaml
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, proxy_config
from tests.proxy.crash_helpers import (
    ProxyProcess,
    client_id,
    journaled_ids,
    stored_rows,
    tokenway_process,
    write_config,
)
from tests.proxy.test_store_outage import Relay, relayed_url
from tests.proxy.virtual_key_helpers import ALIAS, MESSAGES, keyed_proxy, sdk
from tests.security.wire import connect, request_bytes

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread
from tokenway.errors import TokenwayError
from tokenway.http.server import HTTPServer
from tokenway.proxy.app import create_app, protocol_error
from tokenway.retry import Backoff

__all__ = ["relayed_url"]  # a fixture, used by name below

UPSTREAM_LATENCY_MS = 2000  # the call is still in flight when SIGTERM arrives


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[Emulator]:
    faults = FaultConfig(latency_ms=UPSTREAM_LATENCY_MS)
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,), faults=faults)) as emu:
        yield emu


@pytest.fixture(scope="module")
def upstream() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,))) as emu:
        yield emu


def _chat_bytes(request_id: str, stream: bool = False) -> bytes:
    body = {"model": ALIAS, "messages": MESSAGES, "max_tokens": 5, "stream": stream}
    return request_bytes(
        "POST", "/v1/chat/completions", orjson.dumps(body), f"X-Request-Id: {request_id}\r\n"
    )


def _send_and_leave(port: int, request_id: str, stream: bool = False) -> None:
    """Send a chat request and close the socket before any answer can have come."""
    with connect(port) as sock:
        sock.sendall(_chat_bytes(request_id, stream))


def _config_with_retries(path: Path, api_base: str) -> Path:
    """The crash tests' config with the router's retries on (their backoff is what let the
    row arrive after the writer closed)."""
    write_config(path, api_base)
    data = yaml.safe_load(path.read_text())
    data["litellm_settings"]["num_retries"] = 2
    path.write_text(yaml.safe_dump(data))
    return path


def _count(request_id: str, database_url: str | None, workdir: Path) -> int:
    stored = sum(row.request_id == request_id for row in stored_rows(database_url, workdir))
    return stored + journaled_ids(workdir)[request_id]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_sigterm_with_the_client_gone_loses_no_row(
    slow_upstream: Emulator, tmp_path: Path, stream: bool
) -> None:
    workdir = tmp_path / "proxy"
    workdir.mkdir()
    config = _config_with_retries(tmp_path / "config.yaml", slow_upstream.base_url)
    with tokenway_process(config, workdir, "sigterm") as proxy:
        _send_and_leave(proxy.port, "left-before-sigterm", stream)
        time.sleep(0.5)  # the proxy has the request and is waiting on the upstream
        started = time.monotonic()
        assert proxy.stop() == 0
        assert time.monotonic() - started < 10
    log = proxy.log.read_text()
    assert "not stored" not in log and "Traceback" not in log, log
    assert _count("left-before-sigterm", None, workdir) == 1, log
    (row,) = [r for r in stored_rows(None, workdir) if r.request_id == "left-before-sigterm"]
    assert row.error_code != "api_connection_error", row  # the upstream was not cut off


class _RetryLater(Backoff):
    def delay(self, attempt: int, error: TokenwayError) -> float:
        return 1.5  # longer than the drain and the writer's close


async def test_a_call_still_running_after_the_drain_leaves_its_row_in_the_journal(
    slow_upstream: Emulator, tmp_path: Path
) -> None:
    """The drain is bounded; a request that ends after the writer closed (here: one that
    waits to retry) is journaled anyway, and the next start stores it."""
    config = proxy_config(slow_upstream.base_url, num_retries=2)
    app = create_app(config, env={}, data_dir=tmp_path, backoff=_RetryLater())
    server = HTTPServer(app, error_responder=protocol_error)
    await app.start()
    await server.start("127.0.0.1", 0)
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_chat_bytes("late-row"))
    await writer.drain()
    await asyncio.sleep(0.3)
    # The app closes while the server still runs the handler for a client that waits (a
    # client that left would cancel it, and the server's own shutdown would wait for it,
    # then cancel it: either closes its row before the writer closes).
    await app.aclose(drain_timeout=0.1)  # the upstream answers only after 2 s
    assert app.services.writer is not None
    for _ in range(100):  # its retry finds the upstream connections closed, and it ends
        if app.services.writer.rows_late:
            break
        await asyncio.sleep(0.05)
    assert app.services.writer.rows_late == 1
    assert journaled_ids(tmp_path)["late-row"] == 1
    writer.close()
    await server.shutdown(1.0)

    again = create_app(config, env={}, data_dir=tmp_path)
    await again.start()
    await again.aclose()
    assert [r.request_id for r in stored_rows(None, tmp_path)] == ["late-row"]
    assert not journaled_ids(tmp_path)


# ---- the SQLite file's directory deleted while the proxy runs ---------------------------


def _readiness(port: int) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/health/readiness")
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        conn.close()


def _wait_readiness(
    port: int,
    status: int,
    timeout: float = 15.0,
    until: Callable[[dict[str, object]], bool] = lambda _body: True,
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        got, body = _readiness(port)
        if (got == status and until(body)) or time.monotonic() > deadline:
            assert got == status and until(body), body
            return body
        time.sleep(0.05)


def _chat(proxy: ProxyProcess, request_id: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        headers = {
            "authorization": f"Bearer {MASTER_KEY}",
            "content-type": "application/json",
            "x-request-id": request_id,
        }
        body = {"model": ALIAS, "messages": MESSAGES, "max_tokens": 5}
        conn.request("POST", "/v1/chat/completions", orjson.dumps(body), headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _rows_in(db: Path) -> set[str]:
    if not db.exists():
        return set()
    conn = sqlite3.connect(db.as_uri() + "?mode=ro", uri=True, timeout=5)
    try:
        return {client_id(r[0]) for r in conn.execute("SELECT request_id FROM spend_logs")}
    finally:
        conn.close()


def _wait_rows(db: Path, wanted: set[str], timeout: float = 15.0) -> set[str]:
    deadline = time.monotonic() + timeout
    while not wanted <= (found := _rows_in(db)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_deleting_the_sqlite_directory_loses_no_row_and_readiness_tells(
    upstream: Emulator, tmp_path: Path
) -> None:
    workdir, db_dir = tmp_path / "proxy", tmp_path / "db"
    workdir.mkdir()
    db = db_dir / "spend.db"
    config = write_config(
        tmp_path / "config.yaml",
        upstream.base_url,
        database_url=f"sqlite:///{db}",
        proxy_batch_write_at=0.1,
    )
    with tokenway_process(config, workdir, "unlinked") as proxy:
        assert _chat(proxy, "before") == 200
        assert "before" in _wait_rows(db, {"before"})
        assert _wait_readiness(proxy.port, 200)["db"] == "connected"

        shutil.rmtree(db_dir)
        during = {f"during-{n}" for n in range(3)}
        assert all(_chat(proxy, request_id) == 200 for request_id in sorted(during))
        assert _wait_readiness(proxy.port, 503)["db"] == "unavailable"
        time.sleep(0.5)  # several flushes fail meanwhile: still one log line
        assert during <= journaled_ids(workdir).keys()  # kept, not emptied into the void

        db_dir.mkdir()
        assert _wait_readiness(proxy.port, 200)["db"] == "connected"
        assert during <= _wait_rows(db, during)
        assert proxy.stop() == 0
    log = proxy.log.read_text()
    assert log.count("was deleted") == 1, log
    assert "new, empty database" in log, log
    assert not during & journaled_ids(workdir).keys()


@contextmanager
def _unwritable(directory: Path) -> Iterator[None]:
    """``directory`` made unwritable: by its mode, or (for root, whom modes do not stop)
    by the immutable attribute, where the file system has one."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        undo = ["chmod", "700", str(directory)]
    else:
        made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"cannot make a directory unwritable for root here: {made.stderr!r}")
        undo = ["chattr", "-i", str(directory)]
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


def test_an_unwritable_sqlite_directory_is_reported_down(
    upstream: Emulator, tmp_path: Path
) -> None:
    workdir, db_dir = tmp_path / "proxy", tmp_path / "db"
    workdir.mkdir()
    config = write_config(
        tmp_path / "config.yaml",
        upstream.base_url,
        database_url=f"sqlite:///{db_dir / 'spend.db'}",
        proxy_batch_write_at=0.1,
    )
    with tokenway_process(config, workdir, "readonly") as proxy:
        assert _chat(proxy, "first") == 200
        assert "first" in _wait_rows(db_dir / "spend.db", {"first"})
        with _unwritable(db_dir):
            assert _chat(proxy, "while-readonly") == 200
            assert _wait_readiness(proxy.port, 503)["db"] == "unavailable"
            assert "while-readonly" in journaled_ids(workdir)
        assert _wait_readiness(proxy.port, 200)["db"] == "connected"
        assert "while-readonly" in _wait_rows(db_dir / "spend.db", {"while-readonly"})
        assert proxy.stop() == 0
    assert "cannot be written" in proxy.log.read_text()


# ---- readiness during a PostgreSQL outage -------------------------------------------


def test_readiness_reports_a_postgres_outage_until_a_flush_succeeds(
    emulator: Emulator, relayed_url: tuple[str, Relay]
) -> None:
    url, relay = relayed_url
    with keyed_proxy(emulator, url, proxy_batch_write_at=0.1) as proxy:
        client = sdk(proxy, MASTER_KEY)
        client.chat.completions.create(model=ALIAS, messages=MESSAGES, max_tokens=5)
        assert _wait_readiness(proxy.port, 200)["db"] == "connected"
        relay.cut()
        client.chat.completions.create(model=ALIAS, messages=MESSAGES, max_tokens=5)
        assert _wait_readiness(proxy.port, 503)["db"] == "unavailable"
        relay.restore()
        assert _wait_readiness(proxy.port, 200)["db"] == "connected"


def test_a_proxy_told_to_serve_through_outages_stays_ready_but_says_degraded(
    emulator: Emulator, relayed_url: tuple[str, Relay]
) -> None:
    url, relay = relayed_url
    settings = {"proxy_batch_write_at": 0.1, "allow_requests_on_db_unavailable": True}
    with keyed_proxy(emulator, url, **settings) as proxy:
        client = sdk(proxy, MASTER_KEY)
        relay.cut()
        client.chat.completions.create(model=ALIAS, messages=MESSAGES, max_tokens=5)
        body = _wait_readiness(proxy.port, 200, until=lambda b: b["db"] == "unavailable")
        assert body["status"] == "degraded"
        relay.restore()
        assert _wait_readiness(proxy.port, 200, until=lambda b: b["db"] == "connected")
