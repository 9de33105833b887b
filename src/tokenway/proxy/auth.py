"""Who is calling: one function from request headers to a principal, or a 401.

Keys are compared as SHA-256 digests with ``hmac.compare_digest``, so neither the
comparison's time nor a log line reveals them. The master key is checked synchronously
(the hot path); any other key is hashed once and resolved through the ``KeyCache``
(``resolve``/``authenticate_async``), or through a plain ``KeyLookup``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tokenway.errors import AuthenticationError
from tokenway.proxy.keys import KeyCache, KeyContext


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "master", "virtual", or "anonymous" when the proxy runs without a master key
    key_hash: str | None = None
    key: KeyContext | None = None  # a virtual key once resolved through the KeyCache

    @property
    def unresolved(self) -> bool:
        """A virtual key still to be looked up (``Authenticator.resolve``)."""
        return self.kind == "virtual" and self.key is None


ANONYMOUS = Principal("anonymous")

# hashed key -> principal; the virtual-key store will provide one of these.
KeyLookup = Callable[[str], Principal | None]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    def __init__(
        self,
        master_key: str | None,
        lookup: KeyLookup | None = None,
        *,
        keys: KeyCache | None = None,
    ) -> None:
        self._master_hash = hash_key(master_key).encode() if master_key else None
        self._lookup = lookup
        self._keys = keys

    @property
    def enabled(self) -> bool:
        return self._master_hash is not None

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """Master or anonymous at once; with a ``KeyCache``, any other key comes back
        unresolved (``principal.unresolved``): pass it to ``resolve``."""
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
        if self._keys is not None:
            return Principal("virtual", digest)
        principal = self._lookup(digest) if self._lookup else None
        if principal is None:
            raise _invalid_key()
        return principal

    async def resolve(self, principal: Principal) -> Principal:
        """Look an unresolved virtual key up; 401 for a key the store does not know."""
        if self._keys is None or not principal.unresolved or principal.key_hash is None:
            return principal
        ctx = await self._keys.resolve(principal.key_hash)
        if ctx is None:
            raise _invalid_key()
        return Principal("virtual", principal.key_hash, ctx)

    async def authenticate_async(self, headers: Mapping[str, str]) -> Principal:
        principal = self.authenticate(headers)
        return await self.resolve(principal) if principal.unresolved else principal


def _invalid_key() -> AuthenticationError:
    return AuthenticationError(
        "invalid API key: it is unknown or was deleted; check the key you send",
        code="invalid_api_key",
    )


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return headers.get("x-api-key") or None
