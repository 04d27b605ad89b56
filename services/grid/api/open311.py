"""Open311 GeoReport v2 (``/open311/v2/``) mapped onto cases, so that existing civic-reporting
apps can talk to the platform. Keys come from ``GONGJIAN_OPEN311_KEYS``, each bound to an
area: a key reports there and reads that area's requests with only what GeoReport makes
public — never the description a resident wrote, the exact address or the precise spot.
A bearer token works too, with the caller's own scope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request

from services.common.auth import Principal, bearer_token, decode_access_token
from services.common.clock import local_zone
from services.common.database import SessionDep, TransactionalRoute
from services.common.errors import NotFound, Unauthorized
from services.common.schemas import SentTimestamp
from services.common.validators import significant_prefix
from services.grid import repository
from services.grid.api.common import category_names
from services.grid.models import Case
from services.grid.schemas import CaseCreate
from services.grid.service import cases as case_service

OPEN311_ROLE = "open311"
PUBLIC_DECIMALS = 3  # ~100 m

router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=TransactionalRoute)


def _caller(request: Request, api_key: str | None) -> Principal:
    token = bearer_token(request)
    if token:
        return decode_access_token(token, request.app.state.settings)
    keys = request.app.state.settings.open311_keys
    area = keys.get(api_key) if api_key else None
    if area:
        # An outside app acts for the public of one area: it reports there and reads what is
        # public there.
        return Principal(
            user_id=f"open311:{sorted(keys).index(api_key)}",
            roles=(OPEN311_ROLE,),
            scope=(significant_prefix(area),),
            permissions=frozenset({"grid:report"}),
        )
    raise Unauthorized("auth.required")


def _public(principal: Principal) -> bool:
    return principal.has_role(OPEN311_ROLE)


def _status(case: Case) -> str:
    return "closed" if case.status in ("closed", "rejected") else "open"


def _request_out(case: Case, names: dict[str, str], public: bool) -> dict[str, Any]:
    zone = local_zone()
    out = {
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
    if public:
        # What a resident wrote and where exactly they stood stay inside the platform: the
        # spot is given to about 100 m, enough to see the street on a map.
        out.update(
            description=None,
            status_notes=None,
            agency_responsible=None,
            address=None,
            lat=round(case.lat, PUBLIC_DECIMALS) if case.lat is not None else None,
            long=round(case.lng, PUBLIC_DECIMALS) if case.lng is not None else None,
        )
    return out


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
        peers=state.peers,
        data=CaseCreate(
            category_code=service_code,
            description=description,
            lat=lat,
            lng=long,
            address=address_string,
            source="open311",
        ),
    )
    return [{"service_request_id": case.id, "service_notice": "", "account_id": None}]


@router.get("/requests.json")
async def get_requests(
    request: Request,
    session: SessionDep,
    api_key: str | None = Query(default=None, max_length=200),
    service_code: str | None = Query(default=None, max_length=16),
    status: str | None = Query(default=None, pattern="^(open|closed)$"),
    start_date: SentTimestamp | None = None,
    end_date: SentTimestamp | None = None,
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
    names = await category_names(session, rows)
    return [_request_out(c, names, _public(principal)) for c in rows]


@router.get("/requests/{request_id}.json")
async def get_request(
    request_id: str, request: Request, session: SessionDep, api_key: str | None = None
) -> list[dict[str, Any]]:
    principal = _caller(request, api_key)
    case = await repository.case(session, principal, request_id)
    if case is None:
        raise NotFound()
    names = await category_names(session, [case])
    return [_request_out(case, names, _public(principal))]
