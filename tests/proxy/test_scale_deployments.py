"""Deployment limits across processes: a deployment's rpm (and max_parallel_requests) is
counted once for every instance sharing a Redis, and for the workers of ``--workers N``
without one; the calls are counted where they arrive, at the upstream."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.proxy.conftest import UPSTREAM_KEY
from tests.proxy.crash_helpers import tokenway_process
from tests.proxy.scale_helpers import chat, new_key, ready, scale_config

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread


@pytest.fixture
def upstream() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,), rpm=1_000_000)) as emu:
        yield emu


def _config(
    path: Path, upstream: Emulator, database_url: str, redis: str | None, **limits: Any
) -> Path:
    """``redis``: "url prefix" (the test's own keys), or None."""
    url, prefix = redis.split() if redis else (None, "")
    config = scale_config(path, upstream.base_url, database_url, url, prefix)
    data = yaml.safe_load(config.read_text())
    data["model_list"][0]["litellm_params"].update(limits)
    router = data.setdefault("router_settings", {})
    router["max_wait_for_capacity"] = 0  # a full deployment answers 429 at once
    config.write_text(yaml.safe_dump(data))
    return config


def test_a_deployment_with_rpm_30_sees_30_calls_from_3_instances(
    tmp_path: Path, upstream: Emulator, postgres_schema_url: str, redis_url: str, redis_prefix: str
) -> None:
    redis = f"{redis_url} {redis_prefix}"
    config = _config(tmp_path / "c.yaml", upstream, postgres_schema_url, redis, rpm=30)
    with ExitStack() as stack:
        ports = [
            stack.enter_context(tokenway_process(config, tmp_path, f"instance-{n}")).port
            for n in range(3)
        ]
        key = new_key(ports[0])
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda n: chat(ports[n % 3], key, f"r{n}"), range(90)))

    statuses = [a.status for a in answers]
    assert upstream.app.requests_total == 30
    assert statuses.count(200) == 30
    refused = [a for a in answers if a.status != 200]
    assert {a.status for a in refused} == {429}
    assert {a.body["error"]["code"] for a in refused} == {"deployments_saturated"}


def test_max_parallel_requests_of_a_deployment_holds_across_instances(
    tmp_path: Path, upstream: Emulator, postgres_schema_url: str, redis_url: str, redis_prefix: str
) -> None:
    redis = f"{redis_url} {redis_prefix}"
    config = _config(
        tmp_path / "c.yaml", upstream, postgres_schema_url, redis, max_parallel_requests=2
    )
    with ExitStack() as stack:
        ports = [
            stack.enter_context(tokenway_process(config, tmp_path, f"instance-{n}")).port
            for n in range(2)
        ]
        key = new_key(ports[0])
        upstream.faults = FaultConfig(latency_ms=1000)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: chat(ports[n % 2], key), range(8)))
        upstream.faults = FaultConfig()
        deadline = time.monotonic() + 5  # a slot is given back just after its answer went
        while (after := chat(ports[1], key)).status == 429 and time.monotonic() < deadline:
            time.sleep(0.05)

    assert sorted(a.status for a in answers) == [200, 200, *[429] * 6]
    assert after.status == 200


def test_without_redis_the_workers_share_a_deployment_s_rpm(
    tmp_path: Path, upstream: Emulator, postgres_schema_url: str
) -> None:
    config = _config(tmp_path / "c.yaml", upstream, postgres_schema_url, None, rpm=10)
    with tokenway_process(config, tmp_path, "workers", "--workers", "2") as proxy:
        ready(proxy.port)
        key = new_key(proxy.port)
        answers = [chat(proxy.port, key, f"r{n}") for n in range(30)]

    assert upstream.app.requests_total == 10
    assert [a.status for a in answers].count(200) == 10
