"""Property tests over the bodies the proxy reads, sent to a running proxy over HTTP.

Bodies mix valid shapes with wrong types, huge integers, deep nesting and odd unicode.
The property: the answer is a 2xx, or a 4xx in the OpenAI envelope; never a 5xx; a
refused admin request stores nothing; and the proxy still answers afterwards. Bounded
(a fixed number of examples, derandomized) so CI runs the same cases in a few seconds.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.proxy.conftest import BRIEF_MODELS, RunningProxy
from tests.security.wire import WireResponse, exchange, request_bytes, send_json

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- values: what a client could put anywhere -------------------------------------------

_HUGE = st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30])
_ODD_TEXT = st.sampled_from(
    ["", " ", "\x00", "²", "٣", "☃", "x\r\nSet-Cookie: a=1", "\u202e", "9" * 5000, "1e400"]
)
_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), _HUGE,
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20), _ODD_TEXT,
)  # fmt: skip
_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def _deep(draw: st.DrawFn) -> Any:
    """A value nested 2 to 300 levels: past the proxy's bound and past orjson's."""
    value: Any = draw(_SCALAR)
    for _ in range(draw(st.integers(2, 300))):
        value = [value] if draw(st.booleans()) else {"k": value}
    return value


_ANY = st.one_of(_JSON, _deep())


def _or_junk(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The valid shape nine times in ten, else anything at all: so most bodies are wrong
    in one place, deep inside, where a check may be missing."""
    return st.integers(0, 9).flatmap(lambda n: valid if n else _ANY)


# -- chat bodies --------------------------------------------------------------------------

_ROLE = _or_junk(st.sampled_from(["system", "user", "assistant", "tool", "developer"]))
_PART = _or_junk(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("text"), "text": _or_junk(st.text(max_size=20))}),
        st.fixed_dictionaries(
            {"type": st.just("image_url"), "image_url": _or_junk(st.just({"url": "u"}))}
        ),
    )
)
_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
_MESSAGE = _or_junk(
    st.fixed_dictionaries(
        {"role": _ROLE, "content": _or_junk(st.one_of(st.text(max_size=30), st.lists(_PART)))},
        optional={
            "name": _or_junk(st.text(max_size=8)),
            "tool_calls": _or_junk(st.just([_CALL])),
            "tool_call_id": _or_junk(st.just("c1")),
        },
    )
)
_TOOL = _or_junk(
    st.fixed_dictionaries(
        {
            "type": st.just("function"),
            "function": _or_junk(
                st.fixed_dictionaries(
                    {"name": st.sampled_from(["f", "g"])}, optional={"parameters": _ANY}
                )
            ),
        }
    )
)
_CHAT = st.fixed_dictionaries(
    {
        "model": _or_junk(st.sampled_from(list(BRIEF_MODELS))),
        "messages": _or_junk(st.lists(_MESSAGE, min_size=1, max_size=3)),
    },
    optional={
        "max_tokens": _or_junk(st.integers(1, 8)),
        "n": _or_junk(st.integers(1, 2)),
        "temperature": _or_junk(st.floats(0, 2)),
        "seed": _or_junk(st.integers(-(2**63), 2**63 - 1)),
        "stream": _or_junk(st.booleans()),
        "stream_options": _or_junk(st.fixed_dictionaries({"include_usage": _ANY})),
        "tools": _or_junk(st.lists(_TOOL, max_size=2)),
        "tool_choice": _or_junk(
            st.one_of(
                st.sampled_from(["none", "auto", "required"]),
                st.just({"type": "function", "function": {"name": "f"}}),
            )
        ),
        "response_format": _or_junk(
            st.fixed_dictionaries({"type": _or_junk(st.sampled_from(["text", "json_object"]))})
        ),
        "stop": _or_junk(st.lists(st.text(max_size=3), max_size=4)),
        "user": _or_junk(st.text(max_size=8)),
        "metadata": _or_junk(st.dictionaries(st.text(max_size=5), st.text(max_size=5))),
        "logprobs": _or_junk(st.booleans()),
    },
)


def _assert_well_formed(response: WireResponse) -> None:
    assert response.status < 500, (response.status, response.body[:500])
    if response.status >= 400:
        error = response.error()  # asserts the envelope's four fields
        assert isinstance(error["message"], str) and error["message"]
    else:
        assert 200 <= response.status < 300, response.status


def _get(proxy: RunningProxy, path: str) -> WireResponse:
    return exchange(proxy.port, request_bytes("GET", path, headers="Connection: close\r\n"))


def _still_answers(proxy: RunningProxy) -> None:
    assert _get(proxy, "/health/liveliness").status == 200


def _post(proxy: RunningProxy, path: str, body: Any) -> WireResponse:
    # The stdlib's encoder: it writes integers of any size, which orjson refuses.
    return send_json(proxy.port, "POST", path, json.dumps(body, allow_nan=False).encode())


@FUZZ
@given(body=_CHAT)
def test_chat_bodies_are_answered_never_with_a_5xx(proxy: RunningProxy, body: Any) -> None:
    _assert_well_formed(_post(proxy, "/v1/chat/completions", body))
    _still_answers(proxy)


