"""Sealing upstream keys given to ``/model/new``: AES-256-GCM, from the ``cryptography``
package (imported on first use, so a proxy that never stores a key never loads it).

The key is derived (HKDF-SHA256) from ``TOKENWAY_SALT_KEY``, else ``LITELLM_SALT_KEY``
(LiteLLM's name, taken as an alias so a LiteLLM deployment's environment works), else the
master key. Each sealed value has its own random 96-bit nonce, and the model's id is
bound in as associated data, so a sealed key copied onto another row does not open.

Changing the secret makes stored keys unreadable: those models are then left out (one
error line each) until they are given their key again with ``/model/update``. Setting
``TOKENWAY_SALT_KEY`` keeps them readable across a change of master key.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

SALT_ENV = "TOKENWAY_SALT_KEY"
LITELLM_SALT_ENV = "LITELLM_SALT_KEY"
_PREFIX = "aesgcm1:"
_NONCE_BYTES = 12
_HKDF_SALT = b"tokenway proxy_models"
_HKDF_INFO = b"upstream api_key v1"


class SealError(Exception):
    """A sealed key that does not open (another secret, or a damaged value)."""


class SecretBox:
    """Seals and opens upstream keys; ``secret`` None: nothing can be sealed."""

    def __init__(self, secret: str | None) -> None:
        self._secret = secret.encode() if secret else None
        self._key: bytes | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], master_key: str | None) -> SecretBox:
        return cls(env.get(SALT_ENV) or env.get(LITELLM_SALT_ENV) or master_key)

    @property
    def available(self) -> bool:
        return self._secret is not None

    def seal(self, plain: str, bound_to: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._derived()).encrypt(nonce, plain.encode(), bound_to.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, bound_to: str) -> str:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not sealed.startswith(_PREFIX) or self._secret is None:
            raise SealError("not a value this proxy sealed")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(_PREFIX) :])
            nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return AESGCM(self._derived()).decrypt(nonce, body, bound_to.encode()).decode()
        except (InvalidTag, ValueError) as err:
            raise SealError("sealed with another secret, or damaged") from err

    def _derived(self) -> bytes:
        if self._key is None:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            if self._secret is None:
                raise SealError(f"no secret to seal with: set {SALT_ENV} or a master key")
            kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
            self._key = kdf.derive(self._secret)
        return self._key
