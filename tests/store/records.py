"""Small builders for store records, so tests spell out only what they are about."""

from __future__ import annotations

from typing import Any

from tokenway.store import KeyRecord, Limits, SpendRow, TeamRecord, UserRecord

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def key(key_hash: str = "hash-1", **fields: Any) -> KeyRecord:
    return KeyRecord(key_hash=key_hash, key_name=f"sk-...{key_hash[-4:]}", **fields)


def user(user_id: str = "user-1", **fields: Any) -> UserRecord:
    return UserRecord(user_id=user_id, **fields)


def team(team_id: str = "team-1", **fields: Any) -> TeamRecord:
    return TeamRecord(team_id=team_id, **fields)


def budget(max_budget: float, duration: str | None = None, reset_at: float | None = None) -> Limits:
    return Limits(max_budget=max_budget, budget_duration=duration, budget_reset_at=reset_at)


def spend(request_id: str, **fields: Any) -> SpendRow:
    values: dict[str, Any] = {
        "request_id": request_id,
        "key_hash": "hash-1",
        "user_id": "user-1",
        "team_id": "team-1",
        "model_alias": "llama",
        "deployment": "dep-1",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost": 0.25,
        "latency_ms": 12.5,
        "status": 200,
        "error_code": None,
        "stream": False,
        "started_at": T0,
    }
    values.update(fields)
    return SpendRow(**values)
