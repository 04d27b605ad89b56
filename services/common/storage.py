"""Where files rest: uploads and the sealed import rosters, by key, in one object store. The
local folder under the data dir in the embedded mode; an S3 bucket (SeaweedFS, MinIO, AWS)
when ``GONGJIAN_S3_ENDPOINT`` is set, so that every replica reads what another wrote.

Keys are ours, never a client's: ``files/ab/cd/<sha256>``, ``imports/<job>.xlsx.sealed``.
Every call is async; the blocking work (the disk, boto3) runs in worker threads. ``open``
answers a seekable reader whose reads block: it is for code that already runs in a worker
thread (openpyxl reading a roster), and holds one block of the object at a time.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from services.common.blockio import BlockReader
from services.common.settings import Settings

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
# A ranged read fetches this much at once: a roster's 64 KiB chunks come 16 to a request,
# and memory holds one block whatever the object's size.
READ_BLOCK = 1024 * 1024
STREAM_CHUNK = 256 * 1024


class ObjectMissing(LookupError):
    """No object under that key."""


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"not an object key: {key!r}")
    return key


class ObjectStore(ABC):
    """put, get, open, stream, delete, exists: the same answers from every backend."""

    @abstractmethod
    async def put(self, key: str, source: bytes | BinaryIO) -> None:
        """Stores ``source`` (bytes, or a binary file read to its end) under ``key``,
        whole or not at all: a reader never sees half an object."""

    @abstractmethod
    async def open(self, key: str) -> BinaryIO:
        """A seekable reader of the object; raises ``ObjectMissing``. Its reads block."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Removes the object; a missing one is no error."""

    @abstractmethod
    async def exists(self, key: str) -> bool: ...

    async def ensure_ready(self) -> None:
        """Makes what the store needs (the folder, the bucket); ``gongjian migrate`` calls it."""
        return None

    async def get(self, key: str) -> bytes:
        reader = await self.open(key)
        try:
            return await anyio.to_thread.run_sync(reader.read)
        finally:
            reader.close()

    async def size(self, key: str) -> int:
        reader = await self.open(key)
        try:
            return await anyio.to_thread.run_sync(partial(reader.seek, 0, io.SEEK_END))
        finally:
            reader.close()

    async def stream(self, key: str, chunk_size: int = STREAM_CHUNK) -> AsyncIterator[bytes]:
        """The object's bytes, a chunk at a time (a download served without holding it)."""
        reader = await self.open(key)
        try:
            while chunk := await anyio.to_thread.run_sync(reader.read, chunk_size):
                yield chunk
        finally:
            reader.close()

    async def aclose(self) -> None:
        return None


