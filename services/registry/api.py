"""The registry's routes: parse, call the service, answer."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from services.common.auth import Principal, PrincipalDep, require
from services.common.database import SessionDep, TransactionalRoute
from services.common.errors import AppError, Conflict, NotFound
from services.common.http import with_etag
from services.common.ids import new_id
from services.common.pagination import Page, PageParams, page_params
from services.common.schemas import Timestamp
from services.common.validators import AreaCodeStr, IdNumberStr, MobileStr
from services.registry import counts, imports, repository, rules
from services.registry.models import ImportJob, Resident, Unit
from services.registry.schemas import (
    AreaCreate,
    AreaOut,
    AreaPatch,
    AreaStats,
    AuditEntryOut,
    BuildingCreate,
    BuildingOut,
    BuildingPatch,
    CellAssignmentResult,
    CellAssignments,
    CellCounts,
    ChildrenStats,
    FacilityOut,
    HouseholdCreate,
    HouseholdOut,
    HouseholdPatch,
    ImportAccepted,
    ImportOut,
    ImportRowError,
    MoveOut,
    RegistrySyncOut,
    ResidentCreate,
    ResidentOut,
    ResidentPatch,
    RevealOut,
    RevealRequest,
    SyncDeleted,
    SyncHousehold,
    SyncResident,
    TagCreate,
    TagOut,
    UnitCreate,
    UnitOut,
    UnitPatch,
)
from services.registry.service import areas as areas_service
from services.registry.service import buildings as buildings_service
from services.registry.service import common as common_service
from services.registry.service import households as households_service
from services.registry.service import residents as residents_service
from services.registry.service import stats as stats_service
from services.registry.service import sync as sync_service
from services.registry.service import units as units_service

router = APIRouter(prefix="/api/v1/registry", tags=["registry"], route_class=TransactionalRoute)

Reader = Annotated[Principal, Depends(require("registry:read"))]
Writer = Annotated[Principal, Depends(require("registry:write"))]
Paging = Annotated[PageParams, Depends(page_params)]


def _prefix(code: str | None) -> str | None:
    return rules.area_prefix(code) if code else None


# --- areas ---------------------------------------------------------------------------------


@router.post("/areas", status_code=201)
async def create_area(body: AreaCreate, session: SessionDep, principal: Writer) -> AreaOut:
    area = await areas_service.create_area(session=session, principal=principal, data=body)
    return AreaOut.model_validate(area, from_attributes=True)


@router.get("/areas")
async def list_areas(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    parent: AreaCodeStr | None = None,
    level: Literal["province", "city", "district", "street", "community"] | None = None,
    under: AreaCodeStr | None = Query(default=None, description="every area below this one"),
) -> Page[AreaOut]:
    areas, cursor = await repository.list_areas(
        session, principal, page, parent=parent, level=level, under=_prefix(under)
    )
    return Page(
        items=[AreaOut.model_validate(a, from_attributes=True) for a in areas], next_cursor=cursor
    )


@router.get("/areas/{code}")
async def get_area(
    code: str, request: Request, response: Response, session: SessionDep, principal: Reader
) -> AreaOut:
    area = await areas_service.get_area(session=session, principal=principal, code=code)
    return with_etag(request, response, AreaOut.model_validate(area, from_attributes=True))


@router.patch("/areas/{code}")
async def patch_area(code: str, body: AreaPatch, session: SessionDep, principal: Writer) -> AreaOut:
    area = await areas_service.patch_area(
        session=session, principal=principal, code=code, data=body
    )
    return AreaOut.model_validate(area, from_attributes=True)


@router.get("/areas/{code}/children")
async def area_children(
    code: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[AreaOut]:
    await areas_service.get_area(session=session, principal=principal, code=code)
    areas, cursor = await repository.list_areas(
        session, principal, page, parent=code, level=None, under=None
    )
    return Page(
        items=[AreaOut.model_validate(a, from_attributes=True) for a in areas], next_cursor=cursor
    )


@router.get("/areas/{code}/stats")
async def area_stats(code: str, session: SessionDep, principal: Reader) -> AreaStats:
    """Residents by residence type, households, party members and tags, summed over the
    whole subtree."""
    return AreaStats(
        **await stats_service.area_stats(session=session, principal=principal, code=code)
    )


@router.get("/areas/{code}/children/stats")
async def children_stats(
    code: str,
    session: SessionDep,
    principal: Reader,
    level: Literal["city", "district", "street", "community"] | None = Query(
        default=None, description="every area at this level below, instead of the children"
    ),
) -> ChildrenStats:
    """The area's figures and each child's, in one call (the volunteer rate and the
    assessment use it as their denominator)."""
    return ChildrenStats(
        **await stats_service.children_stats(
            session=session, principal=principal, code=code, level=level
        )
    )


@router.post("/areas/{code}/recount")
async def recount_area(
    code: str, session: SessionDep, principal: Principal = Depends(require("registry:admin"))
) -> AreaStats:
    """Rebuilds the running counts under an area from the residents, tags and households
    (a repair tool: the counts are kept in step by every write)."""
    await areas_service.get_area(session=session, principal=principal, code=code)
    await counts.recount(session, rules.area_prefix(code))
    await session.flush()
    return AreaStats(
        **await stats_service.area_stats(session=session, principal=principal, code=code)
    )


# --- buildings -----------------------------------------------------------------------------


def _building_out(building) -> BuildingOut:
    return BuildingOut.model_validate(building, from_attributes=True)


@router.post("/buildings", status_code=201)
async def create_building(
    body: BuildingCreate, request: Request, session: SessionDep, principal: Writer
) -> BuildingOut:
    """With coordinates, the building is placed in the grid cell that contains it."""
    return _building_out(
        await buildings_service.create_building(
            session=session, principal=principal, data=body, peers=request.app.state.peers
        )
    )


@router.get("/buildings")
async def list_buildings(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = None,
    cell: str | None = Query(default=None, max_length=32),
    q: str | None = Query(default=None, max_length=100, description="name prefix"),
) -> Page[BuildingOut]:
    rows, cursor = await repository.list_buildings(
        session, principal, page, community=_prefix(community), cell=cell, q=q
    )
    return Page(items=[_building_out(b) for b in rows], next_cursor=cursor)


@router.get("/buildings/{building_id}")
async def get_building(
    building_id: str, request: Request, response: Response, session: SessionDep, principal: Reader
) -> BuildingOut:
    building = await buildings_service.get_building(
        session=session, principal=principal, building_id=building_id
    )
    return with_etag(request, response, _building_out(building))


@router.patch("/buildings/{building_id}")
async def patch_building(
    building_id: str, body: BuildingPatch, request: Request, session: SessionDep, principal: Writer
) -> BuildingOut:
    building = await buildings_service.patch_building(
        session=session,
        principal=principal,
        building_id=building_id,
        data=body,
        peers=request.app.state.peers,
    )
    return _building_out(building)


@router.delete("/buildings/{building_id}", status_code=204)
async def delete_building(building_id: str, session: SessionDep, principal: Writer) -> Response:
    await buildings_service.delete_building(
        session=session, principal=principal, building_id=building_id
    )
    return Response(status_code=204)


# --- households ----------------------------------------------------------------------------


@router.post("/households", status_code=201)
async def create_household(
    body: HouseholdCreate, session: SessionDep, principal: Writer
) -> HouseholdOut:
    household = await households_service.create_household(
        session=session, principal=principal, data=body
    )
    return HouseholdOut.model_validate(household, from_attributes=True)


@router.get("/households")
async def list_households(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = None,
    building_id: str | None = Query(default=None, max_length=36),
) -> Page[HouseholdOut]:
    rows, cursor = await repository.list_households(
        session, principal, page, community=_prefix(community), building_id=building_id
    )
    sizes = await repository.household_sizes(session, [h.id for h in rows])
    return Page(
        items=[
            HouseholdOut.model_validate(h, from_attributes=True).model_copy(
                update={"members": sizes.get(h.id, 0)}
            )
            for h in rows
        ],
        next_cursor=cursor,
    )


@router.get("/households/{household_id}")
async def get_household(
    household_id: str, request: Request, response: Response, session: SessionDep, principal: Reader
) -> HouseholdOut:
    household = await households_service.get_household(
        session=session, principal=principal, household_id=household_id
    )
    sizes = await repository.household_sizes(session, [household.id])
    out = HouseholdOut.model_validate(household, from_attributes=True).model_copy(
        update={"members": sizes.get(household.id, 0)}
    )
    return with_etag(request, response, out)


@router.patch("/households/{household_id}")
async def patch_household(
    household_id: str, body: HouseholdPatch, session: SessionDep, principal: Writer
) -> HouseholdOut:
    household = await households_service.patch_household(
        session=session, principal=principal, household_id=household_id, data=body
    )
    return HouseholdOut.model_validate(household, from_attributes=True)


# --- residents -----------------------------------------------------------------------------


def resident_out(resident: Resident, principal: Principal, today: date) -> ResidentOut:
    age = (
        today.year
        - resident.birth_date.year
        - ((today.month, today.day) < (resident.birth_date.month, resident.birth_date.day))
    )
    minor = age < rules.minor_age()
    return ResidentOut(
        id=resident.id,
        name=resident.name,
        id_number_masked=resident.id_number_masked,
        phone=resident.phone_masked,
        gender=resident.gender,
        # A minor's birth date is for those who may read personal data in full.
        birth_date=resident.birth_date if not minor or principal.has("pii:read") else None,
        age=age,
        minor=minor,
        community_code=resident.community_code,
        household_id=resident.household_id,
        building_id=resident.building_id,
        relation_to_head=resident.relation_to_head,
        residence_type=resident.residence_type,
        tags=[t.tag for t in resident.tag_rows],
        status=resident.status,
        moved_in_on=resident.moved_in_on,
        moved_out_on=resident.moved_out_on,
        updated_at=resident.updated_at,
    )


@router.post("/residents", status_code=201)
async def create_resident(
    body: ResidentCreate, request: Request, session: SessionDep, principal: Writer
) -> ResidentOut:
    resident = await residents_service.create_resident(
        session=session, principal=principal, cipher=request.app.state.cipher, data=body
    )
    return resident_out(resident, principal, common_service.today())


@router.get("/residents")
async def list_residents(
    request: Request,
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = Query(
        default=None, description="an area code: everything below it"
    ),
    q: str | None = Query(default=None, min_length=1, max_length=50, description="name prefix"),
    phone: MobileStr | None = Query(default=None, description="exact"),
    id_number: IdNumberStr | None = Query(default=None, description="exact"),
    tag: str | None = Query(default=None, max_length=32),
    building_id: str | None = Query(default=None, max_length=36),
    household_id: str | None = Query(default=None, max_length=36),
    residence_type: Literal["registered", "permanent", "floating"] | None = None,
    status: Literal["current", "moved_out", "all"] = "current",
) -> Page[ResidentOut]:
    cipher = request.app.state.cipher
    stmt = repository.resident_query(
        principal,
        community=_prefix(community),
        q=q,
        phone_index=cipher.blind_index(phone, "phone") if phone else None,
        id_number_index=cipher.blind_index(id_number, "id_number") if id_number else None,
        tag=tag,
        building_id=building_id,
        household_id=household_id,
        residence_type=residence_type,
        status=None if status == "all" else status,
    )
    rows, cursor = await repository.list_residents(session, stmt, page)
    today = common_service.today()
    return Page(items=[resident_out(r, principal, today) for r in rows], next_cursor=cursor)


@router.get("/residents/{resident_id}")
async def get_resident(
    resident_id: str, request: Request, response: Response, session: SessionDep, principal: Reader
) -> ResidentOut:
    resident = await residents_service.get_resident(
        session=session, principal=principal, resident_id=resident_id
    )
    return with_etag(request, response, resident_out(resident, principal, common_service.today()))


@router.patch("/residents/{resident_id}")
async def patch_resident(
    resident_id: str, body: ResidentPatch, request: Request, session: SessionDep, principal: Writer
) -> ResidentOut:
    resident = await residents_service.patch_resident(
        session=session,
        principal=principal,
        cipher=request.app.state.cipher,
        resident_id=resident_id,
        data=body,
    )
    return resident_out(resident, principal, common_service.today())


@router.post("/residents/{resident_id}/move-out")
async def move_out(
    resident_id: str, body: MoveOut, session: SessionDep, principal: Writer
) -> ResidentOut:
    """Residents are never deleted: moving out keeps the record and its history."""
    resident = await residents_service.move_out(
        session=session, principal=principal, resident_id=resident_id, data=body
    )
    return resident_out(resident, principal, common_service.today())


@router.post("/residents/{resident_id}/reveal")
async def reveal_resident(
    resident_id: str, body: RevealRequest, request: Request, session: SessionDep, principal: Reader
) -> RevealOut:
    """The full ID number and phone, for callers with ``pii:read``, with a reason; audited."""
    return RevealOut(
        **await residents_service.reveal(
            session=session,
            principal=principal,
            cipher=request.app.state.cipher,
            resident_id=resident_id,
            data=body,
        )
    )


@router.get("/audit-log")
async def audit_log(
    session: SessionDep,
    page: Paging,
    principal: Principal = Depends(require("audit:read")),
    subject_id: str | None = Query(default=None, max_length=36),
) -> Page[AuditEntryOut]:
    """Every unmasked read of personal data inside the caller's scope, newest first."""
    rows, cursor = await repository.list_audit(session, principal, page, subject_id=subject_id)
    return Page(
        items=[AuditEntryOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor,
    )


@router.get("/tags")
async def list_tags(session: SessionDep, principal: Reader) -> list[TagOut]:
    return [
        TagOut.model_validate(t, from_attributes=True) for t in await repository.list_tags(session)
    ]


@router.post("/tags", status_code=201)
async def create_tag(
    body: TagCreate, session: SessionDep, principal: Principal = Depends(require("registry:admin"))
) -> TagOut:
    """A deployment-defined tag (the built-in ones cover seeds 000 and 003)."""
    return TagOut.model_validate(
        await residents_service.create_tag(session=session, data=body), from_attributes=True
    )


# --- units ---------------------------------------------------------------------------------


def unit_out(unit: Unit) -> UnitOut:
    return UnitOut(
        id=unit.id,
        name=unit.name,
        uscc=unit.uscc,
        category=unit.category,
        community_code=unit.community_code,
        address=unit.address,
        contact_name=unit.contact_name,
        contact_phone=unit.contact_phone_masked,
        party_org_name=unit.party_org_name,
        party_member_count=unit.party_member_count,
        facilities=[FacilityOut.model_validate(f, from_attributes=True) for f in unit.facilities],
        warnings=units_service.unit_warnings(unit),
        updated_at=unit.updated_at,
    )


@router.post("/units", status_code=201)
async def create_unit(
    body: UnitCreate, request: Request, session: SessionDep, principal: Writer
) -> UnitOut:
    unit = await units_service.create_unit(
        session=session, principal=principal, cipher=request.app.state.cipher, data=body
    )
    return unit_out(unit)


@router.get("/units")
async def list_units(
    session: SessionDep,
    principal: PrincipalDep,
    page: Paging,
    community: AreaCodeStr | None = None,
    q: str | None = Query(default=None, max_length=100),
    category: str | None = Query(default=None, max_length=32),
) -> Page[UnitOut]:
    rows, cursor = await repository.list_units(
        session, principal, page, community=_prefix(community), q=q, category=category
    )
    return Page(items=[unit_out(u) for u in rows], next_cursor=cursor)


@router.get("/units/{unit_id}")
async def get_unit(
    unit_id: str, request: Request, response: Response, session: SessionDep, principal: PrincipalDep
) -> UnitOut:
    unit = await units_service.get_unit(session=session, principal=principal, unit_id=unit_id)
    return with_etag(request, response, unit_out(unit))


@router.patch("/units/{unit_id}")
async def patch_unit(
    unit_id: str, body: UnitPatch, request: Request, session: SessionDep, principal: PrincipalDep
) -> UnitOut:
    unit = await units_service.patch_unit(
        session=session,
        principal=principal,
        cipher=request.app.state.cipher,
        unit_id=unit_id,
        data=body,
    )
    return unit_out(unit)


# --- imports -------------------------------------------------------------------------------

ImportKind = Literal["residents", "households", "buildings", "units"]


def _imports_dir(request: Request) -> Path:
    return request.app.state.settings.data_dir / "imports"


def _suffix(upload: UploadFile, head: bytes) -> str:
    name = (upload.filename or "").lower()
    if head.startswith(b"PK\x03\x04"):
        return ".xlsx"
    if name.endswith(".csv") or upload.content_type in ("text/csv", "application/csv"):
        return ".csv"
    raise AppError("import.file_unreadable", 422)


@router.post("/imports", status_code=202)
async def create_import(
    request: Request,
    kind: Annotated[ImportKind, Form()],
    file: Annotated[UploadFile, File(description=".xlsx or .csv from the import template")],
    principal: Principal = Depends(require("registry:import")),
) -> ImportAccepted:
    """Starts an import job. Small files are done before the answer; large ones run on and
    report progress at ``GET /imports/{id}``. A file of another shape is refused here with
    the list of missing columns."""
    state = request.app.state
    job_id = new_id()
    head = await file.read(8)
    await file.seek(0)
    path = _imports_dir(request) / f"{job_id}{_suffix(file, head)}"

    def save() -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1024 * 1024)
        return path.stat().st_size

    size = await anyio.to_thread.run_sync(save)
    try:
        header = await anyio.to_thread.run_sync(imports.read_header, path)
        imports.check_header(kind, header)
    except AppError:
        path.unlink(missing_ok=True)
        raise
    # Its own transaction: the job must exist before the work starts, whatever happens next.
    async with state.database.transaction() as session:
        session.add(
            ImportJob(
                id=job_id,
                kind=kind,
                filename=(file.filename or path.name)[:255],
                file_path=str(path),
                created_by=principal.user_id,
                scope=list(principal.scope),
            )
        )
    if size <= state.settings.import_inline_max_bytes:
        await imports.run_import(state.database, state.cipher, job_id)
    else:
        start_import_task(request.app, job_id)
    async with state.database.transaction(write=False) as session:
        job = await session.get(ImportJob, job_id)
        return ImportAccepted(id=job_id, status=job.status)


