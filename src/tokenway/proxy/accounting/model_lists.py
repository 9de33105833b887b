"""``models`` lists as LiteLLM reads them, for keys, users and teams.

``"*"`` and ``"all-proxy-models"`` allow every model; an access group (a name in some
deployments' ``model_info.access_groups``) allows those deployments' aliases; any other
name allows itself (a served alias, a wildcard pattern, or a name served later).
"""

from __future__ import annotations

from collections.abc import Mapping

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
