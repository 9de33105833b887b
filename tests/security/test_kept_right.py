"""Issue 11, "already right, keep it so": SQL-injection strings are data, and no secret
(the master key, a virtual key, the upstream key) reaches a log, the journal, the store or
an answer of the proxy's own, except the one answer that shows a new key once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.proxy.crash_helpers import DB_FILE, JOURNAL_DIR, tokenway_process, write_config
from tests.security.wire import WireResponse, exchange, request_bytes, send_json

from tokenway.emulator import Emulator, EmulatorConfig, run_emulator_in_thread

INJECTIONS = [
    "x'); DROP TABLE keys; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM spend_logs WHERE 1=1",
    "\\'; SELECT pg_sleep(5); --",
]
MESSAGES = [{"role": "user", "content": "Hi"}]
ALIAS = "llama-3.1-8b-instruct"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(UPSTREAM_KEY,))) as emu:
        yield emu


def _auth(key: str) -> str:
    return f"Authorization: Bearer {key}\r\n"


def _get(port: int, path: str, key: str = MASTER_KEY) -> WireResponse:
    raw = request_bytes("GET", path, None, "Connection: close\r\n", auth=_auth(key))
    return exchange(port, raw)


def _post(port: int, path: str, body: Any, key: str = MASTER_KEY) -> WireResponse:
    return send_json(port, "POST", path, body, auth=_auth(key))


def test_injection_strings_are_stored_and_found_as_data(upstream: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", upstream.base_url)
    with tokenway_process(config, tmp_path, "sql") as proxy:
        for text in INJECTIONS:
            made = _post(proxy.port, "/key/generate", {"key_alias": text, "user_id": text})
            assert made.status == 200, made.body
            info = _get(proxy.port, f"/user/info?user_id={_quote(text)}")
            assert info.status == 200 and info.json()["user_id"] == text, info.body
        unknown = _get(proxy.port, f"/key/info?key={_quote(INJECTIONS[1])}")
        assert unknown.status == 404, unknown.body
        listed = _get(proxy.port, "/key/list?return_full_object=true&size=100")
        assert listed.status == 200, listed.body
        aliases = sorted(k["key_alias"] for k in listed.json()["keys"])
        assert aliases == sorted(INJECTIONS)
        logs = _get(proxy.port, f"/spend/logs?user_id={_quote(INJECTIONS[3])}")
        assert logs.status == 200 and logs.json() == [], logs.body
        assert proxy.stop() == 0
    with sqlite3.connect(tmp_path / DB_FILE) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"keys", "spend_logs"} <= tables


def test_no_secret_leaves_but_the_new_key_once(upstream: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", upstream.base_url, proxy_batch_write_at=0.1)
    answers: list[bytes] = []
    with tokenway_process(config, tmp_path, "secrets") as proxy:
        made = _post(proxy.port, "/key/generate", {"key_alias": "leak-check"})
        secret = made.json()["key"]
        calls = [
            _post(proxy.port, "/v1/chat/completions", {"model": ALIAS, "messages": MESSAGES},
                  key=secret),
            _post(proxy.port, "/v1/chat/completions",
                  {"model": ALIAS, "messages": MESSAGES, "stream": True}, key=secret),
            _post(proxy.port, "/v1/chat/completions", {"model": "nope", "messages": MESSAGES},
                  key=secret),
            _post(proxy.port, "/v1/chat/completions", {"model": ALIAS, "messages": []},
                  key=secret),
            _post(proxy.port, "/key/generate", {}, key=secret),  # not the master key: 403
            _get(proxy.port, "/key/list?return_full_object=true"),
            _get(proxy.port, f"/key/info?key={secret}"),
            _get(proxy.port, "/spend/logs"),
            _get(proxy.port, "/health"),
            _get(proxy.port, "/openapi.json"),
        ]  # fmt: skip
        assert [c.status for c in calls[:5]] == [200, 200, 404, 400, 403]
        answers = [c.head + c.body for c in calls]
        assert proxy.stop() == 0
    places = {"answers": b"".join(answers), "log": proxy.log.read_bytes()}
    places["store"] = (tmp_path / DB_FILE).read_bytes()
    places["journal"] = b"".join(p.read_bytes() for p in (tmp_path / JOURNAL_DIR).rglob("*.*"))
    for name, data in places.items():
        for label, value in (("virtual key", secret), ("master key", MASTER_KEY),
                             ("upstream key", UPSTREAM_KEY)):  # fmt: skip
            assert value.encode() not in data, f"the {label} is in the {name}"


def _quote(text: str) -> str:
    return quote(text, safe="")
