"""Validators for the identifiers a Chinese community platform handles.

The check-digit arithmetic comes from python-stdnum (GB 11643 citizen ID, GB 32100 credit
code) and phonenumbers (mobile numbers); what is ours is the policy around them: a birth
date not in the future, the reasons in both languages, and the pydantic types.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Annotated

from phonenumbers import PhoneMetadata
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc

from services.common.clock import clock
from services.common.i18n import current_lang


class Localized:
    """A sentence in both languages, rendered in the request's language when formatted."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en

    def __str__(self) -> str:
        return self.en if current_lang.get() == "en" else self.zh

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"Localized({self.en!r})"


class InvalidValue(ValueError):
    """A value that fails a domain check; ``code`` is a key of i18n.FIELD_MESSAGES."""

    def __init__(self, code: str, reason: Localized | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason or Localized("", "")

    def to_pydantic(self) -> PydanticCustomError:
        return PydanticCustomError(
            self.code, f"{self.code}: {self.reason.en}", {"reason": self.reason}
        )


_REASONS = {
    "length": Localized("应为 18 位", "must be 18 characters"),
    "format": Localized("含有非法字符", "contains invalid characters"),
    "checksum": Localized("校验码不符", "the check digit does not match"),
    "birth_date": Localized("出生日期不存在", "the birth date does not exist"),
    "future": Localized("出生日期晚于今天", "the birth date is in the future"),
    "birthplace": Localized("地址码不存在", "the birthplace code does not exist"),
}


@dataclass(frozen=True)
class CitizenId:
    number: str
    birth_date: date
    gender: str  # "male" / "female": the order code's parity
    birthplace_code: str

    def age_on(self, day: date) -> int:
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


@lru_cache(maxsize=8192)
def _birthplace_exists(code: str) -> bool:
    """The address code has been a county in GB/T 2260 at some time. (stdnum's
    ``get_birth_place`` also asks that it existed in the birth year, which refuses every
    resident born before their county got its present code — most of the elderly.)"""
    from stdnum import numdb

    return any("county" in props for _, props in numdb.get("cn/loc").info(code))


def parse_id_number(value: str, today: date | None = None) -> CitizenId:
    """Validate an 18-digit GB 11643 citizen ID number and read what it encodes."""
    # Typed on a phone with a Chinese IME, digits and X may come full-width: NFKC turns them
    # into ASCII, as python-stdnum's clean() does for digits; other scripts' digits stay
    # what they are and are refused below.
    number = unicodedata.normalize("NFKC", str(value)).strip().upper()
    if len(number) != 18 or not _ascii_digits(number[:17]):
        number = ric.compact(number)
    try:
        if len(number) != 18:
            raise stdnum_errors.InvalidLength()
        if not _ascii_digits(number[:-1]):
            raise stdnum_errors.InvalidFormat()
        if number[-1] != ric.calc_check_digit(number):
            raise stdnum_errors.InvalidChecksum()
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except stdnum_errors.InvalidLength:
        raise InvalidValue("id_number_invalid", _REASONS["length"]) from None
    except stdnum_errors.InvalidChecksum:
        raise InvalidValue("id_number_invalid", _REASONS["checksum"]) from None
    except (stdnum_errors.InvalidComponent, ValueError):
        raise InvalidValue("id_number_invalid", _REASONS["birth_date"]) from None
    except stdnum_errors.ValidationError:
        raise InvalidValue("id_number_invalid", _REASONS["format"]) from None
    if born > (today or clock.today()) or born.year < 1880:
        raise InvalidValue(
            "id_number_invalid", _REASONS["future" if born.year >= 1880 else "birth_date"]
        )
    if not _birthplace_exists(number[:6]):
        raise InvalidValue("id_number_invalid", _REASONS["birthplace"])
    gender = "male" if int(number[16]) % 2 == 1 else "female"
    return CitizenId(number, born, gender, number[:6])


def normalize_uscc(value: str) -> str:
    """A GB 32100 unified social credit code. python-stdnum's ``validate`` insists the first
    eight characters are digits, but the registering-authority character may also be a letter
    (A, N, Y), so we check the format ourselves and take stdnum's check digit."""
    code = uscc.compact(str(value))
    if len(code) != 18:
        raise InvalidValue("uscc_invalid", _REASONS["length"])
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    if not code[2:8].isdigit() or any(c not in alphabet for c in code):
        raise InvalidValue("uscc_invalid", _REASONS["format"])
    if code[-1] != uscc.calc_check_digit(code[:17]):
        raise InvalidValue("uscc_invalid", _REASONS["checksum"])
    return code


# libphonenumber's own pattern for mainland mobile numbers, matched directly: a roster of
# 100,000 rows cannot afford the full ``parse`` per number.
_CN_MOBILE = re.compile(PhoneMetadata.metadata_for_region("CN").mobile.national_number_pattern)
_PHONE_NOISE = re.compile(r"[\s\-().]")


def normalize_mobile(value: str) -> str:
    """A mainland mobile number in its 11-digit national form (``+86``, spaces and dashes
    accepted on the way in)."""
    digits = _PHONE_NOISE.sub("", unicodedata.normalize("NFKC", str(value)))
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
            break
    if len(digits) != 11 or not _ascii_digits(digits) or not _CN_MOBILE.fullmatch(digits):
        raise InvalidValue("phone_invalid")
    return digits


# ASCII digits only: Python's \d also matches full-width and Arabic-Indic digits.
_AREA_CODE = re.compile(r"^[0-9]{12}$")
_SCOPE_CODE = re.compile(r"^[0-9]{2,20}$")


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


# province, city, county, township/street, community/village
_AREA_SEGMENTS = ((0, 2), (2, 4), (4, 6), (6, 9), (9, 12))
_SEGMENT_ENDS = frozenset(end for _, end in _AREA_SEGMENTS)


def normalize_area_code(value: str) -> str:
    """The 12-digit code; one given by its significant digits as a scope spells it (410105,
    a district) is padded with the zeros of the levels below."""
    code = unicodedata.normalize("NFKC", str(value)).strip()
    if _ascii_digits(code) and len(code) in _SEGMENT_ENDS:
        code = code.ljust(12, "0")
    if not _AREA_CODE.match(code):
        raise InvalidValue("area_code_invalid")
    return code


def significant_prefix(code: str) -> str:
    """The part of a 12-digit area code that names it: ``410105001000`` (a street) is
    ``410105001``; a prefix match on it reaches everything below. Longer codes (grid cells)
    are their own prefix."""
    if len(code) != 12:
        return code
    end = 12
    for seg_start, seg_end in reversed(_AREA_SEGMENTS):
        if code[seg_start:seg_end].strip("0"):
            break
        end = seg_start
    return code[:end] or code


def normalize_scope_code(value: str) -> str:
    """An area or grid-cell code kept as its significant prefix, or ``*`` (everything)."""
    code = unicodedata.normalize("NFKC", str(value)).strip()
    if code == "*":
        return code
    if not _SCOPE_CODE.match(code):
        raise InvalidValue("scope_code_invalid")
    return significant_prefix(code)


def _pydantic(fn):
    def run(value):
        try:
            return fn(value)
        except InvalidValue as exc:
            raise exc.to_pydantic() from None

    return run


def _id_number(value: str) -> str:
    return parse_id_number(value).number


def _strip(value):
    return value.strip() if isinstance(value, str) else value


IdNumberStr = Annotated[str, BeforeValidator(_strip), AfterValidator(_pydantic(_id_number))]
UsccStr = Annotated[str, BeforeValidator(_strip), AfterValidator(_pydantic(normalize_uscc))]
MobileStr = Annotated[str, BeforeValidator(_strip), AfterValidator(_pydantic(normalize_mobile))]
AreaCodeStr = Annotated[str, AfterValidator(_pydantic(normalize_area_code))]
ScopeCodeStr = Annotated[str, AfterValidator(_pydantic(normalize_scope_code))]
# An upload's id as a record names it (a case's photos, a record's evidence): checked here,
# so that a blank or garbled one is the sender's 422 on that field, not a failed lookup.
FileIdStr = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=64)]
