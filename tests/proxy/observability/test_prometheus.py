"""A real Prometheus scrapes ``/metrics`` of a ``tokenway --workers 2``: what it reads,
through its query API, is what the test sent (plain, streamed and failed requests)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.proxy.crash_helpers import stored_rows, tokenway_process
from tests.proxy.observability.obs_helpers import Sent, mixed_run, write_config
from tests.proxy.observability.prometheus_server import prometheus_binary, prometheus_scraping

from tokenway.emulator import Emulator, EmulatorConfig, run_emulator_in_thread


@pytest.fixture(scope="module")
def upstream() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,))) as emu:
        yield emu


def _stored_cost(workdir: Path, count: int) -> float:
    deadline = time.monotonic() + 30
    while len(rows := stored_rows(None, workdir)) < count:
        assert time.monotonic() < deadline, f"{len(rows)} spend rows of {count}"
        time.sleep(0.1)
    return sum(row.cost or 0.0 for row in rows)


def _writers(shared: Path) -> set[str]:
    """The processes that counted something (prometheus-client's file per pid)."""
    return {path.stem.rsplit("_", 1)[1] for path in shared.glob("counter_*.db")}


def _until_both_workers_served(port: int, shared: Path) -> list[Sent]:
    """Mixed runs, four at a time on their own connections, until both workers served."""
    runs: list[Sent] = []
    with ThreadPoolExecutor(4) as pool:
        while len(_writers(shared)) < 2:
            assert len(runs) < 40, "one worker took every connection"
            runs += pool.map(mixed_run, [port] * 4)
    return runs


def test_prometheus_reads_what_two_workers_served(
    upstream: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prometheus_binary()
    shared = tmp_path / "multiproc"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    config = write_config(tmp_path / "config.yaml", upstream.base_url, callbacks=["prometheus"])
    with (
        tokenway_process(config, tmp_path, "metrics", "--workers", "2") as proxy,
        prometheus_scraping(proxy.port, MASTER_KEY, tmp_path) as prometheus,
    ):
        runs = _until_both_workers_served(proxy.port, shared)
        requests = sum(r.requests for r in runs)
        failures = sum(r.failures for r in runs)
        prompt = sum(r.prompt for r in runs)
        tokens = prompt + sum(r.completion for r in runs)
        prometheus.wait_for("sum(litellm_proxy_total_requests_metric_total)", requests)
        prometheus.wait_for("sum(litellm_proxy_failed_requests_metric_total)", failures)
        prometheus.wait_for("sum(litellm_requests_metric_total)", requests - failures)
        prometheus.wait_for("sum(litellm_input_tokens_metric_total)", prompt)
        prometheus.wait_for("sum(litellm_total_tokens_metric_total)", tokens)
        spend = prometheus.query("sum(litellm_spend_metric_total)")
        unknown = 'litellm_proxy_failed_requests_metric_total{requested_model="unknown"}'
        assert prometheus.query(f"sum({unknown})") == len(runs)
        latency = "sum(litellm_request_total_latency_metric_count)"
        assert prometheus.query(latency) == requests
        assert prometheus.query("sum(litellm_llm_api_time_to_first_token_metric_count)") == 2 * len(
            runs
        )  # a stream's first bytes, twice a run
        refused = 'litellm_deployment_failure_responses_total{exception_class="invalid_api_key"}'
        assert prometheus.query(f"sum({refused})") == len(runs)  # the upstream refused the key
        # its upstream refused its key: a partial outage (1), or cooled down (2)
        assert prometheus.query('max(litellm_deployment_state{model_id="broken-3"})') in (1, 2)
        # tokenway's own, added up over the workers: Prometheus's own connection is open
        assert (prometheus.query("tokenway_open_connections") or 0) >= 1
        assert prometheus.query("tokenway_in_flight_requests") == 0
        assert (prometheus.query("tokenway_spend_writer_lag_seconds") or 0) < 10
        # Scrapes answered by either worker all see the whole: the sum never dips.
        time.sleep(3)
        total = "sum(litellm_proxy_total_requests_metric_total)"
        assert prometheus.query(f"min_over_time({total}[3s:500ms])") == requests
        assert proxy.stop() == 0  # its workers write their last spend rows
    cost = _stored_cost(tmp_path, requests)
    assert spend == pytest.approx(cost, rel=1e-9)
    assert cost > 0
