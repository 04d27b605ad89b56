"""Scores 考核: every community's figures gathered from each service in one batched call,
evaluated against the indicators in force, weighted, ranked; published as snapshots; and
the resident units ranked by the fulfilment of their pledges."""

from __future__ import annotations

import asyncio
import bisect
import io
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any

import anyio
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import Float, String
from sqlalchemy import column as sa_column
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import repository, rules
from services.assessment.models import Agreement, Pledge, ScoreSnapshot
from services.assessment.schemas import ScoresOut
from services.assessment.service.indicators import indicators_for
from services.common.auth import Principal
from services.common.clients.grid import GridClient
from services.common.clients.registry import RegistryClient
from services.common.clients.volunteer import VolunteerClient
from services.common.errors import Conflict, NotFound
from services.common.ids import new_id
from services.common.memory import give_back_memory
from services.common.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from services.common.peers import at_once
from services.common.periods import Period, quarters_in
from services.common.settings import Settings
from services.common.spreadsheets import data_row
from services.common.validators import significant_prefix


async def _gather(peers, area: str, period: Period) -> dict[str, dict[str, Any]]:
    """Every community's figures under ``area``, one call per service, the three at once. A
    service that is down makes the scores a 503, never a community failing an indicator it
    may pass."""
    level = "community" if len(significant_prefix(area)) < 12 else None
    stats, rates, kpis = await at_once(
        RegistryClient(peers).children_figures(area=area, level=level, errors={404: NotFound}),
        VolunteerClient(peers).registration_rates(area=area, level=level),
        GridClient(peers).case_kpis(area=area, period=period.label, group_by="community"),
    )
    communities = stats.children if stats.children else [stats.area]
    figures: dict[str, dict[str, Any]] = {}
    for c in communities:
        if c.level != "community":
            continue
        row = {
            "name": c.name,
            "residents": c.residents,
            "households": c.households,
            "party_members": c.party_members,
        }
        row.update(c.profile or {})
        figures[c.code] = row
    if not figures and stats.area.level == "community":
        a = stats.area
        figures[a.code] = {
            "name": a.name,
            "residents": a.residents,
            "households": a.households,
            "party_members": a.party_members,
        }
    for row in rates.children or [rates]:
        if row.area in figures:
            figures[row.area]["volunteers"] = row.volunteers
    for row in kpis:
        if row.code in figures:
            figures[row.code].update(
                cases=row.cases,
                closed=row.closed,
                on_time_close_rate=row.on_time_close_rate,
                overdue=row.overdue,
            )
    return figures


async def _co_building(
    *, session: AsyncSession, principal: Principal, prefix: str, period: Period
) -> dict[str, dict[str, Any]]:
    """Per community: the period's coordination meetings, and the mean fulfilment of the
    pledges in force there (each capped at 1), in exact fractions. The database sums each
    pledge's confirmed records; what a pledge asks over the period is the rule's."""
    out: dict[str, dict[str, Any]] = {}
    meetings = await repository.meetings_by_community(
        session=session, principal=principal, prefix=prefix, period=period
    )
    for community, n in meetings.items():
        out.setdefault(community, {})["meetings"] = n
    quarters = len(quarters_in(period))
    sums: dict[str, list] = {}
    for community, target, per, unit, done in await repository.pledge_progress(
        session=session, principal=principal, prefix=prefix, period=period
    ):
        fulfilment = rules.pledge_fulfilment(target, per, quarters, done or Decimal(0), unit)
        total = sums.setdefault(community, [Fraction(0), 0])
        total[0] += fulfilment
        total[1] += 1
    for community, (summed, n) in sums.items():
        mean = summed / n
        out.setdefault(community, {})["pledge_fulfilment"] = Decimal(mean.numerator) / Decimal(
            mean.denominator
        )
    return out


@dataclass
class PledgeResult:
    """One pledge of an agreement in force, over the period asked."""

    agreement: Agreement
    pledge: Pledge
    required: Fraction
    done: Decimal
    fulfilment: Fraction


