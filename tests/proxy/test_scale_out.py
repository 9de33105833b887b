"""Several proxy processes act as one gateway: real processes, one PostgreSQL, one Redis.

Instances are separate ``tokenway`` processes (as behind a load balancer; the test spreads
the requests itself) or the workers of one ``tokenway --workers 2``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
import yaml
from tests.conftest import RedisServer
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.proxy.crash_helpers import tokenway_process, wait_for_rows
from tests.proxy.scale_helpers import Answer, call, chat, new_key, ready, scale_config

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread


@pytest.fixture(scope="module")
def upstream() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,), rpm=1_000_000)) as emu:
        yield emu


@pytest.fixture
def config(
    tmp_path: Path, upstream: Emulator, postgres_schema_url: str, redis_url: str, redis_prefix: str
) -> Path:
    upstream.faults = FaultConfig()
    return scale_config(
        tmp_path / "config.yaml", upstream.base_url, postgres_schema_url, redis_url, redis_prefix
    )


def instances(stack: ExitStack, config: Path, workdir: Path, count: int) -> list[int]:
    """Start ``count`` proxies on ``config``; their ports."""
    return [
        stack.enter_context(tokenway_process(config, workdir, f"instance-{n}")).port
        for n in range(count)
    ]


def spread(ports: list[int], key: str, count: int) -> list[Answer]:
    """``count`` requests, one after another, taking the instances in turn."""
    turns = itertools.cycle(ports)
    return [chat(next(turns), key, f"request {n}") for n in range(count)]


def test_rpm_10_admits_10_of_40_over_two_instances(config: Path, tmp_path: Path) -> None:
    with ExitStack() as stack:
        ports = instances(stack, config, tmp_path, 2)
        key = new_key(ports[0], rpm_limit=10)
        answers = spread(ports, key, 40)

    assert [a.status for a in answers].count(200) == 10
    assert {a.status for a in answers[10:]} == {429}
    assert answers[9].headers["x-ratelimit-remaining-requests"] == "0"
    assert answers[10].body["error"]["code"] == "rpm_limit_exceeded"


def test_rpm_10_admits_10_of_40_over_two_workers(config: Path, tmp_path: Path) -> None:
    with tokenway_process(config, tmp_path, "workers", "--workers", "2") as proxy:
        ready(proxy.port)
        key = new_key(proxy.port, rpm_limit=10)
        answers = spread([proxy.port], key, 40)
        banner = (tmp_path / "workers.stdout").read_text()

    assert [a.status for a in answers].count(200) == 10
    assert "rate limits: counted in Redis redis://127.0.0.1:6379" in banner


def test_max_parallel_2_holds_across_instances(
    config: Path, tmp_path: Path, upstream: Emulator
) -> None:
    with ExitStack() as stack:
        ports = instances(stack, config, tmp_path, 2)
        key = new_key(ports[0], max_parallel_requests=2)
        upstream.faults = FaultConfig(latency_ms=1500)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: chat(ports[n % 2], key), range(8)))
        upstream.faults = FaultConfig()
        # a slot is given back once the request has settled, just after its answer went
        deadline = time.monotonic() + 5
        while (after := chat(ports[1], key)).status == 429 and time.monotonic() < deadline:
            time.sleep(0.05)

    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 200, *[429] * 6]
    refused = [a for a in answers if a.status == 429]
    assert {a.body["error"]["code"] for a in refused} == {"max_parallel_requests_exceeded"}
    assert after.status == 200  # the slots were given back


def test_a_key_blocked_on_one_instance_is_refused_by_the_other_within_a_second(
    config: Path, tmp_path: Path
) -> None:
    """Pub/sub, not the key cache's refresh (about 2 s plus a query) that it replaces."""
    with ExitStack() as stack:
        a, b = instances(stack, config, tmp_path, 2)
        key = new_key(a)
        assert chat(b, key).status == 200  # b has the key in its cache now
        assert call(a, "/key/block", {"key": key}).status == 200
        blocked = time.monotonic()
        while (answer := chat(b, key)).status == 200:
            assert time.monotonic() - blocked < 1.0, "b still serves the blocked key"
            time.sleep(0.02)

    assert answer.status == 401 and answer.body["error"]["code"] == "key_blocked"


def test_a_deployment_cooled_down_by_one_instance_is_skipped_by_the_other(
    tmp_path: Path,
    upstream: Emulator,
    postgres_schema_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    """Two deployments of one alias; the one answering 429 (retry in 30 s) is cooled down
    by A at its first failure, and B sends it nothing."""
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,))) as limited:
        limited.faults = FaultConfig(error_rate=1.0, error_status=429, retry_after_s=30)
        config = scale_config(
            tmp_path / "c.yaml", upstream.base_url, postgres_schema_url, redis_url, redis_prefix
        )
        data = yaml.safe_load(config.read_text())
        healthy = data["model_list"][0]
        sick = {**healthy, "litellm_params": {**healthy["litellm_params"]}}
        sick["litellm_params"]["api_base"] = limited.base_url
        data["model_list"] = [healthy, sick]
        config.write_text(yaml.safe_dump(data))
        with ExitStack() as stack:
            a, b = instances(stack, config, tmp_path, 2)
            key = new_key(a)
            for _ in range(50):  # until A has met the 429 once (and cooled it down)
                chat(a, key)
                if limited.app.requests_total:
                    break
            calls = limited.app.requests_total
            time.sleep(0.3)  # the cooldown reaches b
            answers = [chat(b, key) for _ in range(20)]
            sent_by_b = limited.app.requests_total - calls

    assert calls == 1
    assert sent_by_b == 0, "b called the deployment a had cooled down"
    assert {answer.status for answer in answers} == {200}


