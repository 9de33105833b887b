"""``/spend/logs`` and ``/global/spend/report`` over rows stored with ``store.add_spend``."""

from __future__ import annotations

from typing import Any

import pytest
from tests.proxy.admin.admin_helpers import SERVED, START, Admin, spend_row

DAY = 86400


@pytest.fixture
async def spent(admin: Admin) -> dict[str, Any]:
    """Rows over three days for two keys, users, teams and models (newest = highest n)."""
    a = await admin.new_key(user_id="ann")
    b = await admin.new_key(user_id="ben")
    rows = [
        spend_row(0, key_hash=a["token"], user_id="ann", team_id="t1", cost=1.0),
        spend_row(1, key_hash=a["token"], user_id="ann", team_id="t1", model_alias=SERVED[1]),
        spend_row(2, key_hash=b["token"], user_id="ben", team_id="t2", cost=None, status=500,
                  error_code="upstream_error"),
        spend_row(3, key_hash=b["token"], user_id="ben", team_id="t2", started_at=START + DAY,
                  stream=True, cost=2.0),
        spend_row(4, key_hash=a["token"], user_id="ann", team_id="t1",
                  started_at=START + 2 * DAY + 30, cost=0.5),
    ]  # fmt: skip
    assert await admin.store.add_spend(rows) == 5
    return {"a": a, "b": b}


def request_ids(reply: Any) -> list[str]:
    return [row["request_id"] for row in reply.json]


async def test_logs_newest_first_with_litellm_names(admin: Admin, spent: dict[str, Any]) -> None:
    reply = await admin.get("/spend/logs")
    assert reply.status == 200
    assert request_ids(reply) == [f"req-spend-{n}" for n in (4, 3, 2, 1, 0)]
    row = reply.json[-1]
    assert row == {
        "request_id": "req-spend-0",
        "api_key": spent["a"]["token"],
        "user": "ann",
        "team_id": "t1",
        "model": SERVED[0],
        "model_group": SERVED[0],
        "model_id": "dep-1",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "spend": 1.0,
        "startTime": "2026-01-01T00:00:00+00:00",
        "endTime": "2026-01-01T00:00:00.120000+00:00",
        "latency_ms": 120.0,
        "status": "success",
        "http_status": 200,
        "error_code": None,
        "stream": False,
        "usage_estimated": False,
        "end_user": None,
        "organization_id": None,
        "response_id": None,
        "metadata": {
            "user_api_key": spent["a"]["token"],
            "user_api_key_user_id": "ann",
            "user_api_key_team_id": "t1",
            "user_api_key_org_id": None,
            "user_api_key_end_user_id": None,
        },
    }
    failed = reply.json[2]
    assert failed["status"] == "failure" and failed["spend"] is None
    assert failed["error_code"] == "upstream_error"


_FILTER_CASES: list[tuple[dict[str, str], list[int]]] = [
    ({"user_id": "ben"}, [3, 2]),
    ({"team_id": "t1"}, [4, 1, 0]),
    ({"model": SERVED[1]}, [1]),
    ({"start_date": "2026-01-02"}, [4, 3]),
    ({"end_date": "2026-01-01"}, [2, 1, 0]),  # a bare end date includes its day
    ({"start_date": "2026-01-01T00:01:00Z", "end_date": "2026-01-02"}, [3, 2, 1]),
    ({"start_date": "2026-01-03T00:00:00", "end_date": "2026-01-03T00:00:30+00:00"}, []),
    ({"user_id": "ann", "start_date": "2026-01-02"}, [4]),
]


async def test_log_filters(admin: Admin, spent: dict[str, Any]) -> None:
    for query, expected in _FILTER_CASES:
        reply = await admin.get("/spend/logs", **query)
        assert reply.status == 200, reply.raw
        assert request_ids(reply) == [f"req-spend-{n}" for n in expected], query


async def test_logs_by_key_secret_or_hash(admin: Admin, spent: dict[str, Any]) -> None:
    by_secret = await admin.get("/spend/logs", api_key=spent["b"]["key"])
    by_hash = await admin.get("/spend/logs", api_key=spent["b"]["token"])
    assert request_ids(by_secret) == request_ids(by_hash) == ["req-spend-3", "req-spend-2"]
    assert spent["b"]["key"].encode() not in by_secret.raw


async def test_logs_of_one_request(admin: Admin, spent: dict[str, Any]) -> None:
    assert request_ids(await admin.get("/spend/logs", request_id="req-spend-1")) == ["req-spend-1"]
    assert request_ids(await admin.get("/spend/logs", request_id="req-none")) == []


