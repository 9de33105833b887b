"""Shared fixtures: a real Inference.net emulator on a loopback port, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread
from tokenway.store import redact_url

EMULATOR_KEY = "emulator-test-key"


@pytest.fixture(scope="session")
def sdk_emulator() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(EMULATOR_KEY,), rpm=1_000_000)) as emu:
        yield emu


@pytest.fixture
def inference_env(sdk_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """INFERENCE_API_KEY / INFERENCE_API_BASE pointing at the emulator, faults cleared."""
    monkeypatch.setenv("INFERENCE_API_KEY", EMULATOR_KEY)
    monkeypatch.setenv("INFERENCE_API_BASE", sdk_emulator.base_url)
    sdk_emulator.faults = FaultConfig()
    yield sdk_emulator
    sdk_emulator.faults = FaultConfig()


# --- PostgreSQL -------------------------------------------------------------------------
# Tests that need a service skip where it is missing, unless TOKENWAY_REQUIRE_SERVICES=1
# (CI) turns the skip into a failure. The server runs with trust auth on 127.0.0.1:5432;
# TOKENWAY_TEST_POSTGRES_URL points the tests at another one (and only that one).

POSTGRES_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)
_T = TypeVar("_T")


def require_service(name: str, problem: str) -> NoReturn:
    """Skip the test (fail it when TOKENWAY_REQUIRE_SERVICES=1) for a missing service."""
    if os.environ.get("TOKENWAY_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (TOKENWAY_REQUIRE_SERVICES=1): {problem}", pytrace=False)
    pytest.skip(f"{name} not reachable ({problem}); CI sets TOKENWAY_REQUIRE_SERVICES=1")


def run_private_loop(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on a loop of its own, leaving any test's event loop untouched."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL URL that answers now (user postgres, else root); skips otherwise."""
    chosen = os.environ.get("TOKENWAY_TEST_POSTGRES_URL")
    problems = []
    for url in [chosen] if chosen else POSTGRES_CANDIDATES:
        try:
            run_private_loop(_postgres_execute(url, "SELECT 1"))
        except Exception as err:
            problems.append(f"{redact_url(url)}: {err or type(err).__name__}")
        else:
            return url
    require_service("PostgreSQL", "; ".join(problems))


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """``postgres_url`` with ``search_path`` set to a new empty schema, dropped afterwards:
    each test gets its own tables (usable as DATABASE_URL / with ``open_store``)."""
    schema = "tokenway_test_" + secrets.token_hex(6)
    run_private_loop(_postgres_execute(postgres_url, f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{separator}search_path={schema}"
    finally:
        run_private_loop(_postgres_execute(postgres_url, f"DROP SCHEMA {schema} CASCADE"))


async def _postgres_execute(url: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# --- Redis ------------------------------------------------------------------------------
# The shared server on 127.0.0.1:6379 (TOKENWAY_TEST_REDIS_URL: another one); each test
# keeps to keys under a prefix of its own. A test that kills Redis starts its own server.

REDIS_CANDIDATE = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL that answers now; skips otherwise (fails under CI's variable)."""
    url = os.environ.get("TOKENWAY_TEST_REDIS_URL") or REDIS_CANDIDATE
    try:
        run_private_loop(_redis_ping(url))
    except Exception as err:
        require_service("Redis", f"{redact_url(url)}: {err or type(err).__name__}")
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"tokenway-test-{secrets.token_hex(6)}:"
    yield prefix
    run_private_loop(_redis_delete(redis_url, prefix))


class RedisServer:
    """A ``redis-server`` of the test's own on a free loopback port: stop and start it."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self._proc = subprocess.Popen(
            ["redis-server", *args, "no", "--dir", str(self._workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def _answers(self) -> bool:
        """PING over a plain socket: usable from inside a running event loop too."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None


@pytest.fixture
def own_redis(redis_url: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis server (started), for tests that kill it; needs ``redis-server``."""
    if shutil.which("redis-server") is None:
        require_service("redis-server", "the binary is not installed")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _redis_ping(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _redis_delete(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
