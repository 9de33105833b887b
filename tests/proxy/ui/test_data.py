"""The UI's own views over real HTTP: the overview's figures from seeded spend rows, log
filters, key search and pages, the models' state and a test call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.proxy.conftest import RunningProxy, proxy_config, running_proxy
from tests.proxy.ui.ui_helpers import logged_in

from tokenway.emulator import Emulator
from tokenway.store.base import SpendRow

NOW = time.time()


def row(n: int, **fields: object) -> SpendRow:
    values: dict[str, object] = {
        "request_id": f"r{n}",
        "key_hash": None,
        "user_id": None,
        "team_id": None,
        "model_alias": "llama-3.1-8b-instruct",
        "deployment": None,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost": 0.5,
        "latency_ms": 20.0,
        "status": 200,
        "error_code": None,
        "stream": False,
        "started_at": NOW - 600,
        "payload": '{"messages": "a secret prompt"}',
    }
    values.update(fields)
    return SpendRow(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def seeded(emulator: Emulator) -> Iterator[tuple[RunningProxy, httpx.Client, str]]:
    with running_proxy(proxy_config(emulator.base_url)) as running:
        client, csrf = logged_in(running.url)
        made = client.post(
            "/ui/api/key/generate",
            json={"key_alias": "billing", "max_budget": 4.0},
            headers={"x-csrf-token": csrf},
        ).json()
        rows = [
            row(1, key_hash=made["token"], cost=1.0),
            row(2, key_hash=made["token"], status=429, error_code="rate_limited", cost=None),
            row(3, model_alias="mistral-nemo-12b-instruct", cost=2.0, started_at=NOW - 7200),
            row(4, started_at=NOW - 3 * 86_400),  # outside the last 24 hours
        ]
        store = running.app.services.store
        asyncio.run_coroutine_threadsafe(store.add_spend(rows), running.loop).result(10)
        yield running, client, made["token"]


def test_the_overview_of_the_last_day(seeded: tuple[RunningProxy, httpx.Client, str]) -> None:
    _, client, token = seeded
    data = client.get("/ui/api/overview").json()
    assert data["bucket"] == "hour" and data["range"] == "24h"
    assert data["totals"]["requests"] == 3 and data["totals"]["errors"] == 1
    assert data["totals"]["cost"] == 3.0
    assert sum(p["requests"] for p in data["series"]) == 3
    assert all(data["start"] <= p["t"] <= data["end"] for p in data["series"])
    assert [m["group"] for m in data["by_model"]] == [
        "mistral-nemo-12b-instruct",
        "llama-3.1-8b-instruct",
    ]
    billing = next(k for k in data["by_key"] if k["group"] == token)
    assert billing["name"] == "billing" and billing["requests"] == 2
    assert data["budgets"][0]["name"] == "billing" and data["budgets"][0]["used"] == 0.25
    week = client.get("/ui/api/overview", params={"range": "7d"}).json()
    assert week["bucket"] == "day" and week["totals"]["requests"] == 4
    bad = client.get("/ui/api/overview", params={"range": "1y"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "range"


def test_logs_filter_by_status_and_key_and_never_show_prompts(
    seeded: tuple[RunningProxy, httpx.Client, str],
) -> None:
    _, client, token = seeded
    failed = client.get("/ui/api/logs", params={"status": "failure"}).json()
    assert [r["request_id"] for r in failed["rows"]] == ["r2"]
    mine = client.get("/ui/api/logs", params={"key": token}).json()
    assert {r["request_id"] for r in mine["rows"]} == {"r1", "r2"}
    assert all("payload" not in r for r in mine["rows"])
    paged = client.get("/ui/api/logs", params={"size": 2}).json()
    assert len(paged["rows"]) == 2 and paged["more"] is True
    last = client.get("/ui/api/logs", params={"size": 2, "page": 2}).json()
    assert len(last["rows"]) == 2 and last["more"] is False


def test_key_search_and_pages(seeded: tuple[RunningProxy, httpx.Client, str]) -> None:
    _, client, token = seeded
    found = client.get("/ui/api/keys", params={"search": "BILL"}).json()
    assert [k["token"] for k in found["keys"]] == [token] and found["total"] == 1
    assert client.get("/ui/api/keys", params={"search": "nothing-like-it"}).json()["total"] == 0
    usage = client.get("/ui/api/key/usage", params={"key": token}).json()
    assert usage["totals"]["requests"] == 2 and usage["key"]["key_alias"] == "billing"
    missing = client.get("/ui/api/key/usage", params={"key": "0" * 64})
    assert missing.status_code == 404


def test_models_and_a_test_call(seeded: tuple[RunningProxy, httpx.Client, str]) -> None:
    _, client, _ = seeded
    models = client.get("/ui/api/models").json()["models"]
    llama = next(m for m in models if m["alias"] == "llama-3.1-8b-instruct")
    assert llama["deployments"][0]["state"] == "available"
    assert llama["last_hour"]["requests"] == 2
    csrf = logged_in(seeded[0].url)[1]
    tested = client.post(
        "/ui/api/models/test",
        json={"model": "llama-3.1-8b-instruct"},
        headers={"x-csrf-token": csrf},
    )
    assert tested.status_code == 403  # another session's token
    client2, csrf2 = logged_in(seeded[0].url)
    tested = client2.post(
        "/ui/api/models/test",
        json={"model": "llama-3.1-8b-instruct"},
        headers={"x-csrf-token": csrf2},
    ).json()
    assert tested["status"] == 200 and tested["content"]
    unknown = client2.post(
        "/ui/api/models/test", json={"model": "nope"}, headers={"x-csrf-token": csrf2}
    )
    assert unknown.status_code == 400