async def test_logs_pages(admin: Admin, spent: dict[str, Any]) -> None:
    pages = [request_ids(await admin.get("/spend/logs", size=2, page=n)) for n in (1, 2, 3, 4)]
    assert pages == [
        ["req-spend-4", "req-spend-3"],
        ["req-spend-2", "req-spend-1"],
        ["req-spend-0"],
        [],
    ]


async def test_report_per_day_and_team_by_default(admin: Admin, spent: dict[str, Any]) -> None:
    reply = await admin.get("/global/spend/report")
    assert reply.status == 200
    days = reply.json
    assert [day["group_by_day"] for day in days] == [
        "2026-01-01T00:00:00+00:00",
        "2026-01-02T00:00:00+00:00",
        "2026-01-03T00:00:00+00:00",
    ]
    first = sorted(days[0]["teams"], key=lambda entry: entry["team_id"])
    a, b = spent["a"]["token"], spent["b"]["token"]
    assert first == [
        {"team_id": "t1", "total_spend": 1.25, "requests": 2, "prompt_tokens": 20,
         "completion_tokens": 10, "total_tokens": 30, "team_name": "t1",
         "metadata": [{"api_key": a, "spend": 1.25, "requests": 2, "total_tokens": 30}]},
        {"team_id": "t2", "total_spend": 0.0, "requests": 1, "prompt_tokens": 10,
         "completion_tokens": 5, "total_tokens": 15, "team_name": "t2",
         "metadata": [{"api_key": b, "spend": 0.0, "requests": 1, "total_tokens": 15}]},
    ]  # fmt: skip


async def test_report_names_teams_by_alias_and_spend_outside_teams_unassigned(
    admin: Admin,
) -> None:
    await admin.post("/team/new", {"team_id": "t1", "team_alias": "Search"})
    rows = [spend_row(0, team_id="t1", cost=1.0), spend_row(1, team_id=None, cost=0.5)]
    await admin.store.add_spend(rows)
    teams = (await admin.get("/global/spend/report")).json[0]["teams"]
    names = {team["team_id"]: team["team_name"] for team in teams}
    assert names == {"t1": "Search", None: "Unassigned"}


async def test_logs_carry_the_request_fields_and_are_found_by_the_answers_id(
    admin: Admin,
) -> None:
    row = spend_row(
        0, team_id="t1", organization_id="org-1", end_user="eve",
        metadata='{"run": "nightly"}', response_id="chatcmpl-42",
    )  # fmt: skip
    await admin.store.add_spend([row])
    [found] = (await admin.get("/spend/logs", request_id="chatcmpl-42")).json
    assert found["request_id"] == "req-spend-0" and found["response_id"] == "chatcmpl-42"
    assert found["end_user"] == "eve" and found["organization_id"] == "org-1"
    assert found["metadata"]["run"] == "nightly"
    assert found["metadata"]["user_api_key_org_id"] == "org-1"
    assert found["metadata"]["user_api_key_team_id"] == "t1"


async def test_report_groups(admin: Admin, spent: dict[str, Any]) -> None:
    a, b = spent["a"]["token"], spent["b"]["token"]
    cases = [
        ("key", "keys", "api_key", {a: 1.75, b: 2.0}),
        ("api_key", "keys", "api_key", {a: 1.75, b: 2.0}),
        ("user", "users", "user_id", {"ann": 1.75, "ben": 2.0}),
        ("team", "teams", "team_id", {"t1": 1.75, "t2": 2.0}),
        ("model", "models", "model", {SERVED[0]: 3.5, SERVED[1]: 0.25}),
    ]
    for group_by, list_name, id_field, expected in cases:
        reply = await admin.get("/global/spend/report", group_by=group_by)
        totals: dict[str, float] = {}
        for day in reply.json:
            for entry in day[list_name]:
                totals[entry[id_field]] = totals.get(entry[id_field], 0.0) + entry["total_spend"]
        assert totals == expected, group_by


async def test_report_date_range(admin: Admin, spent: dict[str, Any]) -> None:
    reply = await admin.get(
        "/global/spend/report", group_by="user", start_date="2026-01-02", end_date="2026-01-02"
    )
    assert reply.json == [
        {
            "group_by_day": "2026-01-02T00:00:00+00:00",
            "users": [
                {"user_id": "ben", "total_spend": 2.0, "requests": 1, "prompt_tokens": 10,
                 "completion_tokens": 5, "total_tokens": 15},
            ],
        }
    ]  # fmt: skip


async def test_info_endpoints_show_the_spend(admin: Admin, spent: dict[str, Any]) -> None:
    key = (await admin.get("/key/info", key=spent["a"]["token"])).json["info"]
    assert key["spend"] == 1.75
    user = (await admin.get("/user/info", user_id="ben")).json["user_info"]
    assert user["spend"] == 2.0
