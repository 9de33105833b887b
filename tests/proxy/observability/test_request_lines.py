"""The request log's lines, made from records directly: one line per request whatever
the client's text, whole lines per write, and a count of what was dropped."""

from __future__ import annotations

import io
import time

import orjson
import pytest

from tokenway.proxy.observability import RequestLog, RequestRecord
from tokenway.proxy.observability import request_log as module
from tokenway.store.base import SpendRow


def _record(alias: str = "m", status: int = 200) -> RequestRecord:
    row = SpendRow(
        request_id="r1", key_hash="ab" * 32, user_id=None, team_id="t1", model_alias=alias,
        deployment="m-0", prompt_tokens=3, completion_tokens=4, cost=1.5e-6, latency_ms=2.0,
        status=status, error_code=None if status == 200 else "upstream_error", stream=False,
        started_at=time.time(), payload=None, usage_estimated=False,
    )  # fmt: skip
    return RequestRecord(
        row, "POST", "/v1/chat/completions", "chat", "ci key", None, "openai/x", 1, 0, 1.0, None
    )


def test_a_plain_line_stays_one_line_whatever_the_model_name() -> None:
    out = io.StringIO()
    log = RequestLog(stream=out)
    log.emit(_record('evil\nINFO tokenway.request: forged "line" key=x'))
    log.emit(_record(status=502))
    log.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert 'model="evil\\nINFO tokenway.request: forged \\"line\\" key=x"' in lines[0]
    assert 'key_alias="ci key"' in lines[0] and f"key_hash={'ab' * 8} " in lines[0]
    assert "retries=1" in lines[0] and "error_code=upstream_error" in lines[1]


def test_a_plain_line_quotes_a_path_that_carries_the_clients_text() -> None:
    out = io.StringIO()
    log = RequestLog(stream=out)
    azure = "/openai/deployments/m key=x/chat/completions"  # the Azure route's model
    log.emit(_record()._replace(path=azure))
    log.close()
    line = out.getvalue()
    assert f"POST {orjson.dumps(azure).decode()} 200" in line
    assert " POST /openai/deployments/m key=x" not in line


def test_json_lines_parse() -> None:
    out = io.StringIO()
    log = RequestLog(json=True, stream=out)
    log.emit(_record("ünïcode\n"))
    log.close()
    (line,) = out.getvalue().splitlines()
    data = orjson.loads(line)
    assert data["model"] == "ünïcode\n" and data["key_hash"] == "ab" * 8
    assert data["logger"] == "tokenway.request" and data["level"] == "INFO"


class _Writes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def test_writes_hold_whole_lines_within_a_pipes_atomic_size() -> None:
    out = _Writes()
    log = RequestLog(stream=out)
    for _ in range(100):
        log.emit(_record())
    log.flush()
    assert len(out.writes) > 1
    for text in out.writes:
        assert text.endswith("\n") and len(text) <= module.ATOMIC_WRITE


def test_a_log_that_falls_behind_drops_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    log = RequestLog(stream=out, interval=3600)
    monkeypatch.setattr(module, "MAX_PENDING", 3)
    for _ in range(5):
        log.emit(_record())
    log.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert (
        lines[-1] == "WARNING tokenway.request: 2 request log line(s) dropped: the log fell behind"
    )


def test_a_line_of_each_shape_has_its_fields_in_order() -> None:
    base = _record(status=502)
    row = base.row._replace(cost=None, usage_estimated=True, started_at=1_700_000_000.0421)
    out = io.StringIO()
    log = RequestLog(stream=out)
    log.emit(base._replace(row=row))
    log.emit(_record())
    log.close()
    estimated, plain = out.getvalue().splitlines()
    assert estimated.startswith("INFO tokenway.request: 2023-11-14T22:13:20.042Z POST ")
    assert " total_tokens=7 usage_estimated=True latency_ms=2.000 upstream_ms=1.000 " in estimated
    assert "cost=" not in estimated and estimated.endswith(" error_code=upstream_error")
    assert " total_tokens=7 cost=1.5e-06 latency_ms=2.000 " in plain
    assert plain.endswith(" retries=1 fallbacks=0") and "usage_estimated" not in plain


def test_a_line_longer_than_a_write_goes_whole_between_whole_lines() -> None:
    out = _Writes()
    log = RequestLog(stream=out)
    log.emit(_record())
    log.emit(_record("m" * (module.ATOMIC_WRITE + 10)))
    for _ in range(30):
        log.emit(_record())
    log.flush()
    assert len(out.writes) > 2 and "".join(out.writes).count("\n") == 32
    for text in out.writes:
        assert text.endswith("\n")
        assert len(text) <= module.ATOMIC_WRITE or text.count("\n") == 1
