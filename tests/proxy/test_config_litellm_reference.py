"""Issue 12, item 5's bar: no key of LiteLLM's config.yaml reference is silently dropped.

The lists below are the keys LiteLLM documents (docs.litellm.ai/docs/proxy/config_settings,
and the model_list entry keys), each with a placeholder of the type it documents. Loaded
together, each must be implemented (it reaches the loaded config), refused (a start-up
problem naming it) or ignored (a start-up warning naming it); none may be unknown.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.proxy.config_helpers import parse, parse_problems

from tokenway.proxy.config import ConfigError, ProxyConfig, load_config
from tokenway.proxy.config.keys import TABLE

# fmt: off
LITELLM_SETTINGS: dict[str, Any] = {
    "success_callback": ["langfuse"], "failure_callback": ["sentry"], "callbacks": ["otel"],
    "service_callbacks": ["datadog"], "turn_off_message_logging": True,
    "redact_user_api_key_info": True, "langfuse_default_tags": ["cache_hit"],
    "request_timeout": 10, "force_ipv4": True, "json_logs": True,
    "default_fallbacks": ["m"], "content_policy_fallbacks": [{"m": ["m"]}],
    "context_window_fallbacks": [{"m": ["m"]}], "mcp_aliases": {"github": "gh"},
    "cache": True, "cache_params": {"type": "redis", "host": "localhost", "port": 6379},
    "modify_params": True, "enable_preview_features": True, "set_verbose": True,
    "disable_end_user_cost_tracking": True,
    "disable_end_user_cost_tracking_prometheus_only": True,
    "key_generation_settings": {"team_key_generation": {"allowed_team_member_roles": []}},
    "disable_add_transform_inline_image_block": True,
    "use_chat_completions_url_for_anthropic_messages": True,
    "disable_hf_tokenizer_download": True, "enable_json_schema_validation": True,
    "enable_key_alias_format_validation": True, "disable_copilot_system_to_assistant": True,
    "LITELLM_DISABLE_STOP_SEQUENCE_LIMIT": True, "drop_params": True, "num_retries": 3,
}

GENERAL_SETTINGS: dict[str, Any] = {
    "completion_model": "m", "disable_spend_logs": False, "disable_spend_updates": False,
    "disable_master_key_return": True,
    "disable_retry_on_max_parallel_request_limit_error": True, "disable_reset_budget": True,
    "disable_adding_master_key_hash_to_db": True, "disable_responses_id_security": False,
    "enable_jwt_auth": True, "enforce_user_param": True,
    "reject_clientside_metadata_tags": True, "allowed_routes": ["/v1/chat/completions"],
    "key_management_system": "google_kms", "master_key": "sk-reference-master-1",
    "database_url": "sqlite:///reference.db", "database_connection_pool_limit": 10,
    "database_connection_timeout": 60, "allow_requests_on_db_unavailable": True,
    "custom_auth": "my.auth", "max_parallel_requests": 10,
    "global_max_parallel_requests": 100, "infer_model_from_keys": True,
    "background_health_checks": False, "health_check_interval": 300,
    "alerting": ["slack"], "alerting_threshold": 300,
    "use_client_credentials_pass_through_routes": True, "health_check_details": False,
    "public_routes": ["/spend/calculate"], "alert_types": ["llm_too_slow"],
    "enforced_params": ["user"], "enable_oauth2_auth": True, "use_x_forwarded_for": True,
    "service_account_settings": [{"enforced_params": ["user"]}],
    "image_generation_model": "m", "store_model_in_db": True,
    "supported_db_objects": ["mcp"], "user_mcp_management_mode": "restricted",
    "store_prompts_in_spend_logs": False, "max_request_size_mb": 8,
    "max_response_size_mb": 8, "proxy_budget_rescheduler_min_time": 597,
    "proxy_budget_rescheduler_max_time": 605, "proxy_batch_write_at": 10,
    "proxy_batch_polling_interval": 6000, "alerting_args": {"daily_report_frequency": 43200},
    "custom_key_generate": "my.keygen", "allowed_ips": ["127.0.0.1"], "embedding_model": "m",
    "default_team_disabled": True, "alert_to_webhook_url": {"llm_too_slow": "https://x"},
    "key_management_settings": [{"hosted_keys": ["k"]}], "allow_user_auth": True,
    "user_api_key_cache_ttl": 60, "disable_prisma_schema_update": True,
    "litellm_key_header_name": "x-litellm-key", "moderation_model": "m",
    "custom_sso": "my_sso.py", "allow_client_side_credentials": True,
    "admin_only_routes": ["/key/generate"], "use_azure_key_vault": True,
    "use_google_kms": True, "spend_report_frequency": "1d", "ui_access_mode": "admin_only",
    "litellm_jwtauth": {"admin_jwt_scope": "admin"}, "litellm_license": "license",
    "oauth2_config_mappings": {"a": "b"}, "pass_through_endpoints": [{"path": "/v1/rerank"}],
    "enable_oauth2_proxy_auth": True, "forward_openai_org_id": True,
    "forward_client_headers_to_llm_api": True,
    "maximum_spend_logs_retention_period": "30d",
    "maximum_spend_logs_retention_interval": "1d",
}

ROUTER_SETTINGS: dict[str, Any] = {
    "routing_strategy": "simple-shuffle", "redis_host": "localhost", "redis_password": "pw",
    "redis_port": 6379, "redis_db": 0, "enable_pre_call_checks": True,
    "content_policy_fallbacks": [{"m": ["m"]}], "fallbacks": [{"m": ["m"]}],
    "enable_tag_filtering": True, "tag_filtering_match_any": True, "cooldown_time": 30,
    "disable_cooldowns": False, "retry_policy": {"TimeoutErrorRetries": 3},
    "allowed_fails": 3, "allowed_fails_policy": {"TimeoutErrorAllowedFails": 12},
    "default_max_parallel_requests": 10, "default_priority": 1, "polling_interval": 0.003,
    "max_fallbacks": 5, "default_litellm_params": {"temperature": 0}, "timeout": 600,
    "stream_timeout": 60, "debug_level": "INFO", "client_ttl": 3600, "cache_kwargs": {},
    "routing_strategy_args": {"ttl": 60}, "model_group_alias": {"a": "m"}, "num_retries": 3,
    "default_fallbacks": ["m"], "caching_groups": [["m", "m"]], "alerting_config": {},
    "assistants_config": {}, "set_verbose": False, "retry_after": 0,
    "provider_budget_config": {}, "model_group_retry_policy": {},
    "context_window_fallbacks": [{"m": ["m"]}], "redis_url": "redis://localhost",
    "cache_responses": False, "router_general_settings": {},
    "optional_pre_call_checks": ["prompt_caching"], "deployment_affinity_ttl_seconds": 3600,
    "ignore_invalid_deployments": True, "search_tools": [], "guardrail_list": [],
}

LITELLM_PARAMS: dict[str, Any] = {
    "model": "inference/x/y", "api_key": "sk-upstream", "api_base": "http://127.0.0.1:9/v1",
    "rpm": 480, "tpm": 100000, "timeout": 300, "stream_timeout": 60,
    "input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "max_parallel_requests": 5,
    "weight": 1, "order": 1, "tags": ["a"], "api_version": "2024-02-01",
    "organization": "org", "region_name": "eu", "input_cost_per_second": 0.00042,
    "mock_timeout": True, "num_retries": 5, "max_retries": 2, "temperature": 0.2,
    "max_tokens": 100, "extra_headers": {"X-A": "b"},
}

MODEL_INFO: dict[str, Any] = {
    "id": "dep-1", "mode": "embedding", "input_cost_per_token": 0,
    "output_cost_per_token": 0, "max_tokens": 2048, "base_model": "gpt-4-1106-preview",
    "max_input_tokens": 8192, "health_check_timeout": 1, "supports_vision": True,
    "description": "d",
}
# fmt: on

TOP_LEVEL: dict[str, Any] = {
    "environment_variables": {"REGION": "eu"},
    "callback_settings": {"otel": {"message_logging": False}},
    "finetune_settings": [{"custom_llm_provider": "azure"}],
    "files_settings": [{"custom_llm_provider": "azure"}],
}


def _config() -> dict[str, Any]:
    return {
        "model_list": [{"model_name": "m", "litellm_params": LITELLM_PARAMS,
                        "model_info": MODEL_INFO}],
        "litellm_settings": LITELLM_SETTINGS,
        "general_settings": GENERAL_SETTINGS,
        "router_settings": ROUTER_SETTINGS,
        **TOP_LEVEL,
    }  # fmt: skip


SECTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("top level", "", TOP_LEVEL),
    ("model_list[].litellm_params", "model_list[0].litellm_params.", LITELLM_PARAMS),
    ("model_list[].model_info", "model_list[0].model_info.", MODEL_INFO),
    ("litellm_settings", "litellm_settings.", LITELLM_SETTINGS),
    ("general_settings", "general_settings.", GENERAL_SETTINGS),
    ("router_settings", "router_settings.", ROUTER_SETTINGS),
]

DOCUMENTED = [(title, prefix, key) for title, prefix, keys in SECTIONS for key in keys]


@pytest.fixture(scope="module")
def refusals() -> list[str]:
    return parse_problems(_config())


@pytest.fixture(scope="module")
def loaded() -> ProxyConfig:
    """The same config without the refused keys: it starts, with its warnings."""
    data = copy.deepcopy(_config())
    for title, _, keys in SECTIONS:
        section = _section(data, title)
        for key in keys:
            if TABLE[title][key].status == "refused":
                del section[key]
    return parse(data)


def _section(data: dict[str, Any], title: str) -> dict[str, Any]:
    if title == "top level":
        return data
    if title.startswith("model_list[]."):
        part: dict[str, Any] = data["model_list"][0][title.removeprefix("model_list[].")]
        return part
    settings: dict[str, Any] = data[title]
    return settings


@pytest.mark.parametrize(("title", "prefix", "key"), DOCUMENTED)
def test_every_documented_key_is_implemented_refused_or_warned(
    title: str, prefix: str, key: str, refusals: list[str], loaded: ProxyConfig
) -> None:
    entry = TABLE[title].get(key)
    assert entry is not None, f"{prefix}{key} is not in the key table"
    path = f"{prefix}{key}: "
    refused = [p for p in refusals if p.startswith(path)]
    warned = [w for w in loaded.warnings if w.startswith(path)]
    if entry.status == "refused":
        assert refused == [f"{path}not supported: {entry.note}"]
    elif entry.status == "ignored":
        assert warned == [f"{path}ignored: {entry.note}"]
        assert not refused
    else:
        assert not refused and not warned
        assert _reached(loaded, title, key), f"{prefix}{key} is implemented but not loaded"


def test_nothing_else_stops_the_start(refusals: list[str]) -> None:
    refused = {f"{prefix}{key}" for title, prefix, key in DOCUMENTED
               if TABLE[title][key].status == "refused"}  # fmt: skip
    assert {problem.partition(": ")[0] for problem in refusals} == refused


def _reached(config: ProxyConfig, title: str, key: str) -> bool:
    deployment = config.deployments[0]
    places: dict[str, Mapping[str, object]] = {
        "top level": {"environment_variables": config.environment_variables},
        "litellm_settings": config.litellm_settings,
        "general_settings": config.general_settings,
        "router_settings": config.router_settings,
        "model_list[].model_info": deployment.model_info,
        "model_list[].litellm_params": {
            **{k: getattr(deployment, k) for k in LITELLM_PARAMS if hasattr(deployment, k)},
            **deployment.extra_litellm_params,
        },
    }
    return places[title].get(key) is not None


def test_security_keys_are_never_only_warned() -> None:
    general = TABLE["general_settings"]
    auth = ("enable_jwt_auth", "litellm_jwtauth", "custom_auth", "custom_sso",
            "allow_client_side_credentials", "enable_oauth2_auth", "public_routes",
            "allowed_ips", "allow_user_auth")  # fmt: skip

    assert general["allowed_routes"].status == "implemented"
    assert {general[key].status for key in auth} == {"refused"}


# The shape of LiteLLM's own proxy_server_config.yaml (its e2e tests' config): the same
# sections and keys, with models tokenway serves, and none of its variables set.
LITELLM_EXAMPLE = """\
model_list:
  - model_name: gpt-3.5-turbo-end-user-test
    litellm_params: {model: openai/gpt-3.5-turbo, api_key: sk-x, region_name: eu}
    model_info: {id: "1"}
  - model_name: gpt-3.5-turbo-large
    litellm_params:
      model: openai/gpt-3.5-turbo-1106
      api_key: sk-x
      api_version: "2023-05-15"
      rpm: 480
      timeout: 300
      stream_timeout: 60
  - model_name: fake-openai-endpoint-4
    litellm_params:
      model: openai/my-fake-model
      api_key: my-fake-key
      api_base: https://example.invalid/
      num_retries: 50
      input_cost_per_second: 0.000420
  - model_name: bad-model
    litellm_params: {model: openai/bad-model, api_key: sk-x, mock_timeout: true, timeout: 60}
    model_info: {health_check_timeout: 1, mode: embedding, base_model: text-embedding-ada-002}
