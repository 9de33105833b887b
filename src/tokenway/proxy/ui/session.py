"""Admin UI sessions: the master key exchanged for a signed, expiring cookie.

No table: a session is ``<expires>.<nonce>.<mac>`` where the MAC is HMAC-SHA256 over the
expiry and nonce under a key derived from the master key, so every worker of
``--workers N`` (and every instance sharing the master key) accepts it, and changing the
master key ends every session. The CSRF token is a second HMAC of the session's nonce:
the page reads it from a ``<meta>`` tag and sends it with each change, compared in
constant time. A logout clears the cookie; a copied cookie stays valid until it expires
(the price of keeping no table), so sessions are short (``SESSION_SECONDS``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

COOKIE = "tokenway_ui"
SESSION_SECONDS = 8 * 3600  # a working day; then the login page again
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    expires: int
    csrf: str


class Sessions:
    def __init__(self, master_key: str, clock: Callable[[], float] = time.time) -> None:
        # Derived, so the master key itself never signs anything a browser holds.
        self._key = hmac.new(master_key.encode(), b"tokenway-ui-session-v1", "sha256").digest()
        self._master = hashlib.sha256(master_key.encode()).digest()
        self._clock = clock

    def master_key_matches(self, offered: str) -> bool:
        digest = hashlib.sha256(offered.encode()).digest()
        return hmac.compare_digest(digest, self._master)

    def issue(self) -> tuple[str, Session]:
        """A new session's cookie value and the session."""
        expires = int(self._clock()) + SESSION_SECONDS
        nonce = secrets.token_urlsafe(18)
        body = f"{expires}.{nonce}"
        return f"{body}.{self._mac(body)}", self._session(nonce, expires)

    def verify(self, token: str | None) -> Session | None:
        """The session of a cookie value: None when absent, forged or expired."""
        if not token or len(token) > 200:
            return None
        body, _, mac = token.rpartition(".")
        expires_text, _, nonce = body.partition(".")
        if not nonce or not expires_text.isdigit():
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        expires = int(expires_text)
        if expires <= self._clock():
            return None
        return self._session(nonce, expires)

    def csrf_ok(self, session: Session, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), session.csrf.encode())

    def _session(self, nonce: str, expires: int) -> Session:
        return Session(nonce, expires, self._mac(f"csrf.{nonce}"))

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), "sha256").hexdigest()


def cookie_value(headers: Mapping[str, str], name: str = COOKIE) -> str | None:
    """One cookie's value from the request's ``Cookie`` header."""
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def set_cookie(value: str, *, max_age: int, secure: bool) -> tuple[str, str]:
    """The ``Set-Cookie`` header of the session cookie (``max_age`` 0 clears it)."""
    attributes = f"{COOKIE}={value}; Path=/ui; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return ("set-cookie", attributes + ("; Secure" if secure else ""))