class LocalStore(ObjectStore):
    """Objects as files under ``root``, written through a temporary name and renamed."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, source: bytes | BinaryIO) -> None:
        path = self.path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial_path = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
            try:
                with partial_path.open("wb") as out:
                    if isinstance(source, bytes | bytearray | memoryview):
                        out.write(source)
                    else:
                        shutil.copyfileobj(source, out, READ_BLOCK)
                os.replace(partial_path, path)  # atomic: whole or not at all
            finally:
                partial_path.unlink(missing_ok=True)

        await anyio.to_thread.run_sync(write)

    async def open(self, key: str) -> BinaryIO:
        path = self.path(key)
        try:
            return await anyio.to_thread.run_sync(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectMissing(key) from None

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(partial(self.path(key).unlink, missing_ok=True))

    async def exists(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self.path(key).is_file)

    async def ensure_ready(self) -> None:
        await anyio.to_thread.run_sync(partial(self.root.mkdir, parents=True, exist_ok=True))


def _missing(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in ("404", "NoSuchKey", "NotFound")


class RangedReader(BlockReader):
    """An S3 object read and seeked like a file, one ranged GET per block."""

    def __init__(self, client: Any, bucket: str, key: str, size: int, block: int) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        super().__init__(size, block)

    def read_block(self, index: int) -> bytes:
        start = index * self._block
        end = min(start + self._block, self._size) - 1
        answer = self._client.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={start}-{end}"
        )
        with answer["Body"] as body:
            return body.read()


class S3Store(ObjectStore):
    """Objects in an S3 bucket through boto3, whose blocking calls run in worker threads."""

    def __init__(self, settings: Settings) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = settings.s3_bucket
        self.region = settings.s3_region
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint,
            aws_access_key_id=settings.s3_access_key or None,
            aws_secret_access_key=settings.s3_secret_key or None,
            region_name=settings.s3_region,
            config=Config(
                # SeaweedFS and MinIO serve buckets by path, not by host name.
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=settings.s3_connect_timeout_s,
                read_timeout=settings.s3_read_timeout_s,
                max_pool_connections=settings.s3_pool_size,
            ),
        )
        # A large roster goes up in 8 MiB parts, two at a time: memory holds ~16 MiB of it.
        self.transfer = TransferConfig(
            multipart_threshold=8 * 1024 * 1024,
            multipart_chunksize=8 * 1024 * 1024,
            max_concurrency=2,
            preferred_transfer_client="classic",
        )

    async def _call(self, fn, /, **kwargs):
        return await anyio.to_thread.run_sync(partial(fn, **kwargs))

    async def put(self, key: str, source: bytes | BinaryIO) -> None:
        key = check_key(key)
        if isinstance(source, bytes | bytearray | memoryview):
            await self._call(self.client.put_object, Bucket=self.bucket, Key=key, Body=source)
            return
        await self._call(
            self.client.upload_fileobj,
            Fileobj=source,
            Bucket=self.bucket,
            Key=key,
            Config=self.transfer,
        )

    async def _head(self, key: str) -> dict:
        from botocore.exceptions import ClientError

        try:
            return await self._call(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise ObjectMissing(key) from None
            raise

    async def open(self, key: str) -> BinaryIO:
        key = check_key(key)
        size = (await self._head(key))["ContentLength"]
        raw = RangedReader(self.client, self.bucket, key, size, READ_BLOCK)
        # Buffered: a read of n bytes across two blocks answers all n, as a file's does.
        return io.BufferedReader(raw, buffer_size=STREAM_CHUNK)

    async def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            answer = await self._call(
                self.client.get_object, Bucket=self.bucket, Key=check_key(key)
            )
        except ClientError as exc:
            if _missing(exc):
                raise ObjectMissing(key) from None
            raise
        with answer["Body"] as body:
            return await anyio.to_thread.run_sync(body.read)

    async def size(self, key: str) -> int:
        return (await self._head(check_key(key)))["ContentLength"]

    async def stream(self, key: str, chunk_size: int = STREAM_CHUNK) -> AsyncIterator[bytes]:
        """One GET, its body read a chunk at a time in worker threads."""
        from botocore.exceptions import ClientError

        try:
            answer = await self._call(
                self.client.get_object, Bucket=self.bucket, Key=check_key(key)
            )
        except ClientError as exc:
            if _missing(exc):
                raise ObjectMissing(key) from None
            raise
        body = answer["Body"]
        try:
            while chunk := await anyio.to_thread.run_sync(body.read, chunk_size):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await self._call(self.client.delete_object, Bucket=self.bucket, Key=check_key(key))

    async def exists(self, key: str) -> bool:
        try:
            await self._head(check_key(key))
        except ObjectMissing:
            return False
        return True

    async def ensure_ready(self) -> None:
        await anyio.to_thread.run_sync(ensure_bucket, self.client, self.bucket, self.region)

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.client.close)


def ensure_bucket(client: Any, bucket: str, region: str) -> None:
    """The bucket exists afterwards, whoever made it (several may try at once)."""
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if not _missing(exc) and exc.response["Error"]["Code"] != "NoSuchBucket":
            raise
    options: dict[str, Any] = {}
    if region and region != "us-east-1":
        options["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(Bucket=bucket, **options)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def object_store(settings: Settings) -> ObjectStore:
    """The store the settings name: S3 when an endpoint is set, the data dir otherwise."""
    if settings.s3_endpoint:
        return S3Store(settings)
    return LocalStore(settings.data_dir)
