"""Figures: the registration rate toward the 10% target (seed 000) and in-service party
members who reported to their community (seed 001)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.registry import RegistryClient
from services.common.clock import clock
from services.common.errors import NotFound
from services.common.peers import at_once
from services.common.settings import Settings
from services.common.validators import significant_prefix
from services.volunteer import repository


async def registration_rate(
    *,
    session: AsyncSession,
    principal: Principal,
    peers,
    settings: Settings,
    area: str,
    level: str | None = None,
) -> dict[str, Any]:
    """Residents come from the registry's statistics (one call for the area and all its
    children); volunteers and the active share from one aggregate query each."""
    prefix = significant_prefix(area)
    if not principal.reaches(prefix):
        raise NotFound()
    # ``level``: every area at that level below (a district's communities, for the scores)
    # instead of the direct children; the registry draws the same line for the residents.
    # The registry's residents and our own counts, asked at the same time.
    year_ago = clock.today() - timedelta(days=365)
    stats, counts = await at_once(
        RegistryClient(peers).children_figures(area=area, level=level, errors={404: NotFound}),
        repository.registration_counts(session, prefix, year_ago),
    )
    children = stats.children
    group_len = len(significant_prefix(children[0].code)) if children else len(prefix)
    volunteers: Counter = Counter()
    active: Counter = Counter()
    for community, (n, served) in counts.items():
        volunteers[community[:group_len]] += n
        active[community[:group_len]] += served
    total_v = sum(volunteers.values())
    total_a = sum(active.values())
    target = settings.volunteer_target_rate

    def row(code: str, name: str | None, residents: int, vols: int, act: int) -> dict[str, Any]:
        return {
            "area": code,
            "name": name,
            "residents": residents,
            "volunteers": vols,
            "rate": round(vols / residents, 4) if residents else None,
            "target": target,
            "shortfall": max(0, math.ceil(round(target * residents, 6)) - vols),
            "active_last_12_months": act,
            "active_share": round(act / vols, 4) if vols else None,
        }

    return {
        **row(stats.area.code, stats.area.name, stats.area.residents, total_v, total_a),
        "children": [
            row(
                c.code,
                c.name,
                c.residents,
                volunteers.get(significant_prefix(c.code), 0),
                active.get(significant_prefix(c.code), 0),
            )
            for c in children
        ],
    }


async def party_member_stats(
    *, session: AsyncSession, principal: Principal, area: str
) -> dict[str, Any]:
    """In-service party members who reported to their home community, and the hours they
    served, per employer unit and per community (for the assessment service)."""
    prefix = significant_prefix(area)
    if not principal.reaches(prefix):
        raise NotFound()
    by_unit: dict[str, list] = {}
    by_community: dict[str, list] = {}
    for unit, community, n, h in await repository.reported_party_members(session, prefix):
        for table, key in ((by_unit, unit or "unknown"), (by_community, community)):
            entry = table.setdefault(key, [0, Decimal(0)])
            entry[0] += n
            entry[1] += h

    def shape(table: dict[str, list]) -> list[dict[str, Any]]:
        # Hours as the ledger gives them: to the hundredth (0.00, 3.50).
        return [
            {"key": k, "reported": v[0], "hours": Decimal(v[1]).quantize(Decimal("0.01"))}
            for k, v in sorted(table.items())
        ]

    return {"area": area, "by_unit": shape(by_unit), "by_community": shape(by_community)}


class _UnknownUnit(Exception):
    pass


async def party_reports(
    *, session: AsyncSession, principal: Principal, peers, page, community: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Who reported, from which unit, when, and the hours they served in the community;
    a volunteer not matched to a registry resident is unverified. The units' names come from
    the registry, once per unit on the page."""
    rows, cursor = await repository.party_reports(
        session,
        principal,
        page,
        community_prefix=significant_prefix(community) if community else None,
    )
    hours = await repository.hours_in_own_community(session, rows)
    registry = RegistryClient(peers)
    names: dict[str, str | None] = {}
    for unit_id in sorted({v.employer_unit_id for v in rows if v.employer_unit_id}):
        try:
            unit = await registry.unit(
                unit_id=unit_id, errors={404: _UnknownUnit, 422: _UnknownUnit}
            )
            names[unit_id] = unit.name
        except _UnknownUnit:
            names[unit_id] = None
    items = [
        {
            "volunteer_id": v.id,
            "number": v.number,
            "name": v.name,
            "phone": v.phone_masked,
            "community_code": v.community_code,
            "employer_unit_id": v.employer_unit_id,
            "employer_unit_name": names.get(v.employer_unit_id or ""),
            "reported_on": v.party_reported_on,
            "hours": hours.get(v.id, Decimal(0)).quantize(Decimal("0.01")),
            "verified": v.resident_id is not None,
        }
        for v in rows
    ]
    return items, cursor
