"""Several real ``tokenway`` processes on one PostgreSQL and one Redis, and a client that
spreads requests over them itself (no balancer)."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY
from tests.proxy.crash_helpers import write_config

ALIAS = next(iter(BRIEF_MODELS))


def scale_config(
    path: Path, api_base: str, database_url: str, redis_url: str | None, prefix: str
) -> Path:
    """The crash test's config on PostgreSQL, with Redis counting the limits (when given)."""
    write_config(path, api_base, database_url=database_url)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if redis_url is not None:
        data["router_settings"] = {"redis_url": redis_url, "redis_key_prefix": prefix}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def call(
    port: int, path: str, body: dict[str, Any] | None = None, *, key: str = MASTER_KEY
) -> Answer:
    """One request on a new connection (so ``--workers`` spreads them over its workers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        method = "GET" if body is None else "POST"
        conn.request(
            method, path, body=None if body is None else orjson.dumps(body), headers=headers
        )
        response = conn.getresponse()
        data = response.read()
        return Answer(
            response.status,
            orjson.loads(data) if data else {},
            {name.lower(): value for name, value in response.getheaders()},
        )
    finally:
        conn.close()


def ready(port: int, timeout: float = 15.0) -> None:
    """Until 20 new connections in a row find a ready process (every worker has started)."""
    deadline = time.monotonic() + timeout
    streak = 0
    while streak < 20:
        assert time.monotonic() < deadline, "the proxy's workers never all became ready"
        streak = streak + 1 if call(port, "/health/readiness").status == 200 else 0


def chat(port: int, key: str, content: str = "hello") -> Answer:
    body = {"model": ALIAS, "messages": [{"role": "user", "content": content}], "max_tokens": 8}
    return call(port, "/v1/chat/completions", body, key=key)


def new_key(port: int, **limits: Any) -> str:
    answer = call(port, "/key/generate", limits)
    assert answer.status == 200, answer.body
    key: str = answer.body["key"]
    return key
