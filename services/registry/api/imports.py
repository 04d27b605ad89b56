"""Roster imports: a file in, a job to follow, the bad rows back as a spreadsheet, and the
templates a community worker fills in."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import File, Form, Query, Request, Response, UploadFile

from services.common.database import SessionDep
from services.registry.api.common import Importer, Reader, make_router
from services.registry.schemas import (
    CreatedBuilding,
    ImportAccepted,
    ImportOut,
    ImportRowError,
)
from services.registry.service import imports as service

router = make_router()

ImportKind = Literal["residents", "households", "buildings", "units"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def import_out(view: service.ImportView) -> ImportOut:
    job = view.job
    return ImportOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        filename=job.filename,
        total=job.total,
        imported=job.imported,
        unchanged=job.unchanged,
        failed=job.failed,
        message=job.message,
        errors=[ImportRowError(row=e.row, field=e.field, message=e.message) for e in view.errors],
        errors_truncated=view.errors_truncated,
        errors_url=f"/api/v1/registry/imports/{job.id}/errors.xlsx" if job.failed else None,
        create_buildings=job.create_buildings,
        created_buildings=[CreatedBuilding(**b) for b in view.created_buildings],
        warnings=view.warnings,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def xlsx_response(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/imports", status_code=202)
async def create_import(
    request: Request,
    kind: Annotated[ImportKind, Form()],
    file: Annotated[UploadFile, File(description=".xlsx or .csv from the import template")],
    principal: Importer,
    create_buildings: Annotated[
        bool,
        Form(
            description="create the buildings the roster names that its community lacks "
            "(without a location; the answer lists them). Otherwise such a row is refused, "
            "naming the closest existing buildings."
        ),
    ] = False,
) -> ImportAccepted:
    """Starts an import job. Small files are done before the answer; large ones run on and
    report progress at ``GET /imports/{id}``. A file of another shape is refused here with
    the list of missing columns. A CSV may be UTF-8 (with or without a BOM) or GBK/GB18030,
    as Chinese Excel saves it."""
    job_id, status = await service.start_import(
        state=request.app.state,
        principal=principal,
        kind=kind,
        upload=file,
        create_buildings=create_buildings,
    )
    return ImportAccepted(id=job_id, status=status)


@router.get("/imports/{job_id}")
async def get_import(
    job_id: str,
    session: SessionDep,
    principal: Importer,
    errors_limit: int = Query(default=1000, ge=0, le=10_000),
) -> ImportOut:
    view = await service.get_import(
        session=session, principal=principal, job_id=job_id, errors_limit=errors_limit
    )
    return import_out(view)


@router.get("/imports/{job_id}/errors.xlsx", response_class=Response)
async def import_errors_xlsx(
    job_id: str, request: Request, session: SessionDep, principal: Importer
) -> Response:
    """The bad rows with an error column: fix them and import this file. ID numbers and
    phones in full for callers with ``pii:read`` (the download is audited), masked else."""
    content = await service.errors_spreadsheet(
        session=session, principal=principal, cipher=request.app.state.cipher, job_id=job_id
    )
    return xlsx_response(content, f"import-{job_id}-errors.xlsx")


@router.get("/import-templates/{kind}.xlsx", response_class=Response)
async def import_template(kind: ImportKind, session: SessionDep, principal: Reader) -> Response:
    """The template: the columns, and a drop-down list on each enumerated one (gender,
    relation, residence type, the deployment's tags, unit category, coordinate system)."""
    content = await service.template(session=session, kind=kind)
    return xlsx_response(content, f"{kind}-template.xlsx")
