"""``tokenway.proxy.errors``: what ``scrub`` takes out of upstream text, and what it keeps."""

from __future__ import annotations

from tokenway.proxy.errors import REDACTED, scrub


def test_the_deployments_own_secrets_are_replaced_wherever_they_are() -> None:
    assert scrub("key abcd-1234 bad", ("abcd-1234",)) == f"key {REDACTED} bad"
    assert scrub("x=abcd-1234abcd-1234", ("abcd-1234",)) == f"x={REDACTED}{REDACTED}"


def test_anything_that_looks_like_a_credential_is_replaced() -> None:
    assert scrub("Authorization: Bearer xyz.1234") == f"Authorization: Bearer {REDACTED}"
    assert scrub("bearer eyJhbGciOi.x_y, then") == f"bearer {REDACTED}, then"
    assert scrub("at https://me:pw@host/v1 ok") == f"at https://me:{REDACTED}@host/v1 ok"
    assert scrub("sk-proj-abc_DEF-123 revoked") == f"{REDACTED} revoked"


def test_ordinary_text_is_left_alone() -> None:
    text = "sk-abc is short; the bearer of bad news; see https://host/v1?a=b"
    assert scrub(text, ("abcd",)) == text
