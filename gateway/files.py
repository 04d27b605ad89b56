"""Uploads: photos of cases and visits, evidence for co-building records. The type is judged
by the bytes (a ``.jpg`` that is really text is refused), the size is capped, and the bytes
are stored once per sha256 in the object store (the data dir, or the S3 bucket every
gateway replica shares), read back only by those ``may_read`` lets."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import filetype
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import StoredFile
from services.common.auth import Principal
from services.common.errors import AppError, NotFound
from services.common.storage import ObjectMissing, ObjectStore

ACCEPTED_TYPES = {"image/jpeg", "image/png", "application/pdf"}


def sniff_content_type(head: bytes) -> str | None:
    kind = filetype.guess(head)
    return kind.mime if kind is not None and kind.mime in ACCEPTED_TYPES else None


def blob_key(sha256: str) -> str:
    return f"files/{sha256[:2]}/{sha256[2:4]}/{sha256}"


async def store_upload(
    *,
    session: AsyncSession,
    store: ObjectStore,
    principal: Principal,
    data: bytes,
    original_name: str | None,
    limit: int,
) -> StoredFile:
    if not data:
        raise AppError("file.empty", 422)
    if len(data) > limit:
        raise AppError("file.too_large", 413, limit=limit)
    content_type = sniff_content_type(data[:8192])
    if content_type is None:
        raise AppError("file.type_unsupported", 415)
    digest = hashlib.sha256(data).hexdigest()
    key = blob_key(digest)
    if not await store.exists(key):  # the same bytes are stored once
        await store.put(key, data)
    record = StoredFile(
        sha256=digest,
        content_type=content_type,
        size=len(data),
        original_name=(original_name or "")[:255] or None,
        owner_id=principal.user_id,
    )
    session.add(record)
    await session.flush()
    return record


STAFF = ("district_admin", "street_admin", "community_admin", "grid_worker")


def may_read(principal: Principal, record: StoredFile) -> bool:
    """A file belongs to the record it is attached to: its uploader reads it, and so does
    staff whose scope reaches that record's area, and the unit the record was sent to. One
    attached to nothing yet is its uploader's alone."""
    if record.owner_id == principal.user_id or principal.unrestricted:
        return True
    if record.shared_unit_id and principal.unit_id == record.shared_unit_id:
        return True
    return bool(
        record.attached_area
        and principal.has_role(*STAFF)
        and principal.reaches(record.attached_area)
    )


def ensure_readable(principal: Principal, record: StoredFile | None) -> StoredFile:
    if record is None or not may_read(principal, record):
        raise NotFound()
    return record


async def download(store: ObjectStore, record: StoredFile) -> AsyncIterator[bytes]:
    """The file's bytes as a stream, its first chunk already read: a file the store has
    lost is a 404 before anything is answered, not a broken 200."""
    chunks = store.stream(blob_key(record.sha256))
    try:
        first = await anext(chunks)
    except ObjectMissing:
        raise NotFound() from None
    except StopAsyncIteration:
        first = b""

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return body()
