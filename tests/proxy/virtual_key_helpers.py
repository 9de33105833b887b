"""End-to-end pieces for the virtual-key tests: a proxy over a chosen store in front of the
emulator, the management API over plain HTTP (as an operator's script calls it), an
OpenAI SDK client per key, the catalog's price of a usage, and a bounded poll."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from openai import AsyncOpenAI, OpenAI
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, RunningProxy, proxy_config, running_proxy

from tokenway.catalog import Catalog
from tokenway.emulator import Emulator

STORES = ("sqlite", "postgresql")
ALIAS = "llama-3.1-8b-instruct"
OTHER_ALIAS = "llama-3.2-3b-instruct"
MESSAGES: Any = [{"role": "user", "content": "Say something about budgets."}]
FLUSH_WAIT = 5.0  # seconds: the spend writer flushes every second; this only stops a hang
FAST_FLUSH = {"proxy_batch_write_at": 0.2}  # spend rows reach the store 5x as often

_T = TypeVar("_T")


def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL for ``request.param``: a SQLite file in ``tmp_path``, or a fresh
    PostgreSQL schema (skipped where PostgreSQL is absent, failed in CI)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tokenway.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@contextmanager
def keyed_proxy(emulator: Emulator, database_url: str, **general: Any) -> Iterator[RunningProxy]:
    """A real proxy with a master key over ``database_url``, in front of ``emulator``."""
    config = proxy_config(emulator.base_url, database_url=database_url, **general)
    with running_proxy(config) as proxy:
        yield proxy


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: Any

    @property
    def error(self) -> dict[str, Any]:
        """The OpenAI error envelope's inner object (asserting the envelope's shape)."""
        assert set(self.body) == {"error"}, self.body
        error: dict[str, Any] = self.body["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        return error


class Management:
    """The management API with one bearer key (the master key unless told otherwise)."""

    def __init__(self, proxy: RunningProxy, key: str | None = MASTER_KEY) -> None:
        self._base = proxy.url
        self._key = key

    def post(self, path: str, body: Any) -> Reply:
        return self._send("POST", path, json.dumps(body).encode())

    def get(self, path: str, **query: Any) -> Reply:
        return self._send("GET", f"{path}?{urlencode(query)}" if query else path, None)

    def new_key(self, **fields: Any) -> dict[str, Any]:
        reply = self.post("/key/generate", fields)
        assert reply.status == 200, reply.body
        created: dict[str, Any] = reply.body
        return created

    def key_info(self, key: str) -> dict[str, Any]:
        reply = self.get("/key/info", key=key)
        assert reply.status == 200, reply.body
        info: dict[str, Any] = reply.body["info"]
        return info

    def spend_logs(self, **query: Any) -> list[dict[str, Any]]:
        reply = self.get("/spend/logs", **query)
        assert reply.status == 200, reply.body
        rows: list[dict[str, Any]] = reply.body
        return rows

    def _send(self, method: str, target: str, body: bytes | None) -> Reply:
        headers = {"content-type": "application/json"}
        if self._key is not None:
            headers["authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(
            self._base + target, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return _reply(answer.status, answer.headers.items(), answer.read())
        except urllib.error.HTTPError as failed:
            return _reply(failed.code, failed.headers.items(), failed.read())


def _reply(status: int, headers: list[tuple[str, str]], raw: bytes) -> Reply:
    return Reply(status, {name.lower(): value for name, value in headers}, json.loads(raw))


def sdk(proxy: RunningProxy, key: str) -> OpenAI:
    """The OpenAI SDK on the proxy with ``key``; no retries, so every refusal shows."""
    return OpenAI(base_url=f"{proxy.url}/v1", api_key=key, max_retries=0, timeout=10)


def async_sdk(proxy: RunningProxy, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{proxy.url}/v1", api_key=key, max_retries=0, timeout=30)


def catalog_cost(alias: str, prompt_tokens: int, completion_tokens: int) -> float:
    """What the bundled catalog says ``alias``'s deployment charges for this usage."""
    info = Catalog().get(BRIEF_MODELS[alias])
    assert info is not None and info.input_cost_per_token and info.output_cost_per_token
    return (
        prompt_tokens * info.input_cost_per_token + completion_tokens * info.output_cost_per_token
    )


def wait_for(probe: Callable[[], _T | None], timeout: float = FLUSH_WAIT) -> _T:
    """Call ``probe`` until it returns something other than None (or fail after
    ``timeout`` seconds); the bound is generous, it only stops a broken test hanging."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout} s")
        time.sleep(0.05)


def flushed_rows(
    admin: Management,
    count: int,
    where: Callable[[dict[str, Any]], bool] = lambda row: True,
    **query: Any,
) -> list[dict[str, Any]]:
    """The spend rows matching ``query`` and ``where`` (newest first) once the writer has
    stored ``count`` of them."""

    def probe() -> list[dict[str, Any]] | None:
        rows = [row for row in admin.spend_logs(size=1000, **query) if where(row)]
        return rows if len(rows) >= count else None

    return wait_for(probe)
