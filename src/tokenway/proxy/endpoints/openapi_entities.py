"""``/budget/*``, ``/organization/*`` and ``/end_user/*`` (with ``/customer/*``) in
``/openapi.json``, from the validators their handlers use, as ``openapi_admin`` does for
keys, users and teams."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tokenway.proxy.admin.budgets import BUDGET_FIELDS, BUDGET_KEPT
from tokenway.proxy.admin.end_users import END_USER_FIELDS, END_USER_KEPT
from tokenway.proxy.admin.organizations import (
    MEMBER_ADD,
    MEMBER_UPDATE,
    MEMBER_WHO,
    ORG_KEPT,
    organization_fields,
)
from tokenway.proxy.admin.validation import FIELD_SCHEMAS, PAGE_FIELDS, Validator, ids, text
from tokenway.proxy.endpoints.openapi_admin import get_op, post_op

_NAME = {**FIELD_SCHEMAS[text], "type": "string"}
_WHO = ("user_id", "user_email")
Body = tuple[str, Mapping[str, Validator], Collection[str], Collection[str]]


def entity_paths(served: list[str]) -> dict[str, Any]:
    """path -> {method: operation} for budgets, organizations and end users."""
    org_new, org_update = organization_fields(served)
    user_ids = {"user_ids": ids}
    bodies: dict[tuple[str, str], Body] = {
        ("post", "/budget/new"): ("Create a shared budget", BUDGET_FIELDS, (), BUDGET_KEPT),
        ("post", "/budget/update"): (
            "Change a budget", BUDGET_FIELDS, ("budget_id",), BUDGET_KEPT,
        ),
        ("post", "/budget/info"): ("Budgets by id", {"budgets": ids}, ("budgets",), ()),
        ("post", "/budget/delete"): ("Delete a budget", {"id": text}, ("id",), ()),
        ("post", "/organization/new"): ("Create an organization", org_new, (), ORG_KEPT),
        ("post", "/organization/info"): (
            "Organizations by id", {"organizations": ids}, ("organizations",), (),
        ),
        ("post", "/organization/member_add"): (
            "Add members to an organization", MEMBER_ADD, ("organization_id", "member"), (),
        ),
    }  # fmt: skip
    for method in ("post", "patch"):
        bodies[(method, "/organization/update")] = (
            "Change an organization", org_update, ("organization_id",), ORG_KEPT,
        )  # fmt: skip
        bodies[(method, "/organization/member_update")] = (
            "Change a member's role in an organization", MEMBER_UPDATE, ("organization_id",), (),
        )  # fmt: skip
    for method in ("post", "delete"):
        bodies[(method, "/organization/delete")] = (
            "Delete organizations (their teams stay)",
            {"organization_ids": ids}, ("organization_ids",), (),
        )  # fmt: skip
        bodies[(method, "/organization/member_delete")] = (
            "Remove a member from an organization", MEMBER_WHO, ("organization_id",), (),
        )  # fmt: skip
    queries: dict[str, tuple[str, Mapping[str, Validator], Collection[str]]] = {
        "/budget/list": ("Budgets, paginated", PAGE_FIELDS, ()),
        "/budget/settings": ("A budget's fields", {"budget_id": text}, ("budget_id",)),
        "/organization/info": (
            "One organization with members, teams and budget",
            {"organization_id": text}, ("organization_id",),
        ),
        "/organization/list": ("Organizations, paginated", PAGE_FIELDS, ()),
    }  # fmt: skip
    for prefix in ("/end_user", "/customer"):
        bodies[("post", f"{prefix}/new")] = (
            "Create an end user (a request's 'user')", END_USER_FIELDS, ("user_id",),
            END_USER_KEPT,
        )  # fmt: skip
        bodies[("post", f"{prefix}/update")] = (
            "Change an end user", END_USER_FIELDS, ("user_id",), END_USER_KEPT,
        )  # fmt: skip
        for action in ("delete", "block", "unblock"):
            summary = f"{action.capitalize()} end users"
            bodies[("post", f"{prefix}/{action}")] = (summary, user_ids, ("user_ids",), ())
        queries[f"{prefix}/info"] = (
            "One end user with spend and budget", {"end_user_id": text}, ("end_user_id",),
        )  # fmt: skip
        queries[f"{prefix}/list"] = ("End users, paginated", PAGE_FIELDS, ())
    paths: dict[str, Any] = {}
    for (method, path), (summary, fields, required, kept) in bodies.items():
        op = paths.setdefault(path, {})[method] = post_op(summary, fields, required, kept)
        if fields is MEMBER_UPDATE or fields is MEMBER_WHO:  # a member named either way
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            schema["anyOf"] = [{"required": [name], "properties": {name: _NAME}} for name in _WHO]
    for path, (summary, fields, required) in queries.items():
        paths.setdefault(path, {})["get"] = get_op(summary, fields, required)
    return paths
