"""Registry rules as plain functions: what an area code says about itself, which category a
credit code implies, the residence types, relations and built-in tags."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from services.common.validators import significant_prefix

LEVELS = ("province", "city", "district", "street", "community")

RESIDENCE_TYPES = {
    "registered": "户籍",
    "permanent": "常住",
    "floating": "流动",
}

GENDERS = {"male": "男", "female": "女"}

# Floating population 流动人口 is a residence type, not a tag, but rosters and searches name
# it among the tags. Wherever a tag is taken by name — the import's tag column, ``?tag=`` —
# these names mean residence type floating, and the tag list shows it as (code, name).
FLOATING = "floating"
FLOATING_TAG = (FLOATING, "流动人口")
FLOATING_NAMES = frozenset({FLOATING, FLOATING_TAG[1], RESIDENCE_TYPES[FLOATING]})

RELATIONS = (
    "户主",
    "配偶",
    "子",
    "女",
    "父亲",
    "母亲",
    "孙子",
    "孙女",
    "兄弟姐妹",
    "祖父母",
    "儿媳",
    "女婿",
    "其他",
)

# (code, name) of the tags the services act on (seed 000, 003); deployments add their own.
BUILTIN_TAGS = (
    ("party_member", "党员"),
    ("elderly", "老年人"),
    ("disabled", "残疾人"),
    ("low_income", "低保"),
    ("special_care", "优抚对象"),
    ("hardship", "特困"),
)


def residence_type_name(code: str) -> str:
    return RESIDENCE_TYPES.get(code, code)


RESIDENT_STATUSES = {"current": "在册", "moved_out": "已迁出"}


def resident_status_name(code: str) -> str:
    return RESIDENT_STATUSES.get(code, code)


def gender_name(code: str) -> str:
    return GENDERS.get(code, code)


def tag_lookup(definitions: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Code or name → code of the tags ``(code, name)`` defined (the tag table): the one
    mapping by which a tag is taken as a worker names it, in the import's tag column, in
    ``?tag=`` and in a resident's ``tags``. Floating population's names are not in it
    (``FLOATING_NAMES``: a residence type)."""
    lookup: dict[str, str] = {}
    for code, name in definitions:
        lookup[code] = code
        lookup[name] = code
    return lookup


def builtin_tag_names() -> dict[str, str]:
    """Code → name of the built-in tags (the deployment's own are in its tag table)."""
    return dict(BUILTIN_TAGS)


def minor_age() -> int:
    """Under this age a resident's data is minors' data (a deployment setting, 14 by default,
    PIPL art. 28 and 31)."""
    from services.common.settings import get_settings

    return get_settings().minor_age


def minors_born_after(today: date) -> date:
    """Minors are the residents born after this day: those who turn ``minor_age`` later
    than today. On 29 February, when that many years ago had none, it is the 28th (one born
    on 1 March has the birthday tomorrow): the line each resident's ``minor`` mark draws."""
    year = today.year - minor_age()
    try:
        return today.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


UNIT_CATEGORIES = {
    "agency": "机关",
    "institution": "事业单位",
    "school": "学校",
    "hospital": "医院",
    "enterprise": "企业",
    "individual_business": "个体工商户",
    "cooperative": "农民专业合作社",
    "social_org": "社会组织",
    "mass_org": "群团组织",
    "other": "其他",
}

# GB 32100: the registering authority and entity type (the first two characters) imply a
# kind of organisation; a declared category outside the implied set is worth a warning.
_USCC_IMPLIED: dict[str, set[str]] = {
    "11": {"agency"},
    "12": {"institution", "school", "hospital"},
    "13": {"mass_org"},
    "51": {"social_org", "mass_org"},
    "52": {"social_org", "school", "hospital"},
    "53": {"social_org"},
    "91": {"enterprise", "school", "hospital"},
    "92": {"individual_business"},
    "93": {"cooperative"},
}


def area_level(code: str) -> str:
    if set(code[2:]) == {"0"}:
        return "province"
    if set(code[4:]) == {"0"}:
        return "city"
    if set(code[6:]) == {"0"}:
        return "district"
    if set(code[9:]) == {"0"}:
        return "street"
    return "community"


def area_kind(code: str) -> str:
    """The kind of unit a code names, from its segments (domain.md). Every combination
    occurs in the national table, so this describes a code and never refuses one."""
    level = area_level(code)
    if level == "street":
        seg = int(code[6:9])
        if seg < 100:
            return "street"
        if seg < 200:
            return "town"
        if seg < 400:
            return "township"
        return "other"
    if level == "community":
        seg = int(code[9:12])
        if seg < 200:
            return "community"
        if seg < 400:
            return "village"
        return "other"
    return level


def parent_code(code: str) -> str | None:
    level = area_level(code)
    cut = {"province": None, "city": 2, "district": 4, "street": 6, "community": 9}[level]
    return None if cut is None else code[:cut].ljust(12, "0")


def area_prefix(code: str) -> str:
    return significant_prefix(code)


def implied_unit_categories(uscc: str) -> set[str] | None:
    return _USCC_IMPLIED.get(uscc[:2])
