"""Real-name registration 志愿者注册: a resident registers with their ID number; a match with
a current resident of that community in the registry is active at once, anyone else waits
for the community worker's review. Minors of 14–17 need a guardian's consent."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.registry import RegistryClient
from services.common.clock import clock
from services.common.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from services.common.events import emit, settle_notices
from services.common.ids import new_id
from services.common.pii import PiiCipher, mask_id_number, mask_phone
from services.common.settings import Settings
from services.common.validators import parse_id_number
from services.volunteer import repository
from services.volunteer.models import Volunteer, outbox
from services.volunteer.names import REVIEW_REASON_NAMES
from services.volunteer.schemas import VolunteerCreate
from services.volunteer.service import history, teams, waitlist


async def _registry_match(
    peers, data: VolunteerCreate, number: str
) -> tuple[str | None, str | None]:
    """(the current resident of that community with this ID number and name, why a person
    must look at the registration). A phone other than the one the registry holds is
    looked at: an ID number and a name are easily known to someone else. The registry being
    down is a 503: a registration must not fall to review for that."""
    registry = RegistryClient(peers)
    residents = await registry.current_residents(id_number=number, community=data.community_code)
    for resident in residents:
        if resident.name == data.name and resident.community_code == data.community_code:
            if resident.phone and not await registry.current_residents(
                id_number=number, community=data.community_code, phone=data.phone
            ):
                return resident.id, "phone_differs"
            return resident.id, None
    return None, "not_in_registry"


async def register(
    *,
    session: AsyncSession,
    principal: Principal,
    cipher: PiiCipher,
    peers,
    settings: Settings,
    data: VolunteerCreate,
) -> Volunteer:
    today = clock.today()
    citizen = parse_id_number(data.id_number, today)
    age = citizen.age_on(today)
    if age < settings.volunteer_min_age:
        raise Unprocessable(
            "volunteer.too_young",
            errors=[FieldError("id_number", "too_young", {"age": settings.volunteer_min_age})],
        )
    if age < 18 and not (data.guardian and data.guardian.consent):
        raise Unprocessable(
            "volunteer.guardian_required", errors=[FieldError("guardian", "guardian_required")]
        )
    index = cipher.blind_index(citizen.number, "id_number")
    existing = await repository.volunteer_by_id_number(session, index)
    mine = await repository.volunteer_of_user(session, principal.user_id)
    # A withdrawn volunteer who registers again — from their account or a new one — has
    # their record reopened (the same id and number), by the same match as a newcomer's.
    if existing is not None and existing.status != "withdrawn":
        raise _already_registered()
    if mine is not None and mine is not existing:
        raise Conflict("volunteer.account_has_volunteer")
    resident_id, review_reason = await _registry_match(peers, data, citizen.number)
    now = clock.now()
    fields = dict(
        community_code=data.community_code,
        resident_id=resident_id,
        name=data.name,
        id_number_enc=cipher.encrypt(citizen.number, "id_number"),
        id_number_index=index,
        id_number_masked=mask_id_number(citizen.number),
        birth_date=citizen.birth_date,
        phone_enc=cipher.encrypt(data.phone, "phone"),
        phone_masked=mask_phone(data.phone),
        skills=data.skills,
        availability=data.availability,
        in_service_party_member=data.in_service_party_member,
        employer_unit_id=data.employer_unit_id,
        guardian_name=data.guardian.name if data.guardian else None,
        guardian_phone_enc=cipher.encrypt(data.guardian.phone, "phone") if data.guardian else None,
        guardian_consent=data.guardian.consent if data.guardian else None,
        status="pending" if review_reason else "active",
        review_reason=review_reason,
        updated_at=now,
    )
    if existing is not None:  # a withdrawn volunteer comes back: same record, same number
        was = history.snapshot("volunteer", existing, cipher)
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.user_id = principal.user_id
        existing.withdrawn_at = None
        existing.reviewed_by = existing.reviewed_at = existing.review_note = None
        await session.flush()
        await history.changed(
            session, principal, "volunteer", existing, "registered", was, cipher=cipher
        )
        if data.in_service_party_member:
            await _join_party_team(session, principal, existing)
        await _tell_if_active(session, existing)
        return existing
    number = await repository.next_number(session, data.community_code)
    volunteer = Volunteer(
        id=new_id(),
        number=f"V{data.community_code}{number:05d}",
        user_id=principal.user_id,
        **fields,
    )
    try:
        async with session.begin_nested():
            session.add(volunteer)
            await session.flush()
    except IntegrityError:
        raise _already_registered() from None
    await history.changed(session, principal, "volunteer", volunteer, "registered", cipher=cipher)
    if data.in_service_party_member:
        await _join_party_team(session, principal, volunteer)
    await _tell_if_active(session, volunteer)
    return volunteer


def _already_registered() -> Conflict:
    return Conflict(
        "volunteer.already_registered",
        errors=[FieldError("id_number", "volunteer_already_registered")],
    )


async def _tell_if_active(session: AsyncSession, volunteer: Volunteer) -> None:
    """An active volunteer matched to a resident: the gateway links the account to that
    resident (``/me`` shows it). One who waits: the community's workers are told."""
    if volunteer.status == "pending":
        await emit(
            session,
            outbox,
            "volunteer.review_needed",
            {
                "volunteer_id": volunteer.id,
                "community_code": volunteer.community_code,
                "name": volunteer.name,
                "reason": volunteer.review_reason,
                "reason_name": REVIEW_REASON_NAMES.get(volunteer.review_reason or ""),
            },
        )
    if volunteer.status == "active" and volunteer.resident_id:
        await emit(
            session,
            outbox,
            "volunteer.activated",
            {
                "volunteer_id": volunteer.id,
                "user_id": volunteer.user_id,
                "resident_id": volunteer.resident_id,
                "name": volunteer.name,
                "community_code": volunteer.community_code,
            },
        )