async def pledge_table(
    *,
    session: AsyncSession,
    principal: Principal,
    prefix: str,
    period: Period,
    quarters: int,
    by: str = "community",
) -> dict[str, list[PledgeResult]]:
    """Each pledge of an agreement in force in the period, with what it asks, what was
    confirmed and its fulfilment, keyed by community (or unit)."""
    agreements = await repository.agreements_in_force(
        session=session, principal=principal, prefix=prefix, period=period
    )
    if not agreements:
        return {}
    ids = [a.id for a in agreements]
    pledges = await repository.pledges_of(session=session, agreement_ids=ids)
    achieved = await repository.confirmed_quantities(
        session=session, agreement_ids=ids, period=period
    )
    by_agreement = {a.id: a for a in agreements}
    out: dict[str, list[PledgeResult]] = {}
    for pledge in pledges:
        agreement = by_agreement[pledge.agreement_id]
        key = agreement.community_code if by == "community" else agreement.unit_id
        done = achieved.get(pledge.id, Decimal(0))
        out.setdefault(key, []).append(
            PledgeResult(
                agreement=agreement,
                pledge=pledge,
                required=rules.pledge_required(
                    pledge.target_quantity, pledge.per, quarters, pledge.target_unit
                ),
                done=done,
                fulfilment=rules.pledge_fulfilment(
                    pledge.target_quantity, pledge.per, quarters, done, pledge.target_unit
                ),
            )
        )
    return out


def pledge_score(result: PledgeResult) -> dict[str, Any]:
    """A pledge as a unit's score lists it: which area, what it promised, what was done."""
    p = result.pledge
    return {
        "pledge_id": p.id,
        "agreement_id": p.agreement_id,
        "category": p.category,
        "category_name": rules.CATEGORY_NAMES.get(p.category, p.category),
        "description": p.description,
        "target": rules.pledge_target(p.target_quantity, p.target_unit, p.per),
        "target_quantity": float(p.target_quantity),
        "target_unit": p.target_unit,
        "target_unit_name": rules.target_unit_name(p.target_unit),
        "per": p.per,
        "required": round(float(result.required), 2),
        "done": float(result.done),
        "unit_name": rules.counted_unit_name(p.target_unit),
        "percent": rules.percent(Fraction(result.done), result.required),
        "fulfilment": round(float(result.fulfilment), 4),
    }


async def compute_scores(
    *, session: AsyncSession, principal: Principal, peers, area: str, period: Period
) -> list[dict[str, Any]]:
    prefix = significant_prefix(area)
    if not principal.reaches(prefix):
        raise NotFound()

    async def ours() -> tuple[dict[str, dict[str, Any]], list]:
        co_building = await _co_building(
            session=session, principal=principal, prefix=prefix, period=period
        )
        return co_building, await indicators_for(session=session, period=period)

    # The peers' figures and our own, read at the same time.
    figures, (co_building, indicators) = await at_once(_gather(peers, area, period), ours())
    quarters = len(quarters_in(period))
    standards = [rules.Standard.of(i, quarters) for i in indicators]
    total_weight = sum((s.weight for s in standards), Fraction(0)) or Fraction(1)
    # What each indicator says the same way for every community, once.
    constant = [
        {
            "code": s.code,
            "name": s.name,
            "source": s.source,
            "threshold": rules.as_number(s.threshold),
            "comparator": s.comparator,
            "weight": float(s.weight),
            "unit": s.unit,
        }
        for s in standards
    ]
    number = rules.as_number
    rows = []
    for code in sorted(figures):
        data = {**figures[code], **co_building.get(code, {})}
        data.setdefault("meetings", 0)
        values, earned = [], Fraction(0)
        for standard, same in zip(standards, constant, strict=True):
            result = standard.evaluate(data)
            if result.passed:
                earned += standard.weight
            values.append(
                {
                    **same,
                    "value": number(result.value),
                    "numerator": number(result.numerator),
                    "denominator": number(result.denominator),
                    "passed": result.passed,
                }
            )
        rows.append(
            {
                "community_code": code,
                "name": data.get("name"),
                "indicators": values,
                "total": round(float(earned / total_weight * 100), 2),
            }
        )
    rows.sort(key=lambda r: (-r["total"], r["community_code"]))
    rank, previous = 0, None
    for position, row in enumerate(rows, start=1):
        if row["total"] != previous:
            rank, previous = position, row["total"]
        row["rank"] = rank
    return rows


