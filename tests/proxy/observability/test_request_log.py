"""The request log of a real ``tokenway`` process: a line per request, in JSON or plain
text, with every field, and no secret in any line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.proxy.crash_helpers import tokenway_process
from tests.proxy.observability.obs_helpers import (
    WRONG_KEY,
    mixed_run,
    other_calls,
    write_config,
)

from tokenway.emulator import Emulator, EmulatorConfig, run_emulator_in_thread

FIELDS = {
    "time", "level", "logger", "message", "request_id", "method", "path", "status", "model",
    "deployment", "upstream_model", "key_alias", "key_hash", "team", "user", "stream",
    "prompt_tokens", "completion_tokens", "total_tokens", "usage_estimated", "cost",
    "latency_ms", "upstream_ms", "retries", "fallbacks", "error_code",
}  # fmt: skip
SECRETS = (MASTER_KEY, UPSTREAM_KEY, WRONG_KEY)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,))) as emu:
        yield emu


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize("how", ["option", "config", "env"])
def test_json_lines_carry_every_field(
    upstream: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    litellm = {"json_logs": True} if how == "config" else {}
    options = ("--log-format", "json") if how == "option" else ()
    if how == "env":
        monkeypatch.setenv("JSON_LOGS", "True")
    config = write_config(tmp_path / "config.yaml", upstream.base_url, **litellm)
    with tokenway_process(config, tmp_path, "log", *options) as proxy:
        sent = mixed_run(proxy.port)
        others = other_calls(proxy.port)
        assert proxy.stop() == 0
    text = proxy.log.read_text()
    _assert_no_secret(text)
    lines = [orjson.loads(line) for line in text.splitlines()]  # every line is JSON
    logged = [line for line in lines if line["logger"] == "tokenway.request"]
    requests = [line for line in logged if line["path"] == "/v1/chat/completions"]
    _assert_other_lines(logged, others)
    assert [line["request_id"] for line in requests] == sent.ids
    for line in requests:
        assert {k for k in line if line[k] is not None} <= FIELDS <= set(line), line
        assert line["method"] == "POST" and line["path"] == "/v1/chat/completions"
    by_status = sorted(line["status"] for line in requests)
    assert by_status == [200] * sent.successes + [404, 502]
    assert sum(line["prompt_tokens"] for line in requests) == sent.prompt
    assert sum(line["completion_tokens"] for line in requests) == sent.completion
    assert sum(line["stream"] for line in requests) == 2
    failed = {line["status"]: line for line in requests if line["status"] != 200}
    assert failed[404]["error_code"] == "model_not_found"
    assert failed[502]["error_code"] == "invalid_api_key"
    assert failed[502]["deployment"] == "broken-3"
    messages = [line["message"] for line in lines if line["logger"] != "tokenway.request"]
    assert any(m.startswith("started: serving on http://") for m in messages)  # and the rest:
    assert any("shutting down" in m for m in messages) and "stopped" in messages


def _assert_other_lines(
    logged: list[dict[str, object]], others: list[tuple[str, str, int]]
) -> None:
    """The non-model requests' lines, in the order sent (the process's own readiness
    probes before them), with their status and latency."""
    seen = [(line["method"], line["path"], line["status"]) for line in logged]
    assert seen[-len(others) :] == others
    assert [s for _, _, s in others] == [200, 404, 200, 401, 404]  # no key of that hash
    for line in logged[-len(others) :]:
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
        assert line["message"] == f"{line['method']} {line['path']} {line['status']}"
    refused = logged[-2]
    assert refused["error_code"] and refused["key_hash"] is None
    assert logged[-4]["key_hash"]  # the master key, by its hash prefix


def test_plain_lines_one_per_request(upstream: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", upstream.base_url)
    with tokenway_process(config, tmp_path, "plain") as proxy:
        sent = mixed_run(proxy.port)
        others = other_calls(proxy.port)
        assert proxy.stop() == 0
    text = proxy.log.read_text()
    _assert_no_secret(text)
    logged = [line for line in text.splitlines() if line.startswith("INFO tokenway.request:")]
    lines = [line for line in logged if " POST /v1/chat/completions " in line]
    for line, (method, path, status) in zip(logged[-len(others) :], others, strict=True):
        assert f" {method} {path} {status} " in line and " latency_ms=" in line
    # the other lines in the same shape: level, logger, time, message
    started = re.compile(r"INFO tokenway: \d{4}-\d\d-\d\dT[\d:.]+Z started: serving on ")
    assert any(started.match(line) for line in text.splitlines())
    assert len(lines) == sent.requests
    for line, request_id in zip(lines, sent.ids, strict=True):
        assert f"request_id={request_id} " in line
        assert " POST /v1/chat/completions " in line
    assert "model=no-such-model" in "\n".join(lines)


def test_no_request_lines_above_info(upstream: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", upstream.base_url)
    with tokenway_process(config, tmp_path, "quiet", "--log-level", "warning") as proxy:
        mixed_run(proxy.port, plain=1, streams=1)
        assert proxy.stop() == 0
    assert "tokenway.request" not in proxy.log.read_text()