litellm_settings:
  drop_params: True
  num_retries: 5
  request_timeout: 600
  telemetry: False
  context_window_fallbacks: [{"gpt-3.5-turbo-end-user-test": ["gpt-3.5-turbo-large"]}]
  default_team_settings:
    - team_id: team-1
      success_callback: ["langfuse"]
      langfuse_public_key: os.environ/LANGFUSE_PROJECT1_PUBLIC
      langfuse_secret: os.environ/LANGFUSE_PROJECT1_SECRET
finetune_settings:
  - custom_llm_provider: azure
    api_base: os.environ/AZURE_API_BASE
    api_key: os.environ/AZURE_API_KEY
files_settings:
  - custom_llm_provider: openai
    api_key: os.environ/OPENAI_API_KEY
router_settings:
  routing_strategy: usage-based-routing-v2
  redis_host: os.environ/REDIS_HOST
  redis_password: os.environ/REDIS_PASSWORD
  redis_port: os.environ/REDIS_PORT
  enable_pre_call_checks: true
  model_group_alias: {"my-special-fake-model-alias-name": "fake-openai-endpoint-4"}
general_settings:
  master_key: sk-1234
  store_model_in_db: True
  proxy_budget_rescheduler_min_time: 60
  proxy_budget_rescheduler_max_time: 64
  proxy_batch_write_at: 1
  database_connection_pool_limit: 10
  pass_through_endpoints:
    - path: "/v1/rerank"
      target: "https://api.cohere.com/v1/rerank"
      headers: {content-type: application/json}
      forward_headers: True
