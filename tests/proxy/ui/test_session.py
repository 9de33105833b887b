"""UI sessions: signed and expiring, bound to the master key, CSRF tokens per session."""

from __future__ import annotations

from tokenway.proxy.ui.session import (
    SESSION_SECONDS,
    Sessions,
    cookie_value,
    set_cookie,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_is_valid_until_it_expires() -> None:
    clock = Clock()
    sessions = Sessions("sk-master", clock)
    token, session = sessions.issue()
    assert sessions.verify(token) == session
    clock.now += SESSION_SECONDS - 1
    assert sessions.verify(token) == session
    clock.now += 1
    assert sessions.verify(token) is None


def test_a_forged_or_altered_token_is_refused() -> None:
    sessions = Sessions("sk-master", Clock())
    token, _ = sessions.issue()
    expires, nonce, mac = token.split(".")
    assert sessions.verify(f"{int(expires) + 3600}.{nonce}.{mac}") is None
    assert sessions.verify(f"{expires}.other.{mac}") is None
    assert sessions.verify(f"{expires}.{nonce}.{'0' * len(mac)}") is None
    assert sessions.verify("") is None and sessions.verify(None) is None
    assert sessions.verify("x" * 500) is None


def test_another_master_key_ends_every_session() -> None:
    token, _ = Sessions("sk-master", Clock()).issue()
    assert Sessions("sk-other", Clock()).verify(token) is None
    # every worker (same master key) accepts it, with no shared table
    assert Sessions("sk-master", Clock()).verify(token) is not None


def test_csrf_tokens_are_per_session() -> None:
    sessions = Sessions("sk-master", Clock())
    _, one = sessions.issue()
    _, two = sessions.issue()
    assert one.csrf != two.csrf
    assert sessions.csrf_ok(one, one.csrf)
    assert not sessions.csrf_ok(one, two.csrf)
    assert not sessions.csrf_ok(one, None)
    assert not sessions.csrf_ok(one, "")


def test_the_master_key_check() -> None:
    sessions = Sessions("sk-master", Clock())
    assert sessions.master_key_matches("sk-master")
    assert not sessions.master_key_matches("sk-master ")
    assert not sessions.master_key_matches("")


def test_cookie_header_and_attributes() -> None:
    assert cookie_value({"cookie": "a=1; tokenway_ui=abc.def; b=2"}) == "abc.def"
    assert cookie_value({"cookie": "a=1"}) is None
    assert cookie_value({}) is None
    name, value = set_cookie("v", max_age=60, secure=False)
    assert name == "set-cookie"
    assert value == "tokenway_ui=v; Path=/ui; Max-Age=60; HttpOnly; SameSite=Strict"
    assert set_cookie("v", max_age=60, secure=True)[1].endswith("; Secure")
