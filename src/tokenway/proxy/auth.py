"""Who is calling: one function from request headers to a principal, or a 401.

Keys are compared as SHA-256 digests with ``hmac.compare_digest``, so neither the
comparison's time nor a log line reveals them. The master key is checked synchronously
(the hot path); any other key is hashed once and resolved through the ``KeyCache``
(``resolve``/``authenticate_async``), or through a plain ``KeyLookup``.

Hot path: a key that authenticated lately is remembered (token -> principal, in memory
only, bounded, never logged), so its next request skips the SHA-256; a virtual key whose
cache entry is fresh comes back resolved from ``authenticate`` without any await. Only
keys that succeeded enter that memo, so unknown keys cannot churn it. The dict lookup
compares the token only on a (randomized) string-hash match, which reveals nothing useful.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tokenway.errors import AuthenticationError
from tokenway.proxy.accounting.keys import KeyCache, KeyContext


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

_RECENT_TOKENS = 1024  # tokens remembered by the hot path; the oldest goes first


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
        self._recent: dict[str, Principal] = {}  # token -> its principal, see the docstring

    @property
    def enabled(self) -> bool:
        return self._master_hash is not None

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """Master or anonymous at once; with a ``KeyCache``, a virtual key whose entry is
        fresh comes back resolved, any other unresolved (``principal.unresolved``): pass
        it to ``resolve``."""
        if self._master_hash is None:
            return ANONYMOUS
        token = bearer_token(headers)
        if not token:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>' "
                "or 'api-key: <key>')",
                code="invalid_api_key",
            )
        known = self._recall(token)
        if known is not None:
            return known
        digest = hash_key(token)
        if hmac.compare_digest(digest.encode(), self._master_hash):
            return self._remember(token, Principal("master", digest))
        if self._keys is not None:
            ctx = self._keys.peek(digest)
            if ctx is None:
                return Principal("virtual", digest)
            return self._remember(token, Principal("virtual", digest, ctx))
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

    def _recall(self, token: str) -> Principal | None:
        """The remembered principal of ``token`` while still valid as it is, else None."""
        known = self._recent.get(token)
        if known is None or known.key is None or self._keys is None:
            return known  # None, or the master key (it never changes)
        assert known.key_hash is not None
        ctx = self._keys.peek(known.key_hash)
        if ctx is known.key:
            return known
        del self._recent[token]  # stale, reloaded or deleted: the full path decides
        return None

    def _remember(self, token: str, principal: Principal) -> Principal:
        recent = self._recent
        if len(recent) >= _RECENT_TOKENS:
            del recent[next(iter(recent))]
        recent[token] = principal
        return principal


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
    # Anthropic's header, and Azure's (LiteLLM takes both), asked only without Authorization
    return headers.get("x-api-key") or headers.get("api-key") or None
