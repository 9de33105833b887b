"""Team models: a model added with ``model_info.team_id`` (by the master key, or by an
admin of that team, ``admin.permissions``) is served to that team's keys only, under the
name its admin gave (``model_name``).

As LiteLLM does, it is stored and routed under a unique name of its own
(``model_name_<team id>_<uuid>``), with the given name kept as
``model_info.team_public_model_name``; the team's keys map the given name to it (as a
team's ``model_aliases`` would), and no other key may use it by either name
(``accounting.model_lists.team_scoped``). The master key reaches it by its unique name
only, as in LiteLLM; the given name means nothing outside the team, so two teams may
give the same name.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tokenway.errors import BadRequestError
from tokenway.store.base import Store
from tokenway.store.models import ModelRecord

PUBLIC_NAME = "team_public_model_name"


def team_of(info: Mapping[str, Any]) -> str | None:
    """The team a model belongs to (``model_info.team_id``), or None."""
    team = info.get("team_id")
    return team if isinstance(team, str) and team else None


def public_name(record: ModelRecord) -> str:
    """The name clients send for a stored model (its team's name for a team model)."""
    given = record.model_info.get(PUBLIC_NAME)
    return given if team_of(record.model_info) and isinstance(given, str) else record.model_name


async def named(record: ModelRecord, current: ModelRecord | None, store: Store) -> ModelRecord:
    """``record`` (its ``model_name``: the name given) as it is stored: a team model under
    its unique name (kept across updates within the same team), any other as given."""
    info = dict(record.model_info)
    given = info.get("team_id")
    if given is None:
        info.pop(PUBLIC_NAME, None)
        return replace(record, model_info=info)
    if not isinstance(given, str) or not given:
        raise BadRequestError(
            "'model_info.team_id' must be a team's id", param="team_id", code="invalid_model"
        )
    if await store.get_team(given) is None:
        raise BadRequestError(
            f"team '{given}' does not exist; create it first (POST /team/new)",
            param="team_id",
            code="unknown_team",
        )
    kept = current is not None and team_of(current.model_info) == given
    unique = current.model_name if current is not None and kept else _unique(given)
    info[PUBLIC_NAME] = record.model_name
    return replace(record, model_name=unique, model_info=info)


def _unique(team_id: str) -> str:
    return f"model_name_{team_id}_{uuid.uuid4()}"