def test_without_redis_two_workers_share_one_counter(
    tmp_path: Path, upstream: Emulator, postgres_schema_url: str
) -> None:
    config = scale_config(tmp_path / "c.yaml", upstream.base_url, postgres_schema_url, None, "")
    with tokenway_process(config, tmp_path, "workers", "--workers", "2") as proxy:
        ready(proxy.port)
        key = new_key(proxy.port, rpm_limit=10)
        answers = spread([proxy.port], key, 40)
        banner = (tmp_path / "workers.stdout").read_text()

    assert [a.status for a in answers].count(200) == 10
    assert "rate limits: counted once for the 2 workers" in banner


class Load:
    """Threads sending chat requests to the instances in turn until stopped."""

    def __init__(self, ports: list[int], key: str, threads: int = 4) -> None:
        self._ports, self._key = ports, key
        self.answers: list[Answer] = []
        self.failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def served(self) -> int:
        with self._lock:
            return sum(1 for a in self.answers if a.status == 200)

    def _run(self, n: int) -> None:
        port = self._ports[n % len(self._ports)]
        while not self._stop.is_set():
            try:
                answer = chat(port, self._key, f"load {n}")
            except OSError:
                with self._lock:
                    self.failures += 1
                continue
            with self._lock:
                self.answers.append(answer)


def _wait(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.05)


def test_redis_killed_mid_load(
    tmp_path: Path, upstream: Emulator, postgres_schema_url: str, own_redis: RedisServer
) -> None:
    """Requests keep being served, each instance warns once, counting resumes in Redis
    when it returns, and every request served has its spend row. The key has a budget
    too: its reservations fall back to each process, and go back to Redis."""
    upstream.faults = FaultConfig()
    config = scale_config(
        tmp_path / "c.yaml", upstream.base_url, postgres_schema_url, own_redis.url, "k:"
    )
    with ExitStack() as stack:
        procs = [
            stack.enter_context(tokenway_process(config, tmp_path, f"instance-{n}"))
            for n in range(2)
        ]
        ports = [proc.port for proc in procs]
        key = new_key(ports[0], rpm_limit=100_000, max_budget=1_000.0)
        with Load(ports, key) as load:
            _wait(lambda: load.served() >= 20)
            own_redis.kill()
            during = load.served()
            _wait(lambda: load.served() >= during + 40)
            own_redis.start()
            time.sleep(2.0)  # the probes (every second) find it again
            after = load.served()
            _wait(lambda: load.served() >= after + 20)
        limited = new_key(ports[0], rpm_limit=5)
        resumed = [chat(ports[n % 2], limited).status for n in range(12)]
        budgeted = new_key(ports[0], max_budget=1.0)  # reserved in Redis again: both see it
        assert chat(ports[0], budgeted).status == 200
        with redis.Redis.from_url(own_redis.url) as client:
            assert client.keys("k:b:key:*"), "the budget was not reserved in Redis"
        assert [proc.stop() for proc in procs] == [0, 0]

    assert load.failures == 0
    assert {a.status for a in load.answers} == {200}
    assert resumed.count(200) == 5  # counted once again, in the Redis that came back
    for n in range(2):
        text = (tmp_path / f"instance-{n}.stderr").read_text()
        assert text.count("rate limits and budgets are counted per process") == 1, text
        assert "is back" in text
    served = {a.headers["x-request-id"] for a in load.answers}
    rows = wait_for_rows(postgres_schema_url, tmp_path, served)
    assert served <= {row.request_id for row in rows if row.status == 200}


def test_redis_outage_refuse_answers_503_for_limited_keys_only(
    tmp_path: Path, upstream: Emulator, postgres_schema_url: str, own_redis: RedisServer
) -> None:
    """``redis_outage: refuse``: while Redis is away, a key with a limit or a budget gets
    503 (and its spend row); a key without either, and the master key, are served."""
    upstream.faults = FaultConfig()
    config = scale_config(
        tmp_path / "c.yaml", upstream.base_url, postgres_schema_url, own_redis.url, "s:"
    )
    data = yaml.safe_load(config.read_text())
    data["router_settings"]["redis_outage"] = "refuse"
    config.write_text(yaml.safe_dump(data))
    with tokenway_process(config, tmp_path, "strict") as proc:
        limited = new_key(proc.port, rpm_limit=100)
        budgeted = new_key(proc.port, max_budget=10.0)
        free = new_key(proc.port)
        assert {chat(proc.port, k).status for k in (limited, budgeted, free)} == {200}
        own_redis.kill()
        during = [chat(proc.port, k) for k in (limited, budgeted, free, MASTER_KEY)]
        own_redis.start()
        _wait(lambda: chat(proc.port, limited).status == 200)
        after = chat(proc.port, budgeted)
        stderr = (tmp_path / "strict.stderr").read_text()

    assert [a.status for a in during] == [503, 503, 200, 200]
    assert {a.body["error"]["code"] for a in during[:2]} == {"redis_unavailable"}
    assert during[0].headers["retry-after"] == "1"
    assert after.status == 200
    assert stderr.count("are refused (503) until it returns") == 1, stderr