def start_import_task(app, job_id: str) -> None:
    tasks: set = app.state.import_tasks
    task = asyncio.create_task(imports.run_import(app.state.database, app.state.cipher, job_id))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


@router.get("/imports/{job_id}")
async def get_import(
    job_id: str,
    session: SessionDep,
    principal: Principal = Depends(require("registry:import")),
    errors_limit: int = Query(default=1000, ge=0, le=10_000),
) -> ImportOut:
    job = await repository.import_job(session, principal, job_id)
    if job is None:
        raise NotFound()
    errors = await repository.import_errors(session, job.id, errors_limit + 1)
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
        errors=[
            ImportRowError(row=e.row, field=e.field, message=e.message)
            for e in errors[:errors_limit]
        ],
        errors_truncated=len(errors) > errors_limit,
        errors_url=f"/api/v1/registry/imports/{job.id}/errors.xlsx" if job.failed else None,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/imports/{job_id}/errors.xlsx", response_class=Response)
async def import_errors_xlsx(
    job_id: str, session: SessionDep, principal: Principal = Depends(require("registry:import"))
) -> Response:
    """The bad rows with an error column: fix them and import this file."""
    job = await repository.import_job(session, principal, job_id)
    if job is None:
        raise NotFound()
    if job.status in ("queued", "running"):
        raise Conflict("import.not_finished")
    header = [c.header for c in imports.COLUMNS[job.kind]]
    with contextlib.suppress(AppError):  # the source is gone: the template's columns will do
        header = await anyio.to_thread.run_sync(imports.read_header, Path(job.file_path))
    errors = await repository.import_errors(session, job.id, None)
    content = await anyio.to_thread.run_sync(imports.errors_xlsx, header, errors)
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.xlsx"'},
    )


