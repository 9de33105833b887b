"""The request log of a real ``tokenway`` process: a line per request, in JSON or plain
text, with every field, and no secret in any line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.proxy.crash_helpers import tokenway_process
from tests.proxy.observability.obs_helpers import WRONG_KEY, mixed_run, write_config

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
        assert proxy.stop() == 0
    text = proxy.log.read_text()
    _assert_no_secret(text)
    lines = [orjson.loads(line) for line in text.splitlines()]  # every line is JSON
    requests = [line for line in lines if line["logger"] == "tokenway.request"]
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
    assert any("shutting down" in line["message"] for line in lines)  # not only requests


def test_plain_lines_one_per_request(upstream: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", upstream.base_url)
    with tokenway_process(config, tmp_path, "plain") as proxy:
        sent = mixed_run(proxy.port)
        assert proxy.stop() == 0
    text = proxy.log.read_text()
    _assert_no_secret(text)
    lines = [line for line in text.splitlines() if line.startswith("INFO tokenway.request:")]
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
