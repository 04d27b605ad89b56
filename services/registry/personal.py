"""A resident's personal data as it rests: the ID number and the phone encrypted, with the
blind index that finds them and the masks that show them (``services.common.pii``). One
place for the form, the roster and the benchmarks' loaders, and light to import: a roster's
parsing process seals its rows without loading the service."""

from __future__ import annotations

from typing import Any

from services.common.pii import PiiCipher, mask_id_number, mask_phone
from services.common.validators import CitizenId


def seal_id_number(
    cipher: PiiCipher, citizen: CitizenId, index: str | None = None
) -> dict[str, Any]:
    """The stored columns of an ID number; ``index`` when the caller has it already."""
    return {
        "id_number_enc": cipher.encrypt(citizen.number, "id_number"),
        "id_number_index": index or cipher.blind_index(citizen.number, "id_number"),
        "id_number_masked": mask_id_number(citizen.number),
        "gender": citizen.gender,
        "birth_date": citizen.birth_date,
    }


def seal_phone(cipher: PiiCipher, phone: str | None) -> dict[str, Any]:
    if not phone:
        return {"phone_enc": None, "phone_index": None, "phone_masked": None}
    return {
        "phone_enc": cipher.encrypt(phone, "phone"),
        "phone_index": cipher.blind_index(phone, "phone"),
        "phone_masked": mask_phone(phone),
    }
