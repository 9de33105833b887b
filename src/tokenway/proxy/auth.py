"""Who is calling: one function from request headers to a principal, or a 401.

Keys are compared as SHA-256 digests with ``hmac.compare_digest``, so neither the
comparison's time nor a log line reveals them. Virtual keys plug in as another
``KeyLookup`` without touching the routes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tokenway.errors import AuthenticationError


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "master", "virtual", or "anonymous" when the proxy runs without a master key
    key_hash: str | None = None


ANONYMOUS = Principal("anonymous")

# hashed key -> principal; the virtual-key store will provide one of these.
KeyLookup = Callable[[str], Principal | None]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    def __init__(self, master_key: str | None, lookup: KeyLookup | None = None) -> None:
        self._master_hash = hash_key(master_key).encode() if master_key else None
        self._lookup = lookup

    @property
    def enabled(self) -> bool:
        return self._master_hash is not None

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        if self._master_hash is None:
            return ANONYMOUS
        token = bearer_token(headers)
        if not token:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>')",
                code="invalid_api_key",
            )
        digest = hash_key(token)
        if hmac.compare_digest(digest.encode(), self._master_hash):
            return Principal("master", digest)
        principal = self._lookup(digest) if self._lookup else None
        if principal is None:
            raise AuthenticationError("invalid API key", code="invalid_api_key")
        return principal


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return headers.get("x-api-key") or None