async def _join_party_team(session: AsyncSession, principal: Principal, volunteer: Volunteer):
    """An in-service party member is in their community's party-member team (seed 003),
    made now if no one has looked at the community's teams yet."""
    team = await teams.party_team(session, principal, volunteer.community_code)
    was = history.snapshot("team", team, **await history.roster(session, team))
    await repository.add_team_member(session, team.id, volunteer.id)
    now = await history.roster(session, team)
    await history.changed(session, principal, "team", team, "joined", was, **now)


async def volunteer_for(session: AsyncSession, principal: Principal) -> Volunteer:
    """The caller's own volunteer record."""
    volunteer = await repository.volunteer_of_user(session, principal.user_id)
    if volunteer is None:
        raise NotFound("volunteer.not_registered")
    return volunteer


async def get_volunteer(
    session: AsyncSession, principal: Principal, volunteer_id: str
) -> Volunteer:
    volunteer = await repository.volunteer(session, principal, volunteer_id)
    if volunteer is None:
        raise NotFound()
    return volunteer


async def list_volunteers(*, session: AsyncSession, principal: Principal, page, community, status):
    from services.common.validators import significant_prefix

    return await repository.list_volunteers(
        session,
        principal,
        page,
        community_prefix=significant_prefix(community) if community else None,
        status=status,
    )


async def review(
    *,
    session: AsyncSession,
    principal: Principal,
    volunteer_id: str,
    approve: bool,
    note: str | None = None,
) -> Volunteer:
    volunteer = await get_volunteer(session, principal, volunteer_id)
    if not principal.has("volunteer:manage"):
        raise Forbidden()
    if volunteer.status != "pending":
        raise Conflict("volunteer.not_pending")
    was = history.snapshot("volunteer", volunteer)
    volunteer.status = "active" if approve else "rejected"
    volunteer.reviewed_by = principal.user_id
    volunteer.reviewed_at = clock.now()
    volunteer.review_note = note
    await session.flush()
    action = "approved" if approve else "rejected"
    await history.changed(session, principal, "volunteer", volunteer, action, was)
    await settle_notices(
        session, outbox, "volunteer", "volunteer", volunteer.id, "volunteer_review"
    )
    await _tell_if_active(session, volunteer)
    await emit(
        session,
        outbox,
        "volunteer.reviewed",
        {
            "volunteer_id": volunteer.id,
            "user_id": volunteer.user_id,
            "approved": approve,
            "note": note,
        },
    )
    return volunteer


async def withdraw(*, session: AsyncSession, principal: Principal) -> Volunteer:
    """A volunteer may leave; their records stay (the 2021 rules on service records). The
    places they held on activities still to come go to those activities' waitlists, and
    they leave their teams."""
    volunteer = await volunteer_for(session, principal)
    was = history.snapshot("volunteer", volunteer)
    volunteer.status = "withdrawn"
    volunteer.withdrawn_at = clock.now()
    await session.flush()
    await history.changed(session, principal, "volunteer", volunteer, "withdrawn", was)
    await teams.leave_all(session, principal, volunteer)
    await waitlist.give_up_future_places(session, volunteer.id)
    return volunteer


async def party_report(*, session: AsyncSession, principal: Principal) -> Volunteer:
    """An in-service party member reports to the community where they live (在职党员报到)."""
    volunteer = await volunteer_for(session, principal)
    if not volunteer.in_service_party_member:
        raise Conflict("volunteer.not_party_member")
    was = history.snapshot("volunteer", volunteer)
    volunteer.party_reported_on = clock.today()
    await session.flush()
    await history.changed(session, principal, "volunteer", volunteer, "party_reported", was)
    return volunteer