@router.get("/import-templates/{kind}.xlsx", response_class=Response)
async def import_template(kind: ImportKind, principal: Reader) -> Response:
    content = await anyio.to_thread.run_sync(imports.template_xlsx, kind)
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{kind}-template.xlsx"'},
    )


# --- for the grid service ------------------------------------------------------------------


@router.post("/buildings/cell-assignments")
async def assign_cells(
    body: CellAssignments,
    session: SessionDep,
    principal: Principal = Depends(require("registry:assign_cells")),
) -> CellAssignmentResult:
    """The grid service tells which cell each building lies in (buildings are the
    registry's; only it writes them)."""
    return CellAssignmentResult(
        updated=await sync_service.assign_cells(session=session, assignments=body.assignments)
    )


@router.get("/cell-counts")
async def cell_counts(
    session: SessionDep,
    principal: Reader,
    cells: str = Query(min_length=1, max_length=20_000, description="comma-separated cell codes"),
) -> list[CellCounts]:
    """Buildings, households and current residents per grid cell (visit coverage), for the
    cells within the caller's scope; the others are left out."""
    codes = [c for c in cells.split(",") if c][:1000]
    counts_by_cell = await repository.cell_counts(session, principal, codes)
    return [CellCounts(cell_code=c, **n) for c, n in counts_by_cell.items()]


@router.get("/sync")
async def registry_sync(
    session: SessionDep,
    principal: Reader,
    cells: str = Query(min_length=1, max_length=20_000),
    since: Timestamp | None = None,
    until: Timestamp = Query(),
) -> RegistrySyncOut:
    """What a grid worker's phone holds of its cells, changed in (since, until]: the grid
    service's ``/sync`` asks this with the worker's own token."""
    codes = [c for c in cells.split(",") if c and principal.reaches(c)][:1000]
    today = common_service.today()
    buildings, gone_buildings, households, residents, gone = await repository.changed_in_cells(
        session, principal, codes, since, until
    )
    return RegistrySyncOut(
        buildings=[_building_out(b) for b in buildings],
        households=[SyncHousehold.model_validate(h, from_attributes=True) for h in households],
        residents=[
            SyncResident(
                **resident_out(r, principal, today).model_dump(
                    include=set(SyncResident.model_fields)
                )
            )
            for r in residents
        ],
        deleted=SyncDeleted(buildings=gone_buildings, residents=gone),
    )
