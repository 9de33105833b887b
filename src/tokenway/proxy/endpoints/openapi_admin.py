"""The management endpoints in ``/openapi.json``: each field's schema comes from the
validator that checks it (``FIELD_SCHEMAS``), so the document cannot promise a field or a
value the proxy refuses. ``tests/security/test_openapi_fuzz.py`` holds the field names
against the ones the handlers accept."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tokenway.proxy.admin.keys import chosen_secret, key_fields
from tokenway.proxy.admin.litellm_fields import (
    KEY_NEW,
    KEY_UPDATE,
    TEAM_NEW,
    TEAM_UPDATE,
    USER_NEW,
    USER_UPDATE,
)
from tokenway.proxy.admin.members import ADD_FIELDS, UPDATE_FIELDS, WHO_FIELDS, members
from tokenway.proxy.admin.teams import team_fields
from tokenway.proxy.admin.users import user_fields, user_new_fields
from tokenway.proxy.admin.validation import (
    FIELD_SCHEMAS,
    PAGE_FIELDS,
    Validator,
    end_instant,
    flag,
    ids,
    instant,
    key_ref,
    key_refs,
    one_of,
    text,
    text_list,
)

ERROR_REF = {"$ref": "#/components/schemas/Error"}
_MAX_PAGE_SIZE = 1000  # page_of's max_size on every listing
_SPEND_FILTERS: dict[str, Validator] = {
    "api_key": key_ref,
    "user_id": text,
    "team_id": text,
    "model": text,
    "start_date": instant,
    "end_date": end_instant,
}
# LiteLLM's fields that tokenway stores and returns as given (``admin/litellm_fields.py``).
_KEPT = {"description": "LiteLLM's field: stored and returned as given, not acted on"}
_GROUP_BY = one_of("key", "api_key", "user", "team", "model")


def error(description: str = "Error in the OpenAI envelope") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def admin_paths(served: list[str]) -> dict[str, Any]:
    """path -> {method: operation} for every management endpoint."""
    keys, users, teams = key_fields(served), user_fields(served), team_fields(served)
    key_only = {"key": key_ref}
    kept: dict[str, frozenset[str]] = {
        "/key/generate": KEY_NEW, "/key/update": KEY_UPDATE,
        "/user/new": USER_NEW, "/user/update": USER_UPDATE,
        "/team/new": TEAM_NEW, "/team/update": TEAM_UPDATE,
    }  # fmt: skip
    post: dict[str, tuple[str, Mapping[str, Validator], Collection[str]]] = {
        "/key/generate": ("Create a virtual key; its secret is in this answer only",
                          {**keys, "key": chosen_secret}, ()),
        "/key/update": ("Change a key's settings", {**key_only, **keys}, ("key",)),
        "/key/regenerate": ("New secret for a key, same settings", key_only, ("key",)),
        "/key/block": ("Block a key", key_only, ("key",)),
        "/key/unblock": ("Unblock a key", key_only, ("key",)),
        "/user/new": ("Create a user (and a key unless auto_create_key is false)",
                      user_new_fields(served), ()),
        "/user/update": ("Change a user", users, ("user_id",)),
        "/user/delete": ("Delete users and their keys", {"user_ids": ids}, ("user_ids",)),
        "/team/new": ("Create a team", {**teams, "members_with_roles": members}, ()),
        "/team/member_add": ("Add members to a team", ADD_FIELDS, ("team_id", "member")),
        "/team/member_delete": ("Remove a member from a team", WHO_FIELDS, ("team_id",)),
        "/team/member_update": ("Change a member's role or settings in a team",
                                UPDATE_FIELDS, ("team_id",)),
        "/team/update": ("Change a team", teams, ("team_id",)),
        "/team/delete": ("Delete teams and their keys", {"team_ids": ids}, ("team_ids",)),
    }  # fmt: skip
    get: dict[str, tuple[str, Mapping[str, Validator], Collection[str]]] = {
        "/key/info": ("One key's settings and spend", key_only, ("key",)),
        "/key/list": ("Keys, by user_id / team_id / key_alias, paginated",
                      {"user_id": text, "team_id": text, "key_alias": text,
                       "return_full_object": flag, **PAGE_FIELDS}, ()),
        "/user/info": ("One user with spend and keys", {"user_id": text}, ("user_id",)),
        "/user/list": ("Users, paginated", PAGE_FIELDS, ()),
        "/team/info": ("One team with spend and keys", {"team_id": text}, ("team_id",)),
        "/team/list": ("Teams, paginated", PAGE_FIELDS, ()),
        "/spend/logs": ("Spend rows, filtered and paginated (request_id: one request's, "
                        "by its x-request-id)",
                        {**_SPEND_FILTERS, "request_id": text, **PAGE_FIELDS}, ()),
        "/global/spend/report": ("Daily spend totals per key, user, team or model",
                                 {**_SPEND_FILTERS, "group_by": _GROUP_BY}, ()),
    }  # fmt: skip
    paths: dict[str, Any] = {
        path: {"post": post_op(summary, fields, required, kept.get(path, frozenset()))}
        for path, (summary, fields, required) in post.items()
    }
    paths["/key/delete"] = {"post": _key_delete()}
    for path in ("/team/member_delete", "/team/member_update"):  # a member named either way
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        body["anyOf"] = [
            {"required": [name], "properties": {name: {"type": "string"}}}
            for name in ("user_id", "user_email")
        ]
    for path, (summary, fields, required) in get.items():
        paths[path] = {"get": get_op(summary, fields, required)}
    return paths


def post_op(
    summary: str,
    fields: Mapping[str, Validator],
    required: Collection[str],
    kept: Collection[str] = (),
) -> dict[str, Any]:
    op = _admin_op(summary)
    schema = _object(fields, required)
    schema["properties"].update({name: dict(_KEPT) for name in sorted(set(kept) - set(fields))})
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


def _key_delete() -> dict[str, Any]:
    op = post_op("Delete keys: send exactly one of keys or key_aliases", {}, ())
    one = [
        _object({"keys": key_refs}, ("keys",)),
        _object({"key_aliases": text_list}, ("key_aliases",)),
    ]
    op["requestBody"]["content"]["application/json"]["schema"] = {"oneOf": one}
    return op


def get_op(
    summary: str, fields: Mapping[str, Validator], required: Collection[str]
) -> dict[str, Any]:
    op = _admin_op(summary)
    op["parameters"] = [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": _query_schema(name, validator, name in required),
        }
        for name, validator in fields.items()
    ]
    return op


def _admin_op(summary: str) -> dict[str, Any]:
    codes = ("400", "401", "403", "404", "409", "413", "503")
    return {
        "summary": f"{summary}. Master key only.",
        "responses": {
            "200": {
                "description": "A JSON object or list",
                "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
            },
            **{code: error() for code in codes},
        },
    }


def _object(fields: Mapping[str, Validator], required: Collection[str]) -> dict[str, Any]:
    properties = {name: _field(name, v, name in required) for name, v in fields.items()}
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(required),
        "additionalProperties": False,  # an unknown field is a 400 that names it
    }


def _field(name: str, validator: Validator, required: bool) -> dict[str, Any]:
    schema = dict(FIELD_SCHEMAS[validator])
    kinds = schema.get("type")
    if required and isinstance(kinds, list):  # a required field may not be null
        schema["type"] = [kind for kind in kinds if kind != "null"]
    if name in ("size", "page_size"):
        schema["maximum"] = _MAX_PAGE_SIZE
    return schema


def _query_schema(name: str, validator: Validator, required: bool) -> dict[str, Any]:
    """A query value is a string: null is sent as nothing at all."""
    schema = _field(name, validator, required)
    kinds = schema.get("type")
    if isinstance(kinds, list):
        schema["type"] = next(kind for kind in kinds if kind != "null")
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    return schema
