"""A team member's own budget in that team (LiteLLM's ``max_budget_in_team``).

A member of ``members_with_roles`` may carry ``max_budget_in_team`` and ``budget_duration``;
the keys of that user in that team then spend on a third account beside the key's, the
user's and the team's (``member:<team>:<user>``), so the gate refuses them with "Budget has
been exceeded!" once the member's spend reaches it.

The member's spend is not a column: it is the cost of the spend rows of that user in that
team since the budget's window began, read when the key is loaded (only for keys whose
member has a budget). A window starts at ``budget_start`` (set when the budget is given),
and with a ``budget_duration`` moves on by whole durations from there.
"""

from __future__ import annotations

import math
from typing import Any

from tokenway.store.base import KeyRecord, Limits, SpendFilter, Store, TeamRecord
from tokenway.store.durations import parse_duration

BUDGET_START = "budget_start"  # epoch seconds, kept in the member's entry


def budgeted_member(key: KeyRecord, team: TeamRecord | None) -> dict[str, Any] | None:
    """The entry of the key's user among its team's members, when it has a budget."""
    if team is None or key.user_id is None:
        return None
    for member in team.members_with_roles:
        if member.get("user_id") == key.user_id:
            budget = member.get("max_budget_in_team")
            return member if isinstance(budget, int | float) else None
    return None


async def member_limits(
    store: Store, member: dict[str, Any], user_id: str, team_id: str, now: float
) -> Limits:
    """The member's budget, with the spend of the current window read from the rows."""
    start, reset_at = _window(member, now)
    where = SpendFilter(user_id=user_id, team_id=team_id, start=start)
    spent = sum(total.cost for total in await store.spend_totals("team", where))
    return Limits(
        max_budget=float(member["max_budget_in_team"]),
        budget_duration=_duration_text(member),
        budget_reset_at=reset_at,
        spend=spent,
    )


def _window(member: dict[str, Any], now: float) -> tuple[float, float | None]:
    """(where the current window began, when it ends: None without a duration)."""
    anchor = member.get(BUDGET_START)
    anchor = float(anchor) if isinstance(anchor, int | float) else 0.0
    text = _duration_text(member)
    step = parse_duration(text) if text else None
    if not step or now < anchor:
        return anchor, None
    begun = anchor + math.floor((now - anchor) / step) * step
    return begun, begun + step


def _duration_text(member: dict[str, Any]) -> str | None:
    text = member.get("budget_duration")
    if not isinstance(text, str):
        return None
    try:
        parse_duration(text)
    except ValueError:
        return None
    return text
