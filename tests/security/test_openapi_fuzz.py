"""schemathesis against the proxy's ``/openapi.json``, bounded in examples and time.

Every operation of the document is called with the master key, with data the document
calls valid and data it calls invalid. The checks: never a 5xx; every status, content
type, header and JSON body is the one documented; a 405 names the allowed methods; and
data the document calls valid is accepted, except for the refusals no JSON Schema can
express (a team that does not exist, an end_date not after start_date, a prompt plus
max_tokens past the model's context window) and an upstream's
own limits (the emulator's Inference.net allows n <= 8), relayed as they are.

Not checked: that every invalid value is refused. The document describes part of what
the proxy accepts where a schema cannot say more (a duration's 100-year bound), so some
values it calls invalid are accepted; the hypothesis tests in ``test_fuzz_bodies.py``
send malformed bodies instead.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, RunningProxy
from tests.security.wire import exchange, request_bytes, send_json

from tokenway.proxy.endpoints.openapi import openapi_document

# The document the proxy serves (checked below), loaded at import: schemathesis's lazy
# loader (from a fixture) does not run under this pytest.
DOCUMENT = openapi_document(list(BRIEF_MODELS))
schema = schemathesis.openapi.from_dict(DOCUMENT)
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


def test_the_document_is_the_one_served(proxy: RunningProxy) -> None:
    served = exchange(proxy.port, request_bytes("GET", "/openapi.json", auth=""))
    assert orjson.loads(served.body) == DOCUMENT


def _admin_operations(method: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, ops[method])
        for path, ops in DOCUMENT["paths"].items()
        if method in ops and "Master key only" in ops[method]["summary"] and path != "/health"
    ]


@pytest.mark.parametrize(("path", "op"), _admin_operations("post"))
def test_each_body_declares_the_fields_its_handler_accepts(
    proxy: RunningProxy, path: str, op: dict[str, Any]
) -> None:
    body = op["requestBody"]["content"]["application/json"]["schema"]
    branches = body.get("oneOf", [body])
    declared = set().union(*(branch["properties"] for branch in branches))
    refused = send_json(proxy.port, "POST", path, {"zz_unknown": 1})
    assert refused.error()["code"] == "unknown_field"
    accepted = refused.error()["message"].split("accepted: ")[1].split(", ")
    assert declared == set(accepted)


@pytest.mark.parametrize(("path", "op"), _admin_operations("get"))
def test_each_query_declares_the_parameters_its_handler_accepts(
    proxy: RunningProxy, path: str, op: dict[str, Any]
) -> None:
    declared = {parameter["name"] for parameter in op["parameters"]}
    raw = request_bytes("GET", f"{path}?zz_unknown=1", headers="Connection: close\r\n")
    refused = exchange(proxy.port, raw)
    assert refused.error()["code"] == "unknown_field"
    assert declared == set(refused.error()["message"].split("accepted: ")[1].split(", "))


def _valid_data_is_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's positive_data_acceptance, less the refusals a schema cannot express."""
    if response.status_code == 400 and case.meta.generation.mode.is_positive:
        if response.headers.get("x-tokenway-deployment", [""])[0]:
            return None  # the upstream refused it: each has limits of its own
        error = orjson.loads(response.content)["error"]
        # State a schema cannot express: a team, an organization, a budget, a
        # membership, the prompt's length; and a budget_id given with the limits of a
        # new budget (the document does not describe that pairing).
        if error["code"] in (
            "unknown_team",
            "unknown_organization",
            "unknown_budget",
            "budget_and_limits",
            "context_length_exceeded",
            "not_a_member",
            "member_exists",
            "store_model_in_db_off",  # a setting of the config, not of the request
            "invalid_model",  # a provider or upstream key that cannot serve the model
        ):
            return None
        if error["param"] == "end_date" and "after 'start_date'" in error["message"]:
            return None
    return positive_data_acceptance(ctx, response, case)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_document(case: Any, proxy: RunningProxy) -> None:
    case.call_and_validate(
        base_url=proxy.url,
        headers=AUTH,
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
        additional_checks=[_valid_data_is_accepted],
    )
