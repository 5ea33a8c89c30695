"""Secret values at rest: Fernet (AES-128-CBC + HMAC-SHA256, authenticated) with
key rotation through MultiFernet.

Keys come from settings.FIELD_ENCRYPTION_KEYS, newest first. New values are
encrypted with the newest; any listed key decrypts, so a key is rotated by adding a
new one in front, running `manage.py rotate_secrets`, then dropping the old one."""
from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    pass


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: set at least one key (urlsafe base64, 32 bytes)")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a malformed key: each must be 32 bytes in urlsafe base64, "
            'e.g. python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from None


def _fernet() -> MultiFernet:
    return _multifernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_mapping(data: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt_mapping(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        # Never include the token or any value in the message.
        raise DecryptionError(
            "a secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS: "
            "add back the key it was written with"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt a token with the newest key."""
    if not token:
        return token
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "a secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS: add back the key it was written with"
        ) from None
