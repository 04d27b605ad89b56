"""Scores of communities (live or published), their export, and unit scores."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from services.assessment.api.common import Manager, Reader, make_router
from services.assessment.schemas import PublishIn, ScoresOut, UnitScoresOut
from services.assessment.service import scores as scoring
from services.common.database import SessionDep
from services.common.pagination import MAX_LIMIT
from services.common.peers import forward_token
from services.common.periods import period_or_422
from services.common.validators import AreaCodeStr

router = make_router()


async def _ranking(
    request: Request, session, principal, area: str, period: str, live: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The whole ranking and what it is (area, period, published or not): the published
    snapshot when there is one (unless ``live``), today's figures otherwise."""
    parsed = period_or_422(period)
    if not live:
        snapshot = await scoring.published_scores(
            session=session, principal=principal, area=area, period=parsed
        )
        if snapshot is not None:
            meta = {
                "area": area,
                "period": parsed.label,
                "published": True,
                "version": snapshot.version,
                "published_at": snapshot.published_at,
            }
            return meta, snapshot.payload["communities"]
    rows = await scoring.compute_scores(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        area=area,
        period=parsed,
    )
    return {"area": area, "period": parsed.label, "published": False}, rows


@router.get("/scores")
async def scores(
    request: Request,
    session: SessionDep,
    principal: Reader,
    area: AreaCodeStr,
    period: Annotated[str, Query(max_length=8)],
    live: bool = False,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ScoresOut:
    """Every community under the area: each indicator's value, pass or fail, the weighted
    total and the rank. The published snapshot when there is one (``live=true`` for today's
    figures). In rank order, a page at a time when ``limit`` or ``cursor`` is given, and
    always above a district (a city holds thousands of communities): the rank is each
    community's among all of them."""
    meta, rows = await _ranking(request, session, principal, area, period, live)
    page, next_cursor = scoring.ranking_page(rows, area=area, limit=limit, cursor=cursor)
    return ScoresOut(**meta, communities=page, next_cursor=next_cursor)


@router.post("/scores/publish", status_code=201)
async def publish(
    body: PublishIn, request: Request, session: SessionDep, principal: Manager
) -> ScoresOut:
    """Stores today's scores as the published ones; republishing makes a new version."""
    parsed = period_or_422(body.period)
    snapshot = await scoring.publish(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        area=body.area,
        period=parsed,
    )
    return ScoresOut(
        area=body.area,
        period=parsed.label,
        published=True,
        version=snapshot.version,
        published_at=snapshot.published_at,
        communities=snapshot.payload["communities"],
    )


@router.get("/scores.xlsx", response_class=Response)
async def scores_xlsx(
    request: Request,
    session: SessionDep,
    principal: Reader,
    area: AreaCodeStr,
    period: str = Query(max_length=8),
) -> Response:
    """The scores (published, or live when none is) as an official reads them: values in
    per cent and units, 达标 / 未达标, and 无数据 where a community has no figure."""
    meta, rows = await _ranking(request, session, principal, area, period, live=False)
    result = ScoresOut(**meta, communities=rows)
    content = await scoring.export_scores(
        session=session,
        peers=request.app.state.peers,
        token=forward_token(request),
        area=area,
        period=period_or_422(period),
        result=result,
    )
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f'attachment; filename="scores-{area}-{result.period}.xlsx"'
        },
    )


@router.get("/unit-scores")
async def unit_scores(
    request: Request,
    session: SessionDep,
    principal: Reader,
    area: AreaCodeStr,
    period: str = Query(max_length=8),
) -> UnitScoresOut:
    parsed = period_or_422(period)
    rows = await scoring.unit_scores(
        session=session,
        principal=principal,
        settings=request.app.state.settings,
        area=area,
        period=parsed,
    )
    return UnitScoresOut(area=area, period=parsed.label, period_name=parsed.name, units=rows)
