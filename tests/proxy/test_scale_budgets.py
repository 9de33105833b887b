"""The budget bar across processes: a key whose budget covers 20 requests, 200 of them at
once spread over two real proxies (one PostgreSQL, one Redis) or over the two workers of
``--workers 2`` without Redis, spends at most 21 requests' worth and serves at least 20."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.proxy.crash_helpers import stored_rows, tokenway_process
from tests.proxy.scale_helpers import ALIAS, call, chat, new_key, ready, scale_config
from tests.proxy.virtual_key_helpers import catalog_cost

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread

COVERED = 20
CONCURRENT = 200
MAX_TOKENS = 8  # chat()'s: below the emulator's shortest answer, so always 8


@pytest.fixture(scope="module")
def upstream() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,), rpm=1_000_000)) as emu:
        emu.faults = FaultConfig(latency_ms=50)  # requests overlap across the instances
        yield emu


def _config(
    path: Path, upstream: Emulator, database_url: str, redis: str | None, prefix: str = ""
) -> Path:
    config = scale_config(path, upstream.base_url, database_url, redis, prefix)
    data = yaml.safe_load(config.read_text())
    data["general_settings"]["proxy_batch_write_at"] = 0.2
    config.write_text(yaml.safe_dump(data))
    return config


def _price(port: int) -> float:
    """One request's catalog price (the emulator is deterministic), from a master-key call."""
    usage = chat(port, MASTER_KEY, "request").body["usage"]
    assert usage["completion_tokens"] == MAX_TOKENS
    return catalog_cost(ALIAS, usage["prompt_tokens"], usage["completion_tokens"])


async def _burst(ports: list[int], key: str) -> list[httpx.Response]:
    """``CONCURRENT`` requests at once, each on its own connection, the ports in turn."""
    body = {"model": ALIAS, "messages": [{"role": "user", "content": "request"}]}
    body["max_tokens"] = MAX_TOKENS  # type: ignore[assignment]
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        calls = [
            client.post(
                f"http://127.0.0.1:{ports[n % len(ports)]}/v1/chat/completions",
                json=body,
                headers={"authorization": f"Bearer {key}"},
            )
            for n in range(CONCURRENT)
        ]
        return await asyncio.gather(*calls)


def _check(ports: list[int], database_url: str, workdir: Path) -> None:
    price = _price(ports[0])
    key = new_key(ports[0], max_budget=COVERED * price)
    answers = asyncio.run(_burst(ports, key))

    served = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(served) >= COVERED
    assert {a.status_code for a in refused} == {400}, {a.text for a in refused}
    assert {a.json()["error"]["code"] for a in refused} == {"budget_exceeded"}
    served_ids = {a.headers["x-request-id"] for a in served}
    for _ in range(100):  # every served request's row reaches the store
        rows = [r for r in stored_rows(database_url, workdir) if r.request_id in served_ids]
        if len(rows) == len(served):
            break
        asyncio.run(asyncio.sleep(0.1))
    assert len(rows) == len(served)
    spent = sum(row.cost or 0.0 for row in rows)
    assert spent <= (COVERED + 1) * price * (1 + 1e-9), (len(served), spent / price)
    info = call(ports[1 % len(ports)], f"/key/info?key={key}")
    assert info.body["info"]["spend"] == pytest.approx(spent)


def test_200_concurrent_requests_over_two_instances_stay_within_one_request_of_budget(
    tmp_path: Path,
    upstream: Emulator,
    postgres_schema_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    config = _config(tmp_path / "c.yaml", upstream, postgres_schema_url, redis_url, redis_prefix)
    with ExitStack() as stack:
        ports = [
            stack.enter_context(tokenway_process(config, tmp_path, f"instance-{n}")).port
            for n in range(2)
        ]
        _check(ports, postgres_schema_url, tmp_path)


def test_200_concurrent_requests_over_two_workers_without_redis(
    tmp_path: Path, upstream: Emulator, postgres_schema_url: str
) -> None:
    config = _config(tmp_path / "c.yaml", upstream, postgres_schema_url, None)
    with tokenway_process(config, tmp_path, "workers", "--workers", "2") as proxy:
        ready(proxy.port)
        _check([proxy.port], postgres_schema_url, tmp_path)
