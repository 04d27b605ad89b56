"""The volunteer service's rules: real-name registration matched to the registry, teams,
activities whose capacity no race can exceed, attendance inside the time window and the
geofence, the append-only hours ledger, and the 10% registration target."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.registry import RegistryClient
from services.common.clock import clock, local_date
from services.common.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from services.common.geo import distance_m, in_china_box, to_wgs84
from services.common.ids import new_id
from services.common.pii import PiiCipher, mask_id_number, mask_phone
from services.common.scope import prefix_clause, scope_clause
from services.common.settings import Settings
from services.common.validators import parse_id_number
from services.volunteer.models import (
    Activity,
    HoursEntry,
    NumberCounter,
    Signup,
    Team,
    TeamMember,
    Volunteer,
)
from services.volunteer.schemas import (
    ActivityCreate,
    AdjustmentIn,
    AttendanceIn,
    TeamCreate,
    VolunteerCreate,
)

LIVE = ("confirmed", "waitlisted")


def _upsert(session: AsyncSession):
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


# --- registration --------------------------------------------------------------------------


async def _next_number(session: AsyncSession, community: str) -> str:
    insert = _upsert(session)
    stmt = insert(NumberCounter).values(community_code=community, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["community_code"], set_={"last": NumberCounter.last + 1}
    ).returning(NumberCounter.last)
    last = (await session.execute(stmt)).scalar_one()
    return f"V{community}{last:05d}"


async def _registry_match(peers, data: VolunteerCreate, number: str) -> str | None:
    """The current resident of that community with this ID number and name, if any. The
    registry being down is a 503: a registration must not fall to review for that."""
    residents = await RegistryClient(peers).current_residents(
        id_number=number, community=data.community_code
    )
    for resident in residents:
        if resident.name == data.name and resident.community_code == data.community_code:
            return resident.id
    return None


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
    existing = await session.scalar(select(Volunteer).where(Volunteer.id_number_index == index))
    mine = await session.scalar(select(Volunteer).where(Volunteer.user_id == principal.user_id))
    if existing is not None and not (
        existing.user_id == principal.user_id and existing.status == "withdrawn"
    ):
        raise Conflict(
            "volunteer.already_registered", errors=[FieldError("id_number", "already_registered")]
        )
    if mine is not None and mine is not existing:
        raise Conflict("volunteer.account_has_volunteer")
    resident_id = await _registry_match(peers, data, citizen.number)
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
        status="active" if resident_id else "pending",
        updated_at=now,
    )
    if existing is not None:  # a withdrawn volunteer comes back: same record, same number
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.withdrawn_at = None
        await session.flush()
        return existing
    volunteer = Volunteer(
        id=new_id(),
        number=await _next_number(session, data.community_code),
        user_id=principal.user_id,
        **fields,
    )
    try:
        async with session.begin_nested():
            session.add(volunteer)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            "volunteer.already_registered", errors=[FieldError("id_number", "already_registered")]
        ) from None
    if data.in_service_party_member:
        await _join_party_team(session, volunteer)
    return volunteer


async def _join_party_team(session: AsyncSession, volunteer: Volunteer) -> None:
    """Every community has a party-member volunteer team (seed 003): made on first need."""
    team = await session.scalar(
        select(Team).where(
            Team.community_code == volunteer.community_code, Team.kind == "party_member"
        )
    )
    if team is None:
        team = Team(
            id=new_id(),
            community_code=volunteer.community_code,
            name="党员志愿服务队",
            kind="party_member",
        )
        session.add(team)
        await session.flush()
    session.add(TeamMember(team_id=team.id, volunteer_id=volunteer.id))
    await session.flush()


async def volunteer_for(session: AsyncSession, principal: Principal) -> Volunteer:
    volunteer = await session.scalar(
        select(Volunteer).where(Volunteer.user_id == principal.user_id)
    )
    if volunteer is None:
        raise NotFound("volunteer.not_registered")
    return volunteer


async def get_volunteer(
    session: AsyncSession, principal: Principal, volunteer_id: str
) -> Volunteer:
    volunteer = await session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise NotFound()
    if volunteer.user_id == principal.user_id:
        return volunteer
    if not principal.has("volunteer:read") or not principal.reaches(volunteer.community_code):
        raise NotFound()
    return volunteer


async def review(
    *, session: AsyncSession, principal: Principal, volunteer_id: str, approve: bool
) -> Volunteer:
    volunteer = await get_volunteer(session, principal, volunteer_id)
    if not principal.has("volunteer:manage"):
        raise Forbidden()
    if volunteer.status != "pending":
        raise Conflict("volunteer.not_pending")
    volunteer.status = "active" if approve else "rejected"
    volunteer.reviewed_by = principal.user_id
    volunteer.reviewed_at = clock.now()
    await session.flush()
    return volunteer


async def withdraw(*, session: AsyncSession, principal: Principal) -> Volunteer:
    """A volunteer may leave; their records stay (the 2021 rules on service records)."""
    volunteer = await volunteer_for(session, principal)
    volunteer.status = "withdrawn"
    volunteer.withdrawn_at = clock.now()
    await session.flush()
    return volunteer


async def party_report(*, session: AsyncSession, principal: Principal) -> Volunteer:
    volunteer = await volunteer_for(session, principal)
    if not volunteer.in_service_party_member:
        raise Conflict("volunteer.not_party_member")
    volunteer.party_reported_on = clock.today()
    await session.flush()
    return volunteer


# --- teams ---------------------------------------------------------------------------------


async def create_team(*, session: AsyncSession, principal: Principal, data: TeamCreate) -> Team:
    if not principal.reaches(data.community_code):
        raise NotFound()
    team = Team(
        id=new_id(),
        community_code=data.community_code,
        name=data.name,
        kind=data.kind,
        leader_id=data.leader_id,
    )
    session.add(team)
    await session.flush()
    return team


async def set_team_members(
    *, session: AsyncSession, principal: Principal, team_id: str, ids: list[str], leader: str | None
) -> Team:
    team = await session.get(Team, team_id)
    if team is None or not principal.reaches(team.community_code):
        raise NotFound()
    wanted = list(dict.fromkeys([*ids, *([leader] if leader else [])]))
    found = (
        await session.scalars(
            select(Volunteer.id).where(
                Volunteer.id.in_(wanted),
                Volunteer.status == "active",
                Volunteer.community_code == team.community_code,
            )
        )
    ).all()
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise Unprocessable(
            "validation.not_found",
            errors=[FieldError("volunteer_ids", "not_found")],
            extra={"missing": missing},
        )
    for member in (
        await session.scalars(select(TeamMember).where(TeamMember.team_id == team.id))
    ).all():
        await session.delete(member)
    await session.flush()
    for vid in wanted:
        session.add(TeamMember(team_id=team.id, volunteer_id=vid))
    team.leader_id = leader
    await session.flush()
    return team


# --- activities and sign-ups ---------------------------------------------------------------


async def create_activity(
    *, session: AsyncSession, principal: Principal, data: ActivityCreate
) -> Activity:
    if not principal.reaches(data.community_code):
        raise NotFound()
    if data.end_at <= data.start_at:
        raise Unprocessable(
            "validation.end_before_start", errors=[FieldError("end_at", "end_before_start")]
        )
    lat = lng = None
    if data.lat is not None and data.lng is not None:
        if not in_china_box(data.lat, data.lng):
            raise Unprocessable(
                "validation.outside_china", errors=[FieldError("lat", "outside_china")]
            )
        lat, lng = to_wgs84(data.lat, data.lng, data.coord_system)
    activity = Activity(
        id=new_id(),
        community_code=data.community_code,
        team_id=data.team_id,
        title=data.title,
        category=data.category,
        description=data.description,
        start_at=data.start_at,
        end_at=data.end_at,
        address=data.address,
        lat=lat,
        lng=lng,
        radius_m=data.radius_m,
        capacity=data.capacity,
        signup_deadline=data.signup_deadline or data.start_at,
        cancel_deadline=data.cancel_deadline or data.start_at,
        checkin_secret=secrets.token_hex(16),
        created_by=principal.user_id,
    )
    session.add(activity)
    await session.flush()
    return activity


async def get_activity(session: AsyncSession, activity_id: str) -> Activity:
    activity = await session.get(Activity, activity_id)
    if activity is None:
        raise NotFound()
    return activity


async def sign_up(*, session: AsyncSession, principal: Principal, activity_id: str) -> Signup:
    """Confirmed while places remain, waitlisted after, in order of arrival — the place is
    taken by one conditional UPDATE, so no interleaving of requests can exceed capacity."""
    volunteer = await volunteer_for(session, principal)
    if volunteer.status != "active":
        raise Conflict("volunteer.not_active")
    activity = await get_activity(session, activity_id)
    now = clock.now()
    if activity.status != "published":
        raise Conflict("activity.not_open")
    if now > (activity.signup_deadline or activity.start_at):
        raise Conflict("activity.signup_closed")
    clash = await session.scalar(
        select(Signup.activity_id).where(
            Signup.volunteer_id == volunteer.id,
            Signup.status.in_(LIVE),
            Signup.start_at < activity.end_at,
            Signup.end_at > activity.start_at,
        )
    )
    if clash is not None:
        raise Conflict(
            "signup.overlaps", extra={"activity_id": clash} if clash != activity.id else {}
        )
    # Arrival order: the activity row's counter, taken under its row lock.
    position = (
        await session.execute(
            update(Activity)
            .where(Activity.id == activity.id)
            .values(arrivals=Activity.arrivals + 1)
            .returning(Activity.arrivals)
        )
    ).scalar_one()
    taken = await session.execute(
        update(Activity)
        .where(Activity.id == activity.id, Activity.confirmed < Activity.capacity)
        .values(confirmed=Activity.confirmed + 1)
    )
    signup = Signup(
        id=new_id(),
        activity_id=activity.id,
        volunteer_id=volunteer.id,
        position=position,
        status="confirmed" if taken.rowcount == 1 else "waitlisted",
        start_at=activity.start_at,
        end_at=activity.end_at,
    )
    try:
        async with session.begin_nested():
            session.add(signup)
            await session.flush()
    except IntegrityError:
        raise Conflict("signup.exists") from None
    return signup


async def cancel_signup(*, session: AsyncSession, principal: Principal, activity_id: str) -> Signup:
    """A cancellation frees a place for the head of the waitlist, in the same transaction."""
    volunteer = await volunteer_for(session, principal)
    activity = await get_activity(session, activity_id)
    signup = await session.scalar(
        select(Signup).where(
            Signup.activity_id == activity.id,
            Signup.volunteer_id == volunteer.id,
            Signup.status.in_(LIVE),
        )
    )
    if signup is None:
        raise NotFound()
    if clock.now() > (activity.cancel_deadline or activity.start_at):
        raise Conflict("signup.cancel_closed")
    was_confirmed = signup.status == "confirmed"
    claimed = await session.execute(
        update(Signup)
        .where(Signup.id == signup.id, Signup.status == signup.status)
        .values(status="cancelled", cancelled_at=clock.now())
    )
    if claimed.rowcount != 1:
        raise Conflict("signup.changed")
    if was_confirmed:
        await promote_waitlist(session, activity.id)
    await session.refresh(signup)
    return signup


async def promote_waitlist(session: AsyncSession, activity_id: str) -> None:
    stmt = (
        select(Signup.id)
        .where(Signup.activity_id == activity_id, Signup.status == "waitlisted")
        .order_by(Signup.position)
        .limit(1)
    )
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    head = await session.scalar(stmt)
    if head is None:
        await session.execute(
            update(Activity)
            .where(Activity.id == activity_id)
            .values(confirmed=Activity.confirmed - 1)
        )
    else:
        await session.execute(update(Signup).where(Signup.id == head).values(status="confirmed"))


# --- attendance ----------------------------------------------------------------------------


def checkin_token(activity: Activity, now: datetime, ttl_s: int) -> tuple[str, datetime]:
    issued = int(now.timestamp())
    signature = hmac.new(
        activity.checkin_secret.encode(), f"{activity.id}:{issued}".encode(), hashlib.sha256
    ).hexdigest()[:16]
    return f"{issued}.{signature}", datetime.fromtimestamp(issued + ttl_s, tz=now.tzinfo)


def token_valid(activity: Activity, token: str, now: datetime, ttl_s: int) -> bool:
    issued_text, _, signature = token.partition(".")
    if not issued_text.isdigit():
        return False
    issued = int(issued_text)
    expected = hmac.new(
        activity.checkin_secret.encode(), f"{activity.id}:{issued}".encode(), hashlib.sha256
    ).hexdigest()[:16]
    return hmac.compare_digest(expected, signature) and 0 <= now.timestamp() - issued <= ttl_s


async def attend(
    *,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    activity_id: str,
    data: AttendanceIn,
) -> dict[str, Any]:
    volunteer = await volunteer_for(session, principal)
    activity = await get_activity(session, activity_id)
    signup = await session.scalar(
        select(Signup).where(
            Signup.activity_id == activity.id,
            Signup.volunteer_id == volunteer.id,
            Signup.status == "confirmed",
        )
    )
    if signup is None:
        raise NotFound("signup.not_confirmed")
    now = clock.now()
    slack = timedelta(minutes=settings.volunteer_checkin_window_min)
    start, end = activity.start_at, activity.end_at
    if data.action == "check_in":
        window = (start - slack, end)
        if signup.check_in_at is not None and signup.check_in_ok:
            raise Conflict("attendance.already")
    else:
        window = (start, end + slack)
        if not signup.check_in_ok:
            raise Conflict("attendance.not_checked_in")
        if signup.check_out_at is not None:
            raise Conflict("attendance.already")
    if not window[0] <= now <= window[1]:
        raise Conflict("attendance.outside_window")
    distance = None
    if data.token:
        ok, method = token_valid(activity, data.token, now, settings.volunteer_qr_token_s), "token"
    elif data.lat is not None and data.lng is not None and activity.lat is not None:
        lat, lng = to_wgs84(data.lat, data.lng, data.coord_system)
        distance = round(distance_m(lat, lng, activity.lat, activity.lng), 1)
        ok, method = distance <= activity.radius_m, "geo"
    else:
        raise Unprocessable("validation.missing", errors=[FieldError("token", "missing")])
    # The result and the distance are kept, never where the phone was.
    if data.action == "check_in":
        signup.check_in_ok, signup.check_in_distance_m, signup.check_in_method = (
            ok,
            distance,
            method,
        )
        if ok:
            signup.check_in_at = now
    else:
        signup.check_out_ok, signup.check_out_distance_m = ok, distance
        if ok:
            signup.check_out_at = now
    await session.flush()
    return {"action": data.action, "ok": ok, "method": method, "distance_m": distance, "at": now}


def served_hours(
    check_in: datetime, check_out: datetime, start: datetime, end: datetime
) -> Decimal:
    """Hours = the overlap of check-in…check-out with the activity's start…end."""
    seconds = (min(check_out, end) - max(check_in, start)).total_seconds()
    return Decimal(max(0.0, seconds) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def finish(
    *, session: AsyncSession, principal: Principal, settings: Settings, activity_id: str
) -> dict[str, Any]:
    """After the end: no-shows are marked, forgotten check-outs close at the end (flagged),
    and each attendee's hours go into the ledger — approved, unless the day's total would
    pass the daily cap, which needs a person's approval."""
    activity = await get_activity(session, activity_id)
    if not principal.reaches(activity.community_code):
        raise NotFound()
    now = clock.now()
    start, end = activity.start_at, activity.end_at
    if now < end:
        raise Conflict("activity.not_over")
    if activity.status != "published":
        raise Conflict("activity.not_open")
    signups = (
        await session.scalars(
            select(Signup).where(Signup.activity_id == activity.id, Signup.status == "confirmed")
        )
    ).all()
    tally = Counter()
    service_date = local_date(end)
    for signup in signups:
        if not signup.check_in_ok:
            signup.status = "no_show"
            tally["no_shows"] += 1
            continue
        if signup.check_out_at is None:
            signup.check_out_at = end
            signup.auto_closed = True
            tally["auto_closed"] += 1
        hours = served_hours(signup.check_in_at, signup.check_out_at, start, end)
        volunteer = await session.get(Volunteer, signup.volunteer_id)
        day_total = await session.scalar(
            select(func.coalesce(func.sum(HoursEntry.hours), 0)).where(
                HoursEntry.volunteer_id == volunteer.id,
                HoursEntry.service_date == service_date,
                HoursEntry.status == "approved",
            )
        )
        over_cap = Decimal(day_total or 0) + hours > Decimal(settings.volunteer_daily_cap_hours)
        session.add(
            HoursEntry(
                id=new_id(),
                volunteer_id=volunteer.id,
                community_code=volunteer.community_code,
                activity_id=activity.id,
                kind="activity",
                service_date=service_date,
                hours=hours,
                reason="超过每日上限,待审核" if over_cap else None,
                status="pending" if over_cap else "approved",
                entered_by=f"activity:{activity.id}",
                approved_by=None if over_cap else f"activity:{activity.id}",
                approved_at=None if over_cap else now,
            )
        )
        tally["attended"] += 1
        tally["hours_entries"] += 1
        tally["pending_approval"] += int(over_cap)
    activity.status = "finished"
    await session.flush()
    return {
        "activity_id": activity.id,
        **{
            k: tally[k]
            for k in ("attended", "no_shows", "auto_closed", "hours_entries", "pending_approval")
        },
    }


# --- the hours ledger ----------------------------------------------------------------------


async def add_adjustment(
    *, session: AsyncSession, principal: Principal, data: AdjustmentIn
) -> HoursEntry:
    volunteer = await get_volunteer(session, principal, data.volunteer_id)
    if not principal.has("volunteer:manage"):
        raise Forbidden()
    entry = HoursEntry(
        id=new_id(),
        volunteer_id=volunteer.id,
        community_code=volunteer.community_code,
        kind=data.kind,
        service_date=data.service_date,
        hours=data.hours,
        reason=data.reason,
        status="pending",
        entered_by=principal.user_id,
    )
    session.add(entry)
    await session.flush()
    return entry


async def request_correction(*, session: AsyncSession, principal: Principal, data) -> HoursEntry:
    """The volunteer's own request: a pending line that a community worker approves or
    rejects; the volunteer cannot approve it."""
    volunteer = await volunteer_for(session, principal)
    entry = HoursEntry(
        id=new_id(),
        volunteer_id=volunteer.id,
        community_code=volunteer.community_code,
        activity_id=data.activity_id,
        kind="correction",
        service_date=data.service_date,
        hours=data.hours,
        reason=data.reason,
        status="pending",
        entered_by=principal.user_id,
    )
    session.add(entry)
    await session.flush()
    return entry


async def review_entry(
    *, session: AsyncSession, principal: Principal, entry_id: str, approve: bool
) -> HoursEntry:
    """A second person approves: never the one who entered it."""
    entry = await session.get(HoursEntry, entry_id)
    if entry is None or not principal.reaches(entry.community_code):
        raise NotFound()
    if not principal.has("volunteer:manage"):
        raise Forbidden()
    if entry.status != "pending":
        raise Conflict("hours.not_pending")
    if entry.entered_by == principal.user_id:
        raise Forbidden("hours.same_person")
    entry.status = "approved" if approve else "rejected"
    entry.approved_by = principal.user_id
    entry.approved_at = clock.now()
    await session.flush()
    return entry


def star_level(total: Decimal, levels: list[int]) -> tuple[int, Decimal | None]:
    level = sum(1 for threshold in levels if total >= threshold)
    upcoming = next((Decimal(t) for t in levels if total < t), None)
    return level, upcoming


async def total_hours(session: AsyncSession, volunteer_id: str) -> Decimal:
    total = await session.scalar(
        select(func.coalesce(func.sum(HoursEntry.hours), 0)).where(
            HoursEntry.volunteer_id == volunteer_id, HoursEntry.status == "approved"
        )
    )
    return Decimal(total or 0).quantize(Decimal("0.01"))


# --- the 10% target ------------------------------------------------------------------------


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
    from services.common.validators import significant_prefix

    prefix = significant_prefix(area)
    if not principal.reaches(prefix):
        raise NotFound()
    # ``level``: every area at that level below (a district's communities, for the scores)
    # instead of the direct children; the registry draws the same line for the residents.
    stats = await RegistryClient(peers).children_figures(
        area=area, level=level, errors={404: NotFound}
    )
    children = stats.children
    group_len = len(significant_prefix(children[0].code)) if children else len(prefix)
    volunteers = await _count_by_prefix(session, prefix, group_len, None)
    active = await _count_by_prefix(session, prefix, group_len, clock.today() - timedelta(days=365))
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


async def _count_by_prefix(
    session: AsyncSession, prefix: str, group_len: int, served_since: date | None
) -> dict[str, int]:
    """Active volunteers (each person once: one record per ID number) grouped by the first
    ``group_len`` characters of their community; with ``served_since``, only those with
    approved hours since then."""
    group = func.substr(Volunteer.community_code, 1, group_len).label("g")
    stmt = select(group, func.count(Volunteer.id)).where(
        Volunteer.status == "active", prefix_clause(Volunteer.community_code, prefix)
    )
    if served_since is not None:
        served = select(HoursEntry.volunteer_id).where(
            HoursEntry.status == "approved",
            HoursEntry.service_date >= served_since,
            HoursEntry.hours > 0,
        )
        stmt = stmt.where(Volunteer.id.in_(served))
    return {g: n for g, n in await session.execute(stmt.group_by(group))}


async def party_member_stats(
    *, session: AsyncSession, principal: Principal, area: str
) -> dict[str, Any]:
    """In-service party members who reported to their home community, and the hours they
    served, per employer unit and per community (for the assessment service)."""
    from services.common.validators import significant_prefix

    prefix = significant_prefix(area)
    if not principal.reaches(prefix):
        raise NotFound()
    hours = (
        select(HoursEntry.volunteer_id, func.sum(HoursEntry.hours).label("h"))
        .where(HoursEntry.status == "approved")
        .group_by(HoursEntry.volunteer_id)
        .subquery()
    )
    base = (
        select(
            Volunteer.employer_unit_id,
            Volunteer.community_code,
            func.count(Volunteer.id),
            func.coalesce(func.sum(hours.c.h), 0),
        )
        .outerjoin(hours, hours.c.volunteer_id == Volunteer.id)
        .where(
            Volunteer.in_service_party_member.is_(True),
            Volunteer.party_reported_on.is_not(None),
            Volunteer.status == "active",
            prefix_clause(Volunteer.community_code, prefix),
        )
    )
    by_unit: dict[str, list] = {}
    by_community: dict[str, list] = {}
    for unit, community, n, h in await session.execute(
        base.group_by(Volunteer.employer_unit_id, Volunteer.community_code)
    ):
        for table, key in ((by_unit, unit or "unknown"), (by_community, community)):
            entry = table.setdefault(key, [0, Decimal(0)])
            entry[0] += n
            entry[1] += Decimal(h or 0)

    def shape(table: dict[str, list]) -> list[dict[str, Any]]:
        return [{"key": k, "reported": v[0], "hours": v[1]} for k, v in sorted(table.items())]

    return {"area": area, "by_unit": shape(by_unit), "by_community": shape(by_community)}


def in_scope(principal: Principal):
    return scope_clause(Volunteer.community_code, principal)
