"""How a roster's rows reach the writer: read, validated and sealed one batch ahead of it,
in a worker thread for a small roster, in a process of its own for a large one.

A thread shares the writer's GIL: parsing and sealing a row (~30 µs) then waits for the
writer's Python and the writer for it, and a 100,000-row roster spent a third of its time so.
A process parses beside the writer on the other core and hands each batch over pickled
(~3 µs a row to unpickle); it costs its start (about a second) and its own memory, which
pays from a few thousand rows (``import_parse_process_min_bytes``). Both run the same
``parsed_batches``: the same rows kept, the same problems named.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pickle
import struct
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, BinaryIO

import anyio

from services.common.errors import AppError
from services.common.pii import PiiCipher
from services.common.settings import Settings
from services.common.storage import ObjectMissing, object_store
from services.registry.imports.reading import check_header, open_rows, open_sealed
from services.registry.imports.rows import Context, Parsed, RosterResident, parse_chunk


@dataclass(frozen=True)
class Roster:
    """A stored roster as its parser reads it."""

    key: str  # the sealed object in the store
    suffix: str  # .csv or .xlsx
    kind: str
    encoding: str | None  # a CSV's
    in_memory: bool  # an xlsx small enough to be read whole (python-calamine)
    batch_rows: int


def parsed_batches(plain: BinaryIO, roster: Roster, ctx: Context) -> Iterator[list[Parsed]]:
    """The parsed rows of each batch of the file, header checked first."""
    rows = open_rows(plain, roster.suffix, roster.encoding, in_memory=roster.in_memory)
    first = next(rows, None)
    if first is None:
        raise AppError("import.empty", 422)
    header = [str(h).strip() for h in first]
    check_header(roster.kind, header)
    index = {h: i for i, h in enumerate(header) if h}
    row_number = 1
    while chunk := list(islice(rows, roster.batch_rows)):
        yield parse_chunk(roster.kind, chunk, row_number, index, ctx)
        row_number += len(chunk)


async def _opened(store, roster: Roster, cipher: PiiCipher) -> tuple[BinaryIO, BinaryIO]:
    """The stored object and, over it, the plain roster; an object gone or not ours to read
    is the roster's fault, not the server's."""
    try:
        raw = await store.open(roster.key)
    except ObjectMissing:
        raise AppError("import.file_unreadable", 422) from None
    try:
        # Its header is read here: in a worker thread, as every read of the store.
        plain = await anyio.to_thread.run_sync(open_sealed, raw, roster.key, cipher)
    except ValueError:
        await anyio.to_thread.run_sync(raw.close)
        raise AppError("import.file_unreadable", 422) from None
    return raw, plain


async def in_thread(store, roster: Roster, ctx: Context) -> AsyncIterator[list[Parsed]]:
    """Read and parse in a worker thread, one batch ahead of the writer (the store's reads
    block: they happen in that thread too)."""
    raw, plain = await _opened(store, roster, ctx.cipher)
    batches = parsed_batches(plain, roster, ctx)
    done = object()

    def step():
        return next(batches, done)

    upcoming = asyncio.ensure_future(anyio.to_thread.run_sync(step))
    try:
        while (item := await upcoming) is not done:
            upcoming = asyncio.ensure_future(anyio.to_thread.run_sync(step))
            yield item
    finally:
        upcoming.cancel()
        await anyio.to_thread.run_sync(raw.close)


# What the parsing process says, one pickled message at a time, each framed by its length.
_BATCH, _DONE, _REFUSED, _FAILED = "batch", "done", "refused", "failed"
_FRAME = struct.Struct("!Q")
# The pipe's buffer, where Linux lets it grow (64 KiB by default): a batch of 5,000 rows is
# ~3 MB pickled, and the parser writes ahead while the writer's loop is busy.
_PIPE_BYTES = 1024 * 1024
# What the writer's side holds before it stops reading: a whole batch or two while the writer
# is busy with the last. Less, and the parser waits half-way through sending for the writer
# to ask for the next batch, and the writer then waits for the one after.
_BUFFERED_BYTES = 4 * 1024 * 1024


def _child_main() -> None:
    """The parsing process (``python -m services.registry.imports.pipeline``): reads its
    work from stdin, opens the stored roster itself (a sealed file in the data dir or an S3
    object), and writes each batch to stdout as it is parsed; writing blocks while the pipe
    is full, so it runs at most a batch or so ahead of the writer."""
    out = os.dup(1)
    os.dup2(2, 1)  # a stray print goes to stderr, not into the batches
    _grow_pipe(out)
    settings, roster, ctx = pickle.load(sys.stdin.buffer)

    def send(message: Any) -> None:
        payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        view = memoryview(_FRAME.pack(len(payload)) + payload)
        while view:
            view = view[os.write(out, view) :]

    store = object_store(settings)
    cipher = PiiCipher(settings.pii_key, settings.pii_index_key)
    try:
        raw, plain = asyncio.run(_opened(store, roster, cipher))
        try:
            for batch in parsed_batches(plain, roster, replace(ctx, cipher=cipher)):
                send((_BATCH, _packed(batch)))
        finally:
            raw.close()
        send((_DONE, None))
    except AppError as exc:
        send((_REFUSED, exc))
    except BrokenPipeError:  # the writer stopped (its lease lost, the server shut down)
        pass
    except Exception as exc:  # noqa: BLE001 - told to the writer, which logs and fails the job
        send((_FAILED, f"{type(exc).__name__}: {exc}"))


def _packed(batch: list[Parsed]) -> list[tuple]:
    """A batch as it crosses: plain tuples, which unpickle in a third of the time the
    dataclasses took (~3 µs a row; the writer's process pays it)."""
    return [
        (p.row, p.values, tuple(p.data) if isinstance(p.data, RosterResident) else p.data)
        + ((p.problems, p.place) if p.problems else ())
        for p in batch
    ]


def _unpacked(rows: list[tuple]) -> list[Parsed]:
    batch = []
    for row in rows:
        data = row[2]
        if data.__class__ is tuple:
            data = RosterResident._make(data)
        parsed = Parsed(row[0], row[1], data)
        if len(row) > 3:
            parsed.problems, parsed.place = row[3], row[4]
        batch.append(parsed)
    return batch


def _grow_pipe(fd: int) -> None:
    # Not Linux, or past /proc/sys/fs/pipe-max-size: the default will do.
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)


