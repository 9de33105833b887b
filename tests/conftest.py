"""Shared fixtures: a real Inference.net emulator on a loopback port, and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine, Iterator
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
