"""A grid worker's own work list."""

from __future__ import annotations

from fastapi import Query, Request

from services.common.auth import PrincipalDep
from services.common.database import SessionDep
from services.common.geo import AnswerCoords
from services.common.peers import forward_token
from services.grid.api.common import case_out, category_names, make_router
from services.grid.schemas import MyWorkOut, VisitsToDo
from services.grid.service import work

router = make_router()


@router.get("/my-work")
async def my_work(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    due_within_h: float = Query(default=24, gt=0, le=24 * 14, description="due within hours"),
    coord_system: AnswerCoords = "wgs84",
) -> MyWorkOut:
    """Open cases dispatched to me and reported by me, open cases of my cells due within
    ``due_within_h`` hours (overdue first), and each of my cells' households still to visit
    this quarter; 20 of each at most, most urgent first."""
    found = await work.my_work(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        token=forward_token(request),
        due_within_h=due_within_h,
    )
    now = found["now"]
    lists = ("assigned", "reported", "due_soon")
    names = await category_names(session, [c for key in lists for c in found[key]])
    cases = {
        key: [
            case_out(c, now, principal, category_names=names, system=coord_system)
            for c in found[key]
        ]
        for key in lists
    }
    return MyWorkOut(**cases, visits=[VisitsToDo(**v) for v in found["visits"]])
