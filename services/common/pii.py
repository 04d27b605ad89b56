"""Personal data at rest and on the wire.

ID numbers and phones are stored encrypted (AES-256-GCM, a fresh nonce each time, the field
name bound as associated data so a ciphertext cannot be moved to another column) beside an
HMAC-SHA256 blind index that allows exact lookup without decrypting. Answers carry masked
values; the full value is for callers with ``pii:read``, and every such read is audited by
the owning service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"


class PiiCipher:
    def __init__(self, key_b64: str, index_key: str) -> None:
        key = base64.b64decode(key_b64)
        if len(key) != 32:
            raise ValueError("the PII key must be 32 bytes, base64-encoded")
        self._aead = AESGCM(key)
        # Keyed once; each index copies it (the key schedule is most of an HMAC's cost on a
        # short value, and imports take three indexes a row).
        self._index_mac = hmac.new(index_key.encode(), digestmod=hashlib.sha256)

    def encrypt(self, value: str, field: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), field.encode())
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, field: str) -> str:
        version, _, payload = token.partition(".")
        if version != _VERSION:
            raise ValueError(f"unknown PII cipher version {version!r}")
        raw = base64.urlsafe_b64decode(payload)
        return self._aead.decrypt(raw[:12], raw[12:], field.encode()).decode()

    def blind_index(self, value: str, field: str) -> str:
        """Deterministic, keyed: equal values give equal indexes, and the index alone reveals
        nothing without the key."""
        mac = self._index_mac.copy()
        mac.update(f"{field}:{value}".encode())
        return mac.hexdigest()


def mask_id_number(number: str | None) -> str | None:
    """``410105199001011234`` → ``410105********1234``: the region stays readable for staff."""
    if not number:
        return number
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``."""
    if not phone:
        return phone
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str | None) -> str | None:
    """``张三丰`` → ``张**``; for lists shown to people who need not know the full name."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)
