"""``models`` lists as LiteLLM reads them: ``*`` and ``all-proxy-models`` allow every
model, an access group (``model_info.access_groups``) allows its deployments' aliases."""

from __future__ import annotations

from tokenway.proxy.accounting.model_lists import expand_models
from tokenway.proxy.config.loader import parse_config
from tokenway.proxy.models import access_groups

GROUPS = {"beta": frozenset({"a", "b"})}


def test_every_model_names() -> None:
    assert expand_models([], GROUPS) is None
    assert expand_models(["*"], GROUPS) is None
    assert expand_models(["x", "all-proxy-models"], GROUPS) is None


def test_a_group_allows_its_aliases_and_other_names_stay() -> None:
    assert expand_models(["beta", "c"], GROUPS) == {"beta", "a", "b", "c"}
    assert expand_models(["unknown"], GROUPS) == {"unknown"}


def test_access_groups_come_from_model_info() -> None:
    entries = [
        {
            "model_name": name,
            "litellm_params": {"model": "openai/m", "api_key": "k"},
            "model_info": {"id": name, "access_groups": groups},
        }
        for name, groups in (("a", ["beta", "all"]), ("b", ["all"]), ("c", []))
    ]
    config = parse_config({"model_list": entries}, env={}, source="<test>")
    assert access_groups(config.deployments) == {
        "beta": frozenset({"a"}),
        "all": frozenset({"a", "b"}),
    }