# Above a district (a city, a province) the ranking comes a page at a time unless asked.
PAGED_ABOVE_DIGITS = 6
_RANK_KEY = (sa_column("total", Float()), sa_column("community_code", String()))


def ranking_page(
    rows: list[dict[str, Any]], *, area: str, limit: int | None, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The ranking (in rank order) from after ``cursor`` (the total and code of the last
    community served), ``limit`` communities of it, and the cursor to the next page; the
    whole ranking when no page is asked and the area is a district or below."""
    if limit is None and cursor is None and len(significant_prefix(area)) >= PAGED_ABOVE_DIGITS:
        return rows, None
    limit = limit or DEFAULT_LIMIT
    start = 0
    if cursor:
        total, code = decode_cursor(cursor, _RANK_KEY)
        keys = [(-r["total"], r["community_code"]) for r in rows]
        start = bisect.bisect_right(keys, (-total, code))
    page = rows[start : start + limit]
    if start + limit >= len(rows):
        return page, None
    return page, encode_cursor([page[-1]["total"], page[-1]["community_code"]])


async def published_scores(
    *, session: AsyncSession, principal: Principal, area: str, period: Period
) -> ScoreSnapshot | None:
    """The latest published snapshot; None when there is none or the caller may not see the
    area (the live scores then answer, with a 404 for an area out of reach)."""
    return await repository.latest_snapshot(
        session=session, principal=principal, area=area, period=period.label
    )


async def publish(
    *, session: AsyncSession, principal: Principal, peers, area: str, period: Period
) -> ScoreSnapshot:
    rows = await compute_scores(
        session=session, principal=principal, peers=peers, area=area, period=period
    )
    snapshot = ScoreSnapshot(
        id=new_id(),
        area=area,
        period=period.label,
        payload={"communities": rows},
        published_by=principal.user_id,
    )
    # Publishes at the same moment each get a version of their own (1, 2, ...).
    if not await repository.add_snapshot(session=session, snapshot=snapshot):
        raise Conflict("scores.publish_busy")
    return snapshot


async def export_scores(
    *, session: AsyncSession, peers, token, area: str, period: Period, result: ScoresOut
) -> bytes:
    """The scores (published or live) as the xlsx an official reads, the area named as the
    registry names it now (asked with the official's own token: an area they reach). A
    snapshot published before values carried their unit takes it from the indicators of
    the period."""
    units = {i.code: i.unit for i in await indicators_for(session=session, period=period)}
    rows = [c.model_dump() for c in result.communities]
    for row in rows:
        for value in row["indicators"]:
            if value.get("unit") is None:
                value["unit"] = units.get(value["code"])
    registry = RegistryClient(peers, token=token)
    named = await registry.area(code=area, errors={404: NotFound, 403: NotFound})
    streets = None
    if len(significant_prefix(area)) < 9:
        # Above a street, communities of several streets rank together: each row says which.
        codes = sorted({street_of(row["community_code"]) for row in rows})
        names = await asyncio.gather(*(_area_name(registry, c) for c in codes))
        streets = dict(zip(codes, names, strict=True))
    status = f"已发布 第{result.version}版" if result.published else "实时数据(未发布)"
    # Built in a worker thread, not on the event loop: a city's 3,161 communities are 1.2 s
    # of openpyxl, during which the service would answer nobody else.
    sheet = await anyio.to_thread.run_sync(
        partial(scores_xlsx, status=status, streets=streets),
        area,
        named.name,
        result.period,
        rows,
    )
    await give_back_memory()
    return sheet


async def _area_name(registry: RegistryClient, code: str) -> str:
    """The registry's name of an area; its code when the registry holds none (a community
    the platform placed under a street never entered)."""
    try:
        return (await registry.area(code=code, errors={404: NotFound, 403: NotFound})).name
    except NotFound:
        return code


def street_of(community: str) -> str:
    """The street (街道, 乡镇) a community's 12-digit code is under."""
    return community[:9].ljust(12, "0")


def scores_xlsx(
    area: str,
    area_name: str,
    period: str,
    rows: list[dict[str, Any]],
    *,
    status: str = "",
    streets: dict[str, str] | None = None,
) -> bytes:
    """One row per community: rank, total, and for each indicator its value and whether it
    is met (达标 / 未达标); under the header, what each indicator asks. Figures are numbers
    an official can sum and sort, shown as they read (0.75%, 320 m², 6 人) by their number
    format; 无数据 where there is none. Every cell is data (``data_row``), never a formula.
    With ``streets`` (street code → name), a 街道 column after the community's name."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("考核结果")
    indicators = rows[0]["indicators"] if rows else []
    ws.append(data_row(ws, ["区划", area_name, "区划代码", area, "考核期", period, "状态", status]))
    header = ["排名", "社区代码", "社区", *(["街道"] if streets is not None else []), "总分"]
    standard = ["达标标准", *[""] * (len(header) - 1)]
    for i in indicators:
        header += [i["name"], f"{i['name']}达标情况"]
        standard += [
            rules.shown_standard(i["comparator"], i["threshold"], i.get("unit")),
            f"权重 {rules.shown_value(i['weight'], None)}",
        ]
    ws.append(data_row(ws, header))
    ws.append(data_row(ws, standard))
    for row in rows:
        cells = [
            number_cell(ws, row["rank"], "0"),
            row["community_code"],
            row["name"] or "",
            *([streets.get(street_of(row["community_code"]), "")] if streets is not None else []),
            number_cell(ws, row["total"], rules.number_format(row["total"], None)),
        ]
        for i in row["indicators"]:
            value, unit = i["value"], i.get("unit")
            cells += [
                rules.NO_DATA
                if value is None
                else number_cell(ws, value, rules.number_format(value, unit), whole=unit != "%"),
                rules.shown_result(value, i["passed"]),
            ]
        ws.append(data_row(ws, cells))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def number_cell(ws, value: float, number_format: str, *, whole: bool = True) -> WriteOnlyCell:
    """A figure as a number cell that reads as ``number_format`` shows it; a whole figure
    (a count, a rank) as an integer, unless ``whole`` is off (a ratio)."""
    if whole and float(value).is_integer():
        value = int(value)
    cell = WriteOnlyCell(ws, value=value)
    cell.number_format = number_format
    return cell


async def unit_scores(
    *, session: AsyncSession, principal: Principal, settings: Settings, area: str, period: Period
) -> list[dict[str, Any]]:
    """Units ranked by pledge fulfilment: the responsibility evaluation of resident units.
    The ranking is of every unit in the area; a unit's contact reads their own unit's row
    and place in it, and nothing of the other units."""
    prefix = significant_prefix(area)
    if not principal.reaches(prefix):
        raise NotFound()
    quarters = len(quarters_in(period))
    table = await pledge_table(
        session=session,
        principal=principal,
        prefix=prefix,
        period=period,
        quarters=quarters,
        by="unit",
    )
    names = await repository.unit_names(session=session, unit_ids=list(table))
    rows = []
    for unit_id, results in table.items():
        mean = sum((r.fulfilment for r in results), Fraction(0)) / len(results)
        score = round(float(mean * 100), 2)
        by_pledge = [pledge_score(r) for r in results]
        flags = rules.unit_flags(score, settings.assessment_unit_flag_below, by_pledge)
        rows.append(
            {
                "unit_id": unit_id,
                "unit_name": names.get(unit_id, ""),
                "pledges": len(results),
                "fulfilment": round(float(mean), 4),
                "score": score,
                "advanced_candidate": score >= settings.assessment_advanced_unit_score,
                "flagged": bool(flags),
                "flag_reasons": [sentence for _, sentence in flags],
                "flag_codes": [code for code, _ in flags],
                "by_pledge": by_pledge,
            }
        )
    rows.sort(key=lambda r: (-r["score"], r["unit_id"]))
    for position, row in enumerate(rows, start=1):
        row["rank"] = position
    own = repository.confined_unit(principal)
    if own is not None:
        rows = [row for row in rows if row["unit_id"] == own]
    return rows