# -- admin bodies -------------------------------------------------------------------------

_COUNT = _or_junk(st.one_of(st.integers(0, 100), _HUGE))
_DURATION = _or_junk(st.sampled_from(["30s", "1d", "36500d", "99999999999d", "0s", "1y"]))
_NAME = _or_junk(st.one_of(st.text(min_size=1, max_size=8), _ODD_TEXT))
_LIMITS = {
    "max_budget": _or_junk(st.one_of(st.floats(0, 100), st.just(1e308))),
    "budget_duration": _DURATION,
    "rpm_limit": _COUNT,
    "tpm_limit": _COUNT,
    "max_parallel_requests": _COUNT,
    "metadata": _or_junk(st.dictionaries(st.text(max_size=5), _JSON, max_size=3)),
    "models": _or_junk(st.lists(st.sampled_from([*BRIEF_MODELS, "gpt-9"]), max_size=2)),
}
_NAMES = _or_junk(st.lists(_NAME, min_size=1, max_size=2))
_FLAG = _or_junk(st.booleans())
_ADMIN_BODIES = {
    "/key/generate": {**_LIMITS, "key_alias": _NAME, "duration": _DURATION, "user_id": _NAME,
                      "blocked": _FLAG},
    "/key/update": {**_LIMITS, "key": _NAME, "duration": _DURATION, "blocked": _FLAG},
    "/key/delete": {"keys": _NAMES, "key_aliases": _NAMES},
    "/key/block": {"key": _NAME},
    "/user/new": {**_LIMITS, "user_id": _NAME, "user_email": _NAME,
                  "user_role": _or_junk(st.just("internal_user")),
                  "auto_create_key": _or_junk(st.just(False))},
    "/user/update": {**_LIMITS, "user_id": _NAME},
    "/user/delete": {"user_ids": _NAMES},
    "/team/new": {**_LIMITS, "team_id": _NAME, "team_alias": _NAME, "blocked": _FLAG},
    "/team/update": {**_LIMITS, "team_id": _NAME},
    "/team/delete": {"team_ids": _NAMES},
}  # fmt: skip


@st.composite
def _admin_call(draw: st.DrawFn) -> tuple[str, Any]:
    path = draw(st.sampled_from(sorted(_ADMIN_BODIES)))
    fields = _ADMIN_BODIES[path]
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=5, unique=True))
    body: Any = {name: draw(fields[name]) for name in chosen}
    if draw(st.integers(0, 9)) == 0:  # sometimes not an object, or an unknown field
        body = draw(st.one_of(_ANY, st.just({**body, "zz": 1})))
    return path, body


def _counts(proxy: RunningProxy) -> tuple[int, int, int]:
    keys = _get(proxy, "/key/list?size=1").json()["total_count"]
    users = _get(proxy, "/user/list?page_size=1").json()["total"]
    teams = len(_get(proxy, "/team/list?size=1000").json())
    return keys, users, teams


@FUZZ
@given(call=_admin_call())
def test_admin_bodies_are_answered_never_with_a_5xx(
    proxy: RunningProxy, call: tuple[str, Any]
) -> None:
    path, body = call
    before = _counts(proxy)
    response = _post(proxy, path, body)
    _assert_well_formed(response)
    if response.status >= 400:
        assert _counts(proxy) == before, (path, body, response.body[:300])
    _still_answers(proxy)


_QUERY_VALUES = st.integers(0, 3).flatmap(
    lambda n: st.text(max_size=12) if n == 0 else st.sampled_from(
        ["1", "0", "-1", "²", "٣", "9" * 30, "true", "2026-01-01", "9999-12-31",
         "0001-01-01", "2026-01-01T00:00:00+14:00", "%00", "%FF", "%", "sk-x"]
    )
)  # fmt: skip
_QUERY_PATHS = {
    "/key/list": ["page", "size", "user_id", "team_id", "key_alias", "return_full_object"],
    "/key/info": ["key"],
    "/user/list": ["page", "page_size"],
    "/user/info": ["user_id"],
    "/team/list": ["page", "size"],
    "/team/info": ["team_id"],
    "/spend/logs": ["page", "size", "api_key", "model", "start_date", "end_date"],
    "/global/spend/report": ["start_date", "end_date", "group_by", "user_id"],
}


@FUZZ
@given(data=st.data())
def test_admin_queries_are_answered_never_with_a_5xx(proxy: RunningProxy, data: Any) -> None:
    path = data.draw(st.sampled_from(sorted(_QUERY_PATHS)))
    names = data.draw(
        st.lists(st.sampled_from(_QUERY_PATHS[path]), min_size=1, max_size=3, unique=True)
    )
    # Percent-encoded, but "%" kept: "%00", "%FF" and a lone "%" arrive as written.
    query = "&".join(f"{name}={quote(data.draw(_QUERY_VALUES), safe='%')}" for name in names)
    _assert_well_formed(_get(proxy, f"{path}?{query}"))
    _still_answers(proxy)
