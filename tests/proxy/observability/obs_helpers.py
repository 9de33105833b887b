"""A mixed run against a real ``tokenway`` process: plain and streamed answers, an unknown
model, an upstream that refuses the deployment's key; and what it should have counted."""

from __future__ import annotations

import http.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, UPSTREAM_KEY

CHAT = next(iter(BRIEF_MODELS))  # an alias the emulator serves
BROKEN = "broken"  # a deployment whose upstream key the emulator refuses
WRONG_KEY = "sk-wrong-upstream-key-never-logged"


def write_config(path: Path, api_base: str, **litellm: Any) -> Path:
    entries = [
        {
            "model_name": alias,
            "litellm_params": {"model": model, "api_base": api_base, "api_key": UPSTREAM_KEY},
        }
        for alias, model in BRIEF_MODELS.items()
    ]
    entries.append(
        {
            "model_name": BROKEN,
            "litellm_params": {
                "model": BRIEF_MODELS[CHAT],
                "api_base": api_base,
                "api_key": WRONG_KEY,
            },
        }
    )
    data = {
        "model_list": entries,
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {"num_retries": 0, **litellm},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@dataclass
class Sent:
    """What the client saw: requests, failures, tokens and cost."""

    requests: int = 0
    failures: int = 0
    prompt: int = 0
    completion: int = 0
    cost: float = 0.0
    ids: list[str] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return self.requests - self.failures


def _post(port: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=orjson.dumps(body),
            headers={"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def other_calls(port: int) -> list[tuple[str, str, int]]:
    """Requests that are not model requests: (method, path, status) of each. The key's
    list is asked with a key in its query, which no line may show."""
    calls = [
        ("GET", "/health/readiness", None),
        ("GET", f"/key/info?key={MASTER_KEY}", MASTER_KEY),
        ("GET", "/v1/models", MASTER_KEY),
        ("GET", "/key/list", "sk-not-a-key-of-this-proxy"),
        ("GET", "/no/such/route", MASTER_KEY),
    ]
    done = []
    for method, target, key in calls:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(method, target, headers={"authorization": f"Bearer {key}"} if key else {})
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        done.append((method, target.split("?")[0], response.status))
    return done


def _usage(status: int, body: bytes, stream: bool) -> dict[str, int]:
    if status != 200:
        return {"prompt_tokens": 0, "completion_tokens": 0}
    if not stream:
        return dict(orjson.loads(body)["usage"])
    frames = [line[6:] for line in body.split(b"\n") if line.startswith(b"data: {")]
    return dict(next(u for f in frames if (u := orjson.loads(f).get("usage"))))


def mixed_run(port: int, plain: int = 3, streams: int = 2) -> Sent:
    """``plain`` answers, ``streams`` streamed ones, one unknown model, one refused key."""
    sent = Sent()
    messages = [{"role": "user", "content": "count the tokens of this"}]
    bodies: list[dict[str, Any]] = [{"model": CHAT, "messages": messages}] * plain
    stream = {"stream": True, "stream_options": {"include_usage": True}}
    bodies += [{"model": CHAT, "messages": messages, **stream}] * streams
    bodies += [{"model": "no-such-model", "messages": messages}]
    bodies += [{"model": BROKEN, "messages": messages}]
    for body in bodies:
        status, headers, raw = _post(port, body)
        sent.requests += 1
        sent.failures += status != 200
        usage = _usage(status, raw, bool(body.get("stream")))
        sent.prompt += usage["prompt_tokens"]
        sent.completion += usage["completion_tokens"]
        sent.cost += float(headers.get("x-tokenway-response-cost", 0))
        sent.ids.append(headers["x-request-id"])
    return sent
