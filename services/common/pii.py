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
import io
import os
import struct
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.blockio import BlockReader

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


# --- files: personal data in an uploaded roster rests encrypted too -------------------------

_FILE_MAGIC = b"GJF1"
_CHUNK = 64 * 1024
_HEADER = struct.Struct(">4sIQ")  # magic, chunk size, plain length


def sealed_size(plain_size: int, chunk: int = _CHUNK) -> int:
    chunks = -(-plain_size // chunk)
    return _HEADER.size + plain_size + chunks * (12 + 16)


class SealingReader(io.RawIOBase):
    """``source`` read as it rests once sealed: a header, then each 64 KiB chunk encrypted
    (AES-256-GCM, the chunk's index and ``label`` bound as associated data, so chunks
    cannot be swapped or moved to another file). Encrypts as it is read, so the sealed
    file is written to the object store as a stream, and the plain one never rests; the
    source must be seekable, for its size goes in the header."""

    def __init__(self, cipher: PiiCipher, source: BinaryIO, label: str) -> None:
        self._cipher, self._source, self._label = cipher, source, label
        start = source.tell()
        self.plain_size = source.seek(0, io.SEEK_END) - start
        source.seek(start)
        self._pending = _HEADER.pack(_FILE_MAGIC, _CHUNK, self.plain_size)
        self._index = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._pending:
            chunk = self._source.read(_CHUNK)
            if not chunk:
                return 0
            nonce = os.urandom(12)
            aad = _chunk_aad(self._label, self._index)
            self._pending = nonce + self._cipher._aead.encrypt(nonce, chunk, aad)
            self._index += 1
        piece, self._pending = self._pending[: len(buffer)], self._pending[len(buffer) :]
        buffer[: len(piece)] = piece
        return len(piece)


def _chunk_aad(label: str, index: int) -> bytes:
    return f"{label}:{index}".encode()


class SealedFile(BlockReader):
    """A sealed file (see ``SealingReader``), from any seekable handle (a local file, a
    ranged reader of an object in S3), read and seeked as the plain bytes (openpyxl needs
    to seek inside an xlsx), decrypting one chunk at a time: the plain file never touches
    a disk, and memory holds a chunk."""

    def __init__(self, cipher: PiiCipher, raw: BinaryIO, label: str) -> None:
        self._cipher = cipher
        self._label = label
        self._raw = raw
        magic, chunk, size = _HEADER.unpack(self._raw.read(_HEADER.size))
        if magic != _FILE_MAGIC:
            raise ValueError("not a sealed file")
        super().__init__(size, chunk)

    def read_block(self, index: int) -> bytes:
        sealed_len = 12 + self._block + 16
        self._raw.seek(_HEADER.size + index * sealed_len)
        sealed = self._raw.read(sealed_len)
        return self._cipher._aead.decrypt(sealed[:12], sealed[12:], _chunk_aad(self._label, index))

    def close(self) -> None:
        self._raw.close()
        super().close()
