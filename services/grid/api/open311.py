"""Open311 GeoReport v2 (``/open311/v2/``) mapped onto cases, so that existing civic-reporting
apps can talk to the platform. Keys come from ``GONGJIAN_OPEN311_API_KEYS``; a bearer token
works too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request

from services.common.auth import Principal, bearer_token, decode_access_token
from services.common.clock import local_zone
from services.common.database import SessionDep, TransactionalRoute
from services.common.errors import NotFound, Unauthorized
from services.common.schemas import Timestamp
from services.grid import repository
from services.grid.models import Case
from services.grid.schemas import CaseCreate
from services.grid.service import cases as case_service

router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=TransactionalRoute)


def _caller(request: Request, api_key: str | None) -> Principal:
    token = bearer_token(request)
    if token:
        return decode_access_token(token, request.app.state.settings)
    keys = request.app.state.settings.open311_api_keys
    if api_key and api_key in keys:
        # An outside app acts for the public: it may report and read, as a resident would.
        return Principal(
            user_id=f"open311:{keys.index(api_key)}",
            roles=("resident",),
            scope=("*",),
            permissions=frozenset({"grid:report"}),
        )
    raise Unauthorized("auth.required")


def _status(case: Case) -> str:
    return "closed" if case.status in ("closed", "rejected") else "open"


def _request_out(case: Case, names: dict[str, str]) -> dict[str, Any]:
    zone = local_zone()
    return {
        "service_request_id": case.id,
        "status": _status(case),
        "status_notes": case.status,
        "service_name": names.get(case.category_code, case.category_code),
        "service_code": case.category_code,
        "description": case.description,
        "agency_responsible": case.dispatched_to,
        "requested_datetime": case.created_at.astimezone(zone).isoformat()
        if case.created_at.tzinfo
        else case.created_at.isoformat() + "Z",
        "updated_datetime": case.updated_at.astimezone(zone).isoformat()
        if case.updated_at.tzinfo
        else case.updated_at.isoformat() + "Z",
        "expected_datetime": case.deadline_at.isoformat() if case.deadline_at else None,
        "address": case.address,
        "lat": case.lat,
        "long": case.lng,
        "media_url": None,
    }


@router.get("/services.json")
async def services(session: SessionDep) -> list[dict[str, Any]]:
    return [
        {
            "service_code": c.code,
            "service_name": c.name,
            "description": f"{c.class_name} / {c.name}",
            "metadata": False,
            "type": "realtime",
            "keywords": c.class_name,
            "group": c.class_name,
        }
        for c in await repository.list_categories(session)
    ]


@router.post("/requests.json")
async def post_request(
    request: Request,
    session: SessionDep,
    service_code: Annotated[str, Form(max_length=16)],
    lat: Annotated[float, Form(ge=-90, le=90)],
    long: Annotated[float, Form(ge=-180, le=180)],
    description: Annotated[str, Form(min_length=1, max_length=2000)],
    address_string: Annotated[str | None, Form(max_length=255)] = None,
    api_key: Annotated[str | None, Form(max_length=200)] = None,
) -> list[dict[str, Any]]:
    principal = _caller(request, api_key)
    state = request.app.state
    case, _ = await case_service.report_case(
        session=session,
        principal=principal,
        state=state.grid,
        database=state.database,
        data=CaseCreate(
            category_code=service_code,
            description=description,
            lat=lat,
            lng=long,
            address=address_string,
        ),
    )
    case.source = "open311"
    await session.flush()
    return [{"service_request_id": case.id, "service_notice": "", "account_id": None}]


@router.get("/requests.json")
async def get_requests(
    request: Request,
    session: SessionDep,
    api_key: str | None = Query(default=None, max_length=200),
    service_code: str | None = Query(default=None, max_length=16),
    status: str | None = Query(default=None, pattern="^(open|closed)$"),
    start_date: Timestamp | None = None,
    end_date: Timestamp | None = None,
) -> list[dict[str, Any]]:
    """Requests the caller may see, newest first (at most 100, as the spec's default)."""
    principal = _caller(request, api_key)
    rows = await repository.open311_requests(
        session,
        principal,
        service_code=service_code,
        status=status,
        start=start_date,
        end=end_date,
    )
    names = {c.code: c.name for c in await repository.list_categories(session)}
    return [_request_out(c, names) for c in rows]


@router.get("/requests/{request_id}.json")
async def get_request(
    request_id: str, request: Request, session: SessionDep, api_key: str | None = None
) -> list[dict[str, Any]]:
    principal = _caller(request, api_key)
    case = await repository.case(session, principal, request_id)
    if case is None:
        raise NotFound()
    names = {c.code: c.name for c in await repository.list_categories(session)}
    return [_request_out(case, names)]
