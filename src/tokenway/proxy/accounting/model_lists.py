"""``models`` lists as LiteLLM reads them, for keys, users and teams.

``"*"`` and ``"all-proxy-models"`` allow every model; an access group (a name in some
deployments' ``model_info.access_groups``) allows those deployments' aliases; any other
name allows itself (a served alias, a wildcard pattern, or a name served later).
"""

from __future__ import annotations

from collections.abc import Mapping

from tokenway.router.patterns import compile_patterns, match
from tokenway.store.base import KeyRecord, TeamRecord, UserRecord

ALL_MODELS = frozenset({"*", "all-proxy-models"})  # LiteLLM's names for every model


def expand_models(models: list[str], groups: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """A stored ``models`` list as the aliases it allows: ``None`` (every model) for an
    empty list, ``"*"`` or ``"all-proxy-models"``; an access group (``model_info.
    access_groups``) as its aliases; any other name as itself."""
    if not models or not ALL_MODELS.isdisjoint(models):
        return None
    allowed: set[str] = set()
    for name in models:
        allowed.update(groups.get(name, ()))
        allowed.add(name)
    return frozenset(allowed)


def narrower(first: frozenset[str] | None, second: frozenset[str] | None) -> frozenset[str] | None:
    """What both model sets allow (``None``: every model). A pattern (``"anthropic/*"``)
    keeps the names of the other set it matches, so a key's ``anthropic/claude-x`` under a
    user's ``anthropic/*`` stays allowed; for plain names this is the intersection."""
    if first is None or second is None:
        return second if first is None else first
    return frozenset(
        {name for name in first if _allows(second, name)}
        | {name for name in second if _allows(first, name)}
    )


def _allows(models: frozenset[str], name: str) -> bool:
    if name in models:
        return True
    patterns = compile_patterns(models)
    return bool(patterns) and match(patterns, name) is not None


def allowed_models(
    key: KeyRecord,
    user: UserRecord | None,
    team: TeamRecord | None,
    groups: Mapping[str, frozenset[str]],
) -> frozenset[str] | None:
    """The key's models capped by its user's and its team's (``None``: no restriction); a
    key with no models of its own has its user's, as in LiteLLM."""
    allowed = expand_models(key.models, groups)
    for owner in (user, team):
        if owner is not None:
            allowed = narrower(allowed, expand_models(owner.models, groups))
    return allowed


def model_aliases(key: KeyRecord, team: TeamRecord | None) -> dict[str, str] | None:
    """The team's ``model_aliases`` and the key's ``aliases`` (LiteLLM's names), the
    key's winning; entries that are not name → name are left out."""
    found: dict[str, str] = {}
    for given in (team.extra.get("model_aliases") if team else None, key.extra.get("aliases")):
        if isinstance(given, dict):
            found.update((k, v) for k, v in given.items() if isinstance(v, str) and v)
    return found or None