"""


def test_litellm_s_own_example_config_starts_with_only_its_redis_variables_set(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(LITELLM_EXAMPLE, encoding="utf-8")
    redis = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6380", "REDIS_PASSWORD": "p/w"}

    config = load_config(path, env=redis)

    assert config.redis is not None and config.redis.url == "redis://:p%2Fw@127.0.0.1:6380/0"

    assert config.model_names()[0] == "gpt-3.5-turbo-end-user-test"
    assert config.router.num_retries == 5 and config.router_settings["routing_strategy"]
    warned = {warning.partition(": ")[0] for warning in config.warnings}
    assert {
        "finetune_settings", "files_settings", "litellm_settings.default_team_settings",
        "litellm_settings.telemetry",
        "router_settings.model_group_alias", "general_settings.pass_through_endpoints",
        "general_settings.master_key",  # LiteLLM's example key: anyone can guess it
        "model_list[2].litellm_params.input_cost_per_second",
        "model_list[3].model_info.health_check_timeout",
    } <= warned  # fmt: skip


def test_litellm_s_own_example_config_needs_its_redis_variables(tmp_path: Path) -> None:
    """Its limits would be counted per process, not in the Redis it names: refused."""
    path = tmp_path / "config.yaml"
    path.write_text(LITELLM_EXAMPLE, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert "REDIS_HOST is not set" in str(caught.value)
