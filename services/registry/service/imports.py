"""Roster imports as the routes see them: a file accepted and its job started (done before
the answer when small, in the background when large), a job's progress and bad rows, and
the spreadsheets handed out. The work itself is ``services.registry.imports``."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from services.common.auth import Principal
from services.common.errors import AppError, Conflict, NotFound
from services.common.i18n import message
from services.common.ids import new_id
from services.common.memory import give_back_memory
from services.common.observability import request_id_var
from services.common.pii import PiiCipher, SealingReader
from services.registry import imports, repository, rules
from services.registry.imports import jobs
from services.registry.models import ImportError_, ImportJob, PiiAuditEntry


def _suffix(upload: UploadFile, head: bytes) -> str:
    name = (upload.filename or "").lower()
    if head.startswith(b"PK\x03\x04"):
        return ".xlsx"
    if name.endswith(".csv") or upload.content_type in ("text/csv", "application/csv"):
        return ".csv"
    raise AppError("import.file_unreadable", 422)


async def start_import(
    *,
    state: State,
    principal: Principal,
    kind: str,
    upload: UploadFile,
    create_buildings: bool = False,
) -> tuple[str, str]:
    """Store the file, check its header (a file of another shape is refused here with the
    list of missing columns), record the job and start it; answers the job's id and status.
    Small files are done before the answer; large ones run on in the background. A building
    the roster names that its community lacks is a bad row unless ``create_buildings``."""
    job_id = new_id()
    head = await upload.read(8)
    await upload.seek(0)
    suffix = _suffix(upload, head)
    expanded = encoding = sheet_cells = None
    if suffix == ".xlsx":  # an xlsx: its limits, from the archive, first
        checked = await anyio.to_thread.run_sync(imports.expanded_size, upload.file, state.settings)
        expanded, sheet_cells = checked.expanded, checked.cells
    else:  # a CSV is read through against the same limits, a line at a time; UTF-8 or GB
        checked = await anyio.to_thread.run_sync(imports.check_csv, upload.file, state.settings)
        encoding = checked.encoding
    # A file of another shape is refused before anything is stored.
    await upload.seek(0)
    header = await anyio.to_thread.run_sync(imports.read_header, upload.file, suffix, encoding)
    imports.check_header(kind, header)
    await upload.seek(0)
    # Stored encrypted (it holds ID numbers and phones), as it is read: the plain file never
    # rests in the store; the object is deleted when the job is done.
    key = f"imports/{job_id}{suffix}{imports.SEALED}"
    sealed = SealingReader(state.cipher, upload.file, job_id)
    await state.store.put(key, sealed)
    size = sealed.plain_size
    # Its own transaction: the job must exist before the work starts, whatever happens next.
    async with state.database.transaction() as session:
        session.add(
            ImportJob(
                id=job_id,
                kind=kind,
                filename=(upload.filename or f"roster{suffix}")[:255],
                file_path=key,  # the roster's key in the object store
                header=header,
                encoding=encoding,
                sheet_cells=sheet_cells,
                create_buildings=create_buildings,
                created_by=principal.user_id,
                created_by_name=principal.name,
                scope=list(principal.scope),
            )
        )
    # Whether it runs before the answer is decided on what it will take to parse.
    if (expanded or size) <= state.settings.import_inline_max_bytes:
        await imports.run_import(
            state.database,
            state.cipher,
            state.store,
            job_id,
            replica=state.replica_id,
            settings=state.settings,
        )
    else:
        jobs.run_in_background(state, job_id)
    async with state.database.transaction(write=False) as session:
        job = await repository.import_job_by_id(session, job_id)
        return job_id, job.status


async def _job(session: AsyncSession, principal: Principal, job_id: str) -> ImportJob:
    job = await repository.import_job(session, principal, job_id)
    if job is None:
        raise NotFound()
    return job


@dataclass
class ImportView:
    job: ImportJob
    errors: list[ImportError_]
    errors_truncated: bool
    created_buildings: list[dict]  # {id, community_code, name, has_location}
    warnings: list[str]


# Names spelled out in a warning; the answer's ``created_buildings`` lists them all.
_WARNING_NAMES = 20


async def get_import(
    *, session: AsyncSession, principal: Principal, job_id: str, errors_limit: int
) -> ImportView:
    """A job the caller may see (its own, or one whose scope lies inside the caller's), its
    first ``errors_limit`` bad rows and whether there are more, the buildings it created
    (whether each has a location now) and a warning naming those that still have none."""
    job = await _job(session, principal, job_id)
    errors = await repository.import_errors(session, job.id, errors_limit + 1)
    created = list(job.created_buildings or [])
    located = await repository.located_buildings(session, [b["id"] for b in created])
    created = [{**b, "has_location": b["id"] in located} for b in created]
    warnings = []
    unplaced = [b["name"] for b in created if not b["has_location"]]
    if unplaced:
        names = "、".join(unplaced[:_WARNING_NAMES])
        if len(unplaced) > _WARNING_NAMES:
            names += " 等"
        warnings.append(
            message("import.buildings_without_location", "zh", count=len(unplaced), names=names)
        )
    return ImportView(job, errors[:errors_limit], len(errors) > errors_limit, created, warnings)


async def errors_spreadsheet(
    *, session: AsyncSession, principal: Principal, cipher: PiiCipher, job_id: str
) -> bytes:
    """The bad rows as they were, with an error column: fix them and import this file."""
    job = await _job(session, principal, job_id)
    if job.status in ("queued", "running"):
        raise Conflict("import.not_finished")
    header = job.header or [c.header for c in imports.COLUMNS[job.kind]]
    errors = await repository.import_errors(session, job.id, None)
    reveal = principal.has("pii:read")
    if reveal and errors:  # full ID numbers and phones handed out: written down as a read
        session.add(
            PiiAuditEntry(
                actor_id=principal.user_id,
                actor_roles=list(principal.roles),
                subject_type="import",
                subject_id=job.id,
                community_code=(job.scope[0] if job.scope else "")[:12],
                fields=["id_number", "phone"],
                reason="下载导入错误表以更正",
                request_id=request_id_var.get(),
            )
        )
        await session.flush()
    sheet = await anyio.to_thread.run_sync(
        imports.errors_xlsx, job.kind, header, errors, cipher, reveal
    )
    await give_back_memory()  # openpyxl held the whole workbook: 30,000 rows, ~100 MB
    return sheet


async def template(*, session: AsyncSession, kind: str) -> bytes:
    """The template a community worker fills in, its tags list the deployment's tags and
    floating population, which the tag column takes too."""
    tags = sorted(await repository.list_tags(session), key=lambda t: (not t.builtin, t.code))
    names = [t.name for t in tags] + [rules.FLOATING_TAG[1]]
    return await anyio.to_thread.run_sync(imports.template_xlsx, kind, names)
