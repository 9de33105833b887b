"""``models`` lists as LiteLLM reads them, for keys, users and teams.

``"*"`` and ``"all-proxy-models"`` allow every model; an access group (a name in some
deployments' ``model_info.access_groups``) allows those deployments' aliases; any other
name allows itself (a served alias, a wildcard pattern, or a name served later).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tokenway.router.patterns import compile_patterns, match
from tokenway.store.base import KeyRecord, TeamRecord, UserRecord

ALL_MODELS = frozenset({"*", "all-proxy-models"})  # LiteLLM's names for every model

# Models a team admin added for their team (``model_info.team_id``): team id → the name
# its keys send (LiteLLM's ``team_public_model_name``) → the name it is served under.
TeamModels = Mapping[str, Mapping[str, str]]


class AllBut(frozenset[str]):
    """A ``models`` set allowing every model except its members (other teams' models):
    what an unrestricted key may use once some team has models of its own."""

    __slots__ = ()

    def __contains__(self, name: object) -> bool:
        return not frozenset.__contains__(self, name)

    def __eq__(self, other: object) -> bool:
        return type(other) is AllBut and frozenset.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((AllBut, frozenset(self)))


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


def team_scoped(
    team_id: str | None,
    allowed: frozenset[str] | None,
    aliases: dict[str, str] | None,
    team_models: TeamModels,
    own_lists: frozenset[str] | None,
) -> tuple[frozenset[str] | None, dict[str, str] | None]:
    """``allowed`` and ``aliases`` of a key of ``team_id`` once teams have models: its
    team's models by the names its admin gave (if the key's and user's own lists,
    ``own_lists``, allow them; the team owns them, so its list need not name them), and
    no other team's, by any name. Keys of a proxy without team models are unchanged."""
    own = team_models.get(team_id, {}) if team_id is not None else {}
    others = frozenset(
        name for team, names in team_models.items() if team != team_id for name in names.values()
    )
    usable = {
        public: served
        for public, served in own.items()
        if own_lists is None or _allows(own_lists, public) or _allows(own_lists, served)
    }
    if usable:
        aliases = {**usable, **(aliases or {})}  # the key's own aliases win
        if allowed is not None:
            allowed = allowed | frozenset(usable.values())
    if allowed is None:
        return (AllBut(others) if others else None), aliases
    return (allowed - others if others else allowed), aliases


def team_models_of(infos: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, dict[str, str]]:
    """The team models among served deployments (``(model_name, model_info)`` pairs)."""
    found: dict[str, dict[str, str]] = {}
    for served, info in infos:
        team, public = info.get("team_id"), info.get("team_public_model_name")
        if isinstance(team, str) and team and isinstance(public, str) and public:
            found.setdefault(team, {})[public] = served
    return found
