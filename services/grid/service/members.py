"""Grid workers and leaders of a cell 网格员 / 网格长; each worker's scope follows their cells
through an event the gateway acts on."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.gateway import GatewayClient
from services.common.clock import clock
from services.common.errors import (
    FieldError,
    Unprocessable,
)
from services.common.events import emit
from services.grid import repository
from services.grid.models import (
    Cell,
    CellMember,
    CellMemberRemoval,
    outbox,
)
from services.grid.schemas import (
    MembersIn,
)
from services.grid.service import history
from services.grid.service.cells import get_cell


async def set_members(
    *, session: AsyncSession, principal: Principal, peers, token, code: str, data: MembersIn
) -> tuple[Cell, list[str]]:
    """Replace a cell's workers and leader; returns the users whose cells changed."""
    cell = await get_cell(session=session, principal=principal, code=code)
    wanted = list(dict.fromkeys([*data.workers, *([data.leader] if data.leader else [])]))
    names = {}
    gateway = GatewayClient(peers, token=token)
    for user_id in wanted:

        def not_a_grid_worker(user_id: str = user_id) -> Unprocessable:
            return Unprocessable(
                "validation.not_a_grid_worker",
                errors=[FieldError("workers", "not_a_grid_worker", {"user": user_id})],
            )

        user = await gateway.account(user_id=user_id, errors={404: not_a_grid_worker})
        if "grid_worker" not in user.roles:
            raise not_a_grid_worker()
        names[user_id] = user.display_name or user.username or ""
    # Members who stay keep their row, so that ``assigned_at`` says when each joined: the
    # sync sends a newly joined cell whole, and a left one as a tombstone.
    now = clock.now()
    current = {m.user_id: m for m in (await repository.members(session, [code]))[code]}
    before = set(current)
    was = history.snapshot("cell", cell, **_members(current.values()))
    for user_id, member in current.items():
        if user_id not in wanted:
            await session.delete(member)
            session.add(CellMemberRemoval(cell_code=code, user_id=user_id, removed_at=now))
    for user_id in wanted:
        role = "leader" if user_id == data.leader else "worker"
        member = current.get(user_id)
        if member is None:
            session.add(
                CellMember(
                    cell_code=code,
                    user_id=user_id,
                    role=role,
                    display_name=names[user_id],
                    assigned_at=now,
                )
            )
        else:
            member.role, member.display_name = role, names[user_id]
    cell.updated_at = now
    await session.flush()
    now_members = [
        SimpleNamespace(user_id=u, display_name=names[u], role=ROLE_OF[u == data.leader])
        for u in wanted
    ]
    await history.changed(
        session, principal, "cell", cell, "members_set", was, **_members(now_members)
    )
    affected = sorted(before | set(wanted))
    await members_changed(session, affected)
    return cell, affected


ROLE_OF = {True: "leader", False: "worker"}


def _members(members) -> dict[str, object]:
    """A cell's people as its history shows them: by name, with the account id."""
    people = sorted(members, key=lambda m: m.user_id)
    return {
        "workers": [f"{m.display_name or m.user_id} ({m.user_id})" for m in people],
        "leader": next(
            (f"{m.display_name or m.user_id} ({m.user_id})" for m in people if m.role == "leader"),
            None,
        ),
    }


async def members_changed(session: AsyncSession, user_ids: list[str]) -> None:
    """Record, with the change itself, each affected worker's cells as they now are: the
    gateway, which keeps the accounts, makes them the worker's scope."""
    users = [
        {"user_id": user_id, "cells": await repository.cells_of_user(session, user_id)}
        for user_id in user_ids
    ]
    await emit(session, outbox, "grid.members_changed", {"users": users})
