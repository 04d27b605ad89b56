"""Figures over any subtree of the area tree: residents by residence type, households,
party members, minors and tags."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.registry import counts, repository, rules
from services.registry.service.areas import PROFILE_FIELDS, get_area
from services.registry.service.common import require_reach, today


async def area_stats(*, session: AsyncSession, principal: Principal, code: str) -> dict[str, Any]:
    area = await get_area(session=session, principal=principal, code=code)
    require_reach(principal, rules.area_prefix(code))
    prefix = rules.area_prefix(code)
    stats = await repository.population_stats(
        session, prefix, len(prefix), rules.minors_born_after(today())
    )
    figures = stats.get(prefix)
    names = await _tag_names(session, [figures] if figures else [])
    return _stats_entry(area.code, area.name, area.level, figures, names)


async def children_stats(
    *, session: AsyncSession, principal: Principal, code: str, level: str | None
) -> dict[str, Any]:
    """The area's figures and each child's (or each area at ``level`` below it) in a
    fixed number of queries, for the volunteer rate and the assessment."""
    area = await get_area(session=session, principal=principal, code=code)
    prefix = rules.area_prefix(code)
    require_reach(principal, prefix)
    if level:
        children = await repository.areas_at_level_under(session, principal, prefix, level)
    else:
        children = await repository.child_areas(session, principal, code)
    group_len = len(rules.area_prefix(children[0].code)) if children else len(prefix)
    grouped = await repository.population_stats(
        session, prefix, group_len, rules.minors_born_after(today())
    )
    names = await _tag_names(session, grouped.values())
    return {
        # The groups part everything under the prefix, children or not: their sum is the area.
        "area": _stats_entry(area.code, area.name, area.level, _sum(grouped.values()), names)
        | (
            {"profile": {f: getattr(area, f) for f in PROFILE_FIELDS}}
            if area.level == "community"
            else {}
        ),
        # Community rows carry their profile too: the assessment reads both in one call.
        "children": [
            _stats_entry(c.code, c.name, c.level, grouped.get(rules.area_prefix(c.code)), names)
            | (
                {"profile": {f: getattr(c, f) for f in PROFILE_FIELDS}}
                if c.level == "community"
                else {}
            )
            for c in children
        ],
    }


def _sum(groups: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {
        "by_residence_type": Counter(),
        "households": 0,
        "tags": Counter(),
        "minors": 0,
    }
    for figures in groups:
        total["by_residence_type"].update(figures["by_residence_type"])
        total["tags"].update(figures["tags"])
        total["households"] += figures["households"]
        total["minors"] += figures["minors"]
    total["tags"] = {t: n for t, n in total["tags"].items() if n}
    return total


async def _tag_names(session: AsyncSession, groups: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Code → name of the tags the figures count: the built-in ones from the rules, a
    deployment's own from its tag table (one query, and only when one is counted)."""
    names = rules.builtin_tag_names()
    others = {t for figures in groups for t in figures["tags"]} - names.keys()
    if others:
        names |= await repository.tag_names(session, others)
    return names


def _stats_entry(
    code: str, name: str, level: str, figures: dict | None, tag_names: dict[str, str]
) -> dict[str, Any]:
    figures = figures or {"by_residence_type": {}, "households": 0, "tags": {}, "minors": 0}
    by_type = {t: figures["by_residence_type"].get(t, 0) for t in rules.RESIDENCE_TYPES}
    return {
        "code": code,
        "name": name,
        "level": level,
        "residents": sum(by_type.values()),
        "by_residence_type": by_type,
        "households": figures["households"],
        "party_members": figures["tags"].get("party_member", 0),
        "minors": figures["minors"],
        "tags": dict(sorted(figures["tags"].items())),
        # The codes above keep their keys; their Chinese names sit beside them.
        "by_residence_type_names": dict(rules.RESIDENCE_TYPES),
        "tag_names": {t: tag_names.get(t, t) for t in sorted(figures["tags"])},
    }


async def recount(*, session: AsyncSession, principal: Principal, code: str) -> dict[str, Any]:
    """Rebuild the running counts under an area from the residents, tags and households (a
    repair tool: the counts are kept in step by every write), and answer its figures."""
    await get_area(session=session, principal=principal, code=code)
    # Seeing an ancestor is not owning it: a recount needs the area inside the scope.
    require_reach(principal, rules.area_prefix(code))
    await counts.recount(session, rules.area_prefix(code))
    await session.flush()
    return await area_stats(session=session, principal=principal, code=code)