class ParserFailed(RuntimeError):
    """The parsing process failed (or died) for a reason that is not the roster's."""


async def in_process(
    settings: Settings, roster: Roster, ctx: Context
) -> AsyncIterator[list[Parsed]]:
    """Read and parse in a process of its own, which keeps a batch ahead of the writer: a
    fresh interpreter running this module (not a fork of a threaded server, nor a spawn that
    imports the server's main module again). Its cipher is made there from the settings:
    the context crosses without it. Its output is read by the event loop as it comes (a
    thread reading it would wait for the GIL at every 64 KiB, and the parser with it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=_BUFFERED_BYTES,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(pickle.dumps((settings, roster, replace(ctx, cipher=None))))
        await process.stdin.drain()
        process.stdin.close()

        async def receive() -> tuple[str, Any]:
            try:
                (size,) = _FRAME.unpack(await process.stdout.readexactly(_FRAME.size))
                return pickle.loads(await process.stdout.readexactly(size))
            except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionResetError):
                code = await process.wait()
                return _FAILED, f"the parsing process ended (exit code {code})"

        while True:
            what, payload = await receive()
            if what != _BATCH:
                break
            yield _unpacked(payload)
        if what == _REFUSED:
            raise payload
        if what == _FAILED:
            raise ParserFailed(payload)
    finally:
        # Stopped early (the lease lost, a shutdown), the process goes with it.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()


if __name__ == "__main__":
    _child_main()
