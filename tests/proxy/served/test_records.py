"""What a management caller may store as a model, and how a stored model is served."""

from __future__ import annotations

from typing import Any

import pytest

from tokenway.errors import BadRequestError
from tokenway.proxy.served.records import deployment_of, model_request
from tokenway.proxy.served.secrets import SecretBox

BOX = SecretBox("master")
BASE = "http://127.0.0.1:9000/v1"


def _body(**params: Any) -> dict[str, Any]:
    return {"model_name": "added", "litellm_params": {"model": "openai/gpt-x", **params}}


def _refusal(body: dict[str, Any], box: SecretBox = BOX) -> str:
    with pytest.raises(BadRequestError) as caught:
        record = model_request(body, box)
        deployment_of(record, box, {})
    assert caught.value.status_code == 400
    return caught.value.message


def test_a_key_given_in_clear_is_sealed_and_never_in_the_parameters() -> None:
    record = model_request({**_body(api_key="sk-plain-secret", api_base=BASE)}, BOX)
    assert "api_key" not in record.litellm_params
    assert record.api_key_sealed is not None and "sk-plain" not in record.api_key_sealed
    assert record.model_info["id"] == record.model_id  # an id is chosen when none is given
    deployment, warnings = deployment_of(record, BOX, {})
    assert deployment.api_key == "sk-plain-secret"
    assert deployment.api_base == BASE and deployment.model_info["db_model"] is True
    assert warnings == ()


def test_the_providers_own_key_variable_may_be_named_without_api_base() -> None:
    record = model_request(_body(api_key="os.environ/OPENAI_API_KEY"), BOX)
    assert record.api_key_sealed is None
    assert record.litellm_params["api_key"] == "os.environ/OPENAI_API_KEY"
    deployment, _ = deployment_of(record, BOX, {"OPENAI_API_KEY": "from-env"})
    assert deployment.api_key == "from-env"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"api_key": "os.environ/HOME"}, "provider's own key variable"),
        ({"api_key": "os.environ/OPENAI_API_KEY", "api_base": BASE}, "must not set api_base"),
        ({"api_base": "os.environ/OPENAI_API_BASE"}, "os.environ/ references are taken only"),
        ({"api_base": "file:///etc/passwd"}, "http(s) URL"),
        ({"api_base": "http://user:pw@127.0.0.1:9/v1"}, "must not carry credentials"),
        ({"api_key": ""}, "non-empty string"),
    ],
)
def test_where_requests_go_and_what_credential_goes_with_them_is_bounded(
    params: dict[str, Any], says: str
) -> None:
    assert says in _refusal(_body(**params))


def test_what_cannot_be_served_is_refused_with_the_configs_own_message() -> None:
    assert "model_name" in _refusal({"litellm_params": {"model": "openai/x"}})
    assert "litellm_params.model" in _refusal({"model_name": "a", "litellm_params": {}})
    unknown = _refusal({"model_name": "a", "litellm_params": {"model": "nosuch/x"}})
    assert "nosuch" in unknown
    assert "unknown body field" in _refusal({**_body(api_base=BASE), "extra": 1})
    no_base = _refusal({"model_name": "a", "litellm_params": {"model": "openai_compatible/x"}})
    assert "api_base" in no_base


def test_without_a_secret_a_key_in_clear_is_refused() -> None:
    assert "TOKENWAY_SALT_KEY" in _refusal(_body(api_key="sk-x"), SecretBox(None))


def test_a_key_sealed_under_another_secret_is_not_served() -> None:
    record = model_request(_body(api_key="sk-plain-secret", api_base=BASE), BOX)
    with pytest.raises(BadRequestError, match="cannot be opened"):
        deployment_of(record, SecretBox("rotated"), {})
