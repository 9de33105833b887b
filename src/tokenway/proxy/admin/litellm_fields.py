"""The LiteLLM request fields tokenway stores and echoes without acting on them.

LiteLLM's management endpoints accept many more fields than tokenway implements
(``aliases``, ``tags``, ``permissions``, ``guardrails``, ...); LiteLLM clients send them,
often as ``null``. A field named here is accepted, kept as given in the record's
``extra`` (one JSON object) and returned with the record; a field neither implemented
nor named here is still a 400 naming it. The names are those of LiteLLM's request
models (``GenerateKeyRequest``, ``UpdateKeyRequest``, ``NewUserRequest``,
``UpdateUserRequest``, ``NewTeamRequest``, ``UpdateTeamRequest``) minus the fields
tokenway implements, which each endpoint's own spec validates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

_KEY_COMMON = frozenset(
    {
        "access_group_ids",
        "agent_id",
        "aliases",
        "allowed_cache_controls",
        "allowed_passthrough_routes",
        "allowed_routes",
        "allowed_vector_store_indexes",
        "auto_rotate",
        "budget_fallbacks",
        "budget_id",
        "budget_limits",
        "config",
        "default_estimated_output_tokens",
        "default_estimated_output_tokens_per_model",
        "disable_global_guardrails",
        "enable_prompt_caching",
        "enforced_params",
        "guardrails",
        "mcp_rpm_limit",
        "model_max_budget",
        "model_rpm_limit",
        "model_tpm_limit",
        "object_permission",
        "organization_id",
        "permissions",
        "policies",
        "prompts",
        "rotation_interval",
        "router_settings",
        "rpm_limit_type",
        "soft_budget",
        "tag_rpm_limit",
        "tags",
        "throttle_on_budget_exceeded",
        "tpm_limit_type",
    }
)
# Not here, so never stored as given: /key/generate's ``key`` (a secret of the caller's
# choosing: implemented, stored hashed) and /user/update's ``password`` (tokenway has no
# password login; refused).
KEY_NEW = _KEY_COMMON | {"key_type", "project_id", "send_invite_email"}
KEY_UPDATE = _KEY_COMMON | {"temp_budget_expiry", "temp_budget_increase"}

_USER_COMMON = frozenset(
    {
        "agent_id",
        "aliases",
        "allowed_cache_controls",
        "blocked",
        "budget_fallbacks",
        "budget_limits",
        "config",
        "guardrails",
        "mcp_rpm_limit",
        "model_max_budget",
        "model_rpm_limit",
        "model_tpm_limit",
        "object_permission",
        "permissions",
        "policies",
        "prompts",
        "tag_rpm_limit",
        "user_alias",
    }
)
USER_NEW = _USER_COMMON | {"organizations", "send_invite_email", "sso_user_id", "teams"}
USER_UPDATE = _USER_COMMON | {"duration", "key_alias"}

_TEAM_COMMON = frozenset(
    {
        "access_group_ids",
        "allowed_passthrough_routes",
        "allowed_vector_store_indexes",
        "budget_limits",
        "default_estimated_output_tokens",
        "default_estimated_output_tokens_per_model",
        "default_team_member_models",
        "disable_global_guardrails",
        "enforced_batch_output_expires_after",
        "enforced_file_expires_after",
        "guardrails",
        "mcp_rpm_limit",
        "model_aliases",
        "model_rpm_limit",
        "model_tpm_limit",
        "object_permission",
        "organization_id",
        "policies",
        "prompts",
        "router_settings",
        "secret_manager_settings",
        "soft_budget",
        "tags",
        "team_member_budget",
        "team_member_budget_duration",
        "team_member_key_duration",
        "team_member_rpm_limit",
        "team_member_tpm_limit",
    }
)
TEAM_NEW = _TEAM_COMMON | {
    "admins",
    "members",
    "rpm_limit_type",
    "team_member_permissions",
    "tpm_limit_type",
}
TEAM_UPDATE = _TEAM_COMMON


class _HasExtra(Protocol):
    extra: dict[str, Any]


async def merge_extra(
    changes: dict[str, Any], current: Callable[[], Awaitable[_HasExtra | None]]
) -> dict[str, Any]:
    """``changes`` whose ``extra`` (if any) is laid over the stored record's, so an
    update keeps the LiteLLM fields it does not mention."""
    if "extra" not in changes:
        return changes
    record = await current()
    stored: Mapping[str, Any] = record.extra if record is not None else {}
    return {**changes, "extra": {**stored, **changes["extra"]}}
