"""Offline sync for the grid worker's phone."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Query, Request, Response

from services.common.auth import Principal, require
from services.common.clients.registry import RegistryClient
from services.common.clock import clock
from services.common.database import SessionDep
from services.common.geo import AnswerCoords, CoordSystem
from services.common.http import with_etag
from services.common.peers import forward_token
from services.grid import repository
from services.grid.api.common import case_out, category_names, cell_out, make_router
from services.grid.schemas import SyncOut
from services.grid.service import sync as sync_service

router = make_router()


async def _registry_part(
    request: Request, cells: list[str], since, until, system: CoordSystem
) -> dict:
    """The registry's rows of ``cells`` changed in (since, until], asked with the worker's
    own token (their scope applies), buildings in the phone's coordinate system."""
    registry = RegistryClient(request.app.state.peers, token=forward_token(request))
    changes = await registry.roster_changes(
        cells=cells, since=since, until=until, coord_system=system
    )
    return changes.model_dump()


@router.get(
    "/sync",
    responses={410: {"description": "The cursor has expired: start over with a full sync"}},
)
async def sync(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("grid:sync"))],
    cursor: str | None = Query(default=None, max_length=200),
    coord_system: AnswerCoords = "wgs84",
) -> SyncOut:
    """The caller's cells, their buildings, households, residents (masked) and open cases,
    changed since ``cursor`` (everything when it is empty), with deletions as tombstones.
    A cell the worker joined since comes whole; one they left (or that was deleted) is a
    tombstone, as is a building that moved to a cell that is not theirs. An expired cursor
    is a 410: start over with a full sync."""
    now = clock.now()
    ttl = timedelta(days=request.app.state.settings.grid_sync_cursor_days)
    since = sync_service.decode_sync_cursor(cursor, now, ttl) if cursor else None
    until = now
    # The next window starts a little before this one ends, so that a write committed late
    # with an earlier timestamp is not skipped; the phone upserts, so a repeat costs nothing.
    next_cursor = (
        max(now - sync_service.SYNC_SKEW, since)
        if since is not None
        else now - sync_service.SYNC_SKEW
    )
    cells = await repository.cells_of_user(session, principal.user_id)
    if since is None:
        joined, left = set(cells), set()
    else:
        joined = await repository.cells_joined(session, principal.user_id, since, until)
        left = await repository.cells_left(session, principal.user_id, since, until)
        left -= set(cells)
    # A cell joined in this window comes whole; the others bring what changed in it.
    fresh = [c for c in cells if c in joined]
    known = [c for c in cells if c not in joined]
    changed_cells = await repository.cells_changed(session, cells, since, until) if cells else []
    members = await repository.members(session, [c.code for c in changed_cells])
    cases = []
    if fresh:
        cases += await repository.cases_changed(session, fresh, None, until)
    if known:
        cases += await repository.cases_changed(session, known, since, until)
    registry = {
        "buildings": [],
        "households": [],
        "residents": [],
        "deleted": {"buildings": [], "residents": []},
    }
    for group, group_since in ((fresh, None), (known, since)):
        if not group:
            continue
        part = await _registry_part(request, group, group_since, until, coord_system)
        for key in ("buildings", "households", "residents"):
            registry[key] += part[key]
        for key in ("buildings", "residents"):
            registry["deleted"][key] += part["deleted"][key]
    open_cases = [c for c in cases if c.status not in ("closed", "rejected")]
    closed = [c.id for c in cases if c.status in ("closed", "rejected")]
    names = await category_names(session, open_cases)
    body = SyncOut(
        cursor=sync_service.encode_sync_cursor(next_cursor),
        full=since is None,
        cells=[
            cell_out(c, members[c.code], coord_system)
            for c in changed_cells
            if c.deleted_at is None
        ],
        buildings=registry["buildings"],
        households=registry["households"],
        residents=registry["residents"],
        cases=[
            case_out(c, now, principal, category_names=names, system=coord_system)
            for c in open_cases
        ],
        deleted={
            # A cell here takes with it, on the phone, the buildings, households, residents
            # and cases it held.
            "cells": sorted(left),
            "buildings": registry["deleted"]["buildings"],
            "residents": registry["deleted"]["residents"],
            "cases": closed,
        },
    )
    # The version is the content, not the cursor: an unchanged delta is a 304, and the phone
    # keeps its cursor (the next window then starts where it did — nothing is skipped).
    return with_etag(request, response, body, tagged=body.model_copy(update={"cursor": ""}))
