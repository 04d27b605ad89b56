"""Every query of the volunteer service, and who may see what.

Scope, applied here from the caller's principal for every list and every get:
- a volunteer record: staff whose scope reaches its community; a resident, their own only;
- a team and its members: staff within scope; a resident, the teams of the community
  where they are a volunteer;
- an activity: a *published* (or finished) one is public to every signed-in user, so a
  resident may find and join activities anywhere; a cancelled one only within staff scope
  or to those who had signed up; its sign-up list, attendance, check-in code and closing
  are for staff within scope;
- hours: those who may see the volunteer.
A record outside the caller's reach is not found (404), so ids cannot be probed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    delete,
    false,
    func,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock
from services.common.geo import box_around, nearness, nearness_bound
from services.common.history import history_page
from services.common.ids import new_id
from services.common.pagination import PageParams, decode_cursor, encode_cursor, paginate
from services.common.scope import prefix_clause, scope_clause
from services.common.validators import significant_prefix
from services.volunteer.models import (
    Activity,
    HoursEntry,
    NumberCounter,
    Signup,
    Team,
    TeamMember,
    Volunteer,
    change_history,
)

LIVE = ("confirmed", "waitlisted")
PUBLIC_ACTIVITY = ("published", "finished")


def _upsert(session: AsyncSession):
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


def _staff(principal: Principal) -> bool:
    return bool(principal.scope) and not principal.has_role("resident")


# --- volunteers ----------------------------------------------------------------------------


def volunteers_in_scope(principal: Principal) -> ColumnElement[bool]:
    return scope_clause(Volunteer.community_code, principal)


async def next_number(session: AsyncSession, community: str) -> int:
    """The community's next volunteer number, taken under the counter row's lock."""
    stmt = _upsert(session)(NumberCounter).values(community_code=community, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["community_code"], set_={"last": NumberCounter.last + 1}
    ).returning(NumberCounter.last)
    return (await session.execute(stmt)).scalar_one()


async def volunteer_by_id_number(session: AsyncSession, index: str) -> Volunteer | None:
    return await session.scalar(select(Volunteer).where(Volunteer.id_number_index == index))


async def volunteer_of_user(session: AsyncSession, user_id: str) -> Volunteer | None:
    return await session.scalar(select(Volunteer).where(Volunteer.user_id == user_id))


async def volunteer(
    session: AsyncSession, principal: Principal, volunteer_id: str
) -> Volunteer | None:
    """The record if the caller may read it: their own, or staff within scope."""
    found = await session.get(Volunteer, volunteer_id)
    if found is None:
        return None
    if found.user_id == principal.user_id:
        return found
    if principal.has("volunteer:read") and principal.reaches(found.community_code):
        return found
    return None


async def list_volunteers(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    community_prefix: str | None,
    status: str | None,
) -> tuple[list[Volunteer], str | None]:
    stmt = select(Volunteer).where(volunteers_in_scope(principal))
    if community_prefix:
        stmt = stmt.where(prefix_clause(Volunteer.community_code, community_prefix))
    if status:
        stmt = stmt.where(Volunteer.status == status)
    return await paginate(session, stmt, [Volunteer.id], page)


async def active_volunteer_ids(session: AsyncSession, ids: list[str], community: str) -> list[str]:
    rows = await session.scalars(
        select(Volunteer.id).where(
            Volunteer.id.in_(ids),
            Volunteer.status == "active",
            Volunteer.community_code == community,
        )
    )
    return list(rows.all())


async def volunteer_row(session: AsyncSession, volunteer_id: str) -> Volunteer | None:
    """Unscoped: for the service's own bookkeeping (closing an activity)."""
    return await session.get(Volunteer, volunteer_id)


# --- teams ---------------------------------------------------------------------------------


async def _teams_visible(session: AsyncSession, principal: Principal) -> ColumnElement[bool]:
    if principal.unrestricted or _staff(principal):
        return scope_clause(Team.community_code, principal)
    mine = await volunteer_of_user(session, principal.user_id)
    if mine is None or mine.status != "active":
        return false()
    return Team.community_code == mine.community_code


async def team(session: AsyncSession, principal: Principal, team_id: str) -> Team | None:
    found = await session.get(Team, team_id)
    if found is None:
        return None
    visible = await _teams_visible(session, principal)
    ok = await session.scalar(select(Team.id).where(Team.id == team_id, visible))
    return found if ok else None


async def list_teams(
    session: AsyncSession, principal: Principal, page: PageParams, *, community_prefix: str | None
) -> tuple[list[Team], str | None]:
    stmt = select(Team).where(await _teams_visible(session, principal))
    if community_prefix:
        stmt = stmt.where(prefix_clause(Team.community_code, community_prefix))
    return await paginate(session, stmt, [Team.id], page)


async def party_team(session: AsyncSession, community: str) -> Team | None:
    return await session.scalar(
        select(Team).where(Team.community_code == community, Team.kind == "party_member")
    )


async def insert_party_team(session: AsyncSession, community: str, name: str) -> str | None:
    """The community's party-member team, made unless it exists: one INSERT that does
    nothing against the unique index when another request made it first (on PostgreSQL it
    waits for that one's commit). The new team's id, or None when it was there."""
    stmt = (
        _upsert(session)(Team)
        .values(
            id=new_id(),
            community_code=community,
            name=name,
            kind="party_member",
            joining="invited",
            created_at=clock.now(),
        )
        .on_conflict_do_nothing()
        .returning(Team.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def communities_with_party_team(session: AsyncSession, codes: list[str]) -> set[str]:
    rows = await session.scalars(
        select(Team.community_code).where(
            Team.community_code.in_(codes), Team.kind == "party_member"
        )
    )
    return set(rows.all())


async def communities_in_view(
    session: AsyncSession, principal: Principal, community: str | None
) -> list[str]:
    """The communities whose teams a listing shows the caller, among ``community`` (a
    12-digit code) or, without it, the communities the caller belongs to: staff, the
    community-level codes of their scope; a volunteer, their own community while active.
    (A wider scope's communities are the registry's to list.)"""
    if principal.unrestricted or _staff(principal):
        wanted = [community] if community else [c for c in principal.scope if len(c) == 12]
        return [c for c in wanted if len(significant_prefix(c)) == 12 and principal.reaches(c)]
    mine = await volunteer_of_user(session, principal.user_id)
    if mine is None or mine.status != "active":
        return []
    return [mine.community_code] if community in (None, mine.community_code) else []


async def team_members(session: AsyncSession, team_id: str) -> list[TeamMember]:
    return list(
        (await session.scalars(select(TeamMember).where(TeamMember.team_id == team_id))).all()
    )


async def team_member_names(session: AsyncSession, team_id: str) -> list[tuple[str, str]]:
    """(volunteer id, name) of each member of the team."""
    rows = await session.execute(
        select(TeamMember.volunteer_id, Volunteer.name)
        .join(Volunteer, Volunteer.id == TeamMember.volunteer_id)
        .where(TeamMember.team_id == team_id)
    )
    return [(vid, name) for vid, name in rows.all()]


async def add_team_member(session: AsyncSession, team_id: str, volunteer_id: str) -> None:
    """Joining twice, or twice at once, is one membership."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(TeamMember)
        .values(team_id=team_id, volunteer_id=volunteer_id, joined_at=clock.now())
        .on_conflict_do_nothing()
    )


async def remove_team_member(session: AsyncSession, team_id: str, volunteer_id: str) -> None:
    await session.execute(
        delete(TeamMember).where(
            TeamMember.team_id == team_id, TeamMember.volunteer_id == volunteer_id
        )
    )


async def teams_of(session: AsyncSession, volunteer_id: str) -> list[Team]:
    stmt = (
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.volunteer_id == volunteer_id)
        .order_by(Team.name, Team.id)
    )
    return list((await session.scalars(stmt)).all())


async def member_counts(session: AsyncSession, team_ids: list[str]) -> dict[str, int]:
    if not team_ids:
        return {}
    rows = await session.execute(
        select(TeamMember.team_id, func.count())
        .where(TeamMember.team_id.in_(team_ids))
        .group_by(TeamMember.team_id)
    )
    return dict(rows.all())


# --- activities and sign-ups ---------------------------------------------------------------


async def _activities_visible(session: AsyncSession, principal: Principal) -> ColumnElement[bool]:
    public = Activity.status.in_(PUBLIC_ACTIVITY)
    if principal.unrestricted:
        return true()
    staff = scope_clause(Activity.community_code, principal) if _staff(principal) else false()
    mine = await volunteer_of_user(session, principal.user_id)
    signed = (
        Activity.id.in_(select(Signup.activity_id).where(Signup.volunteer_id == mine.id))
        if mine is not None
        else false()
    )
    return or_(public, staff, signed)


async def activity(
    session: AsyncSession, principal: Principal, activity_id: str
) -> Activity | None:
    """An activity the caller may read (see the rules above)."""
    visible = await _activities_visible(session, principal)
    return await session.scalar(select(Activity).where(Activity.id == activity_id, visible))


async def managed_activity(
    session: AsyncSession, principal: Principal, activity_id: str
) -> Activity | None:
    """An activity the caller organises: within their staff scope."""
    found = await session.get(Activity, activity_id)
    if found is None or not principal.reaches(found.community_code):
        return None
    return found


async def list_activities(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    community_prefix: str | None,
    open_after=None,
) -> tuple[list[Activity], str | None]:
    stmt = select(Activity).where(await _activities_visible(session, principal))
    if community_prefix:
        stmt = stmt.where(prefix_clause(Activity.community_code, community_prefix))
    if open_after is not None:
        stmt = stmt.where(Activity.end_at > open_after, Activity.status == "published")
    return await paginate(session, stmt, [Activity.id], page)


async def nearby_activities(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    lat: float,
    lng: float,
    radius_m: float,
    open_after,
) -> tuple[list[Activity], str | None]:
    """Published activities still to come within ``radius_m`` of a WGS-84 point, nearest
    first; the cursor is the last one's nearness and id."""
    near = nearness(Activity.lat, Activity.lng, lat, lng)
    south, north, west, east = box_around(lat, lng, radius_m)
    stmt = select(Activity).where(
        await _activities_visible(session, principal),
        Activity.status == "published",
        Activity.end_at > open_after,
        Activity.lat.between(south, north),
        Activity.lng.between(west, east),
        near <= nearness_bound(radius_m),
    )
    key = [type_coerce(near, Float), Activity.id]
    if page.cursor:
        after = decode_cursor(page.cursor, key)
        stmt = stmt.where(tuple_(*key) > tuple_(*after))
    stmt = stmt.add_columns(near).order_by(*key).limit(page.limit + 1)
    rows = (await session.execute(stmt)).all()
    items = [activity for activity, _ in rows[: page.limit]]
    if len(rows) <= page.limit:
        return items, None
    last_nearness = rows[page.limit - 1][1]
    return items, encode_cursor([last_nearness, items[-1].id])


async def signed_up_users(session: AsyncSession, activity_id: str) -> list[str]:
    """The accounts of everyone confirmed or waiting for an activity."""
    stmt = (
        select(Volunteer.user_id)
        .join(Signup, Signup.volunteer_id == Volunteer.id)
        .where(Signup.activity_id == activity_id, Signup.status.in_(LIVE))
        .order_by(Volunteer.user_id)
    )
    return list((await session.scalars(stmt)).all())


async def waitlist_lengths(session: AsyncSession, activity_ids: list[str]) -> dict[str, int]:
    if not activity_ids:
        return {}
    rows = await session.execute(
        select(Signup.activity_id, func.count())
        .where(Signup.activity_id.in_(activity_ids), Signup.status == "waitlisted")
        .group_by(Signup.activity_id)
    )
    return dict(rows.all())


async def overlapping_signup(
    session: AsyncSession, volunteer_id: str, activity: Activity
) -> str | None:
    return await session.scalar(
        select(Signup.activity_id).where(
            Signup.volunteer_id == volunteer_id,
            Signup.status.in_(LIVE),
            Signup.start_at < activity.end_at,
            Signup.end_at > activity.start_at,
        )
    )


async def lock_activity(session: AsyncSession, activity_id: str) -> Activity | None:
    """The activity row under its lock, as committed now: a cancellation, a sign-up and the
    closing of one activity then run one after another, each seeing what the one before
    wrote. (On SQLite the write transaction already holds the database.)"""
    return await session.scalar(
        select(Activity)
        .where(Activity.id == activity_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def take_arrival_position(session: AsyncSession, activity_id: str) -> int:
    """Arrival order: the activity row's counter, taken under its row lock (held to the
    end of the transaction, so a cancellation waits for this sign-up to be visible)."""
    return (
        await session.execute(
            update(Activity)
            .where(Activity.id == activity_id)
            .values(arrivals=Activity.arrivals + 1)
            .returning(Activity.arrivals)
        )
    ).scalar_one()


async def take_place(session: AsyncSession, activity_id: str) -> bool:
    """One place, if one is left: a single conditional UPDATE, so that no interleaving of
    requests can exceed the capacity."""
    taken = await session.execute(
        update(Activity)
        .where(Activity.id == activity_id, Activity.confirmed < Activity.capacity)
        .values(confirmed=Activity.confirmed + 1)
    )
    return taken.rowcount == 1


async def release_place(session: AsyncSession, activity_id: str) -> None:
    await session.execute(
        update(Activity).where(Activity.id == activity_id).values(confirmed=Activity.confirmed - 1)
    )


async def live_signup(session: AsyncSession, activity_id: str, volunteer_id: str) -> Signup | None:
    return await session.scalar(
        select(Signup).where(
            Signup.activity_id == activity_id,
            Signup.volunteer_id == volunteer_id,
            Signup.status.in_(LIVE),
        )
    )


async def confirmed_signup(
    session: AsyncSession, activity_id: str, volunteer_id: str, *, lock: bool = False
) -> Signup | None:
    """With ``lock``: under the sign-up row's lock, as committed now (two taps of check-out
    at once, or a check-out during the closing, then run one after the other)."""
    stmt = select(Signup).where(
        Signup.activity_id == activity_id,
        Signup.volunteer_id == volunteer_id,
        Signup.status == "confirmed",
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def activity_status(session: AsyncSession, activity_id: str) -> str:
    """The activity's status as committed now (not as the session first read it)."""
    return await session.scalar(select(Activity.status).where(Activity.id == activity_id))


async def future_live_signups(session: AsyncSession, volunteer_id: str, now) -> list[Signup]:
    """The volunteer's places and waitlist entries on activities that have not begun, in
    the order of their activities' ids (the order their row locks are taken in)."""
    rows = await session.scalars(
        select(Signup)
        .where(
            Signup.volunteer_id == volunteer_id,
            Signup.status.in_(LIVE),
            Signup.start_at > now,
        )
        .order_by(Signup.activity_id)
    )
    return list(rows.all())


async def user_of_signup(session: AsyncSession, signup_id: str) -> str:
    return await session.scalar(
        select(Volunteer.user_id)
        .join(Signup, Signup.volunteer_id == Volunteer.id)
        .where(Signup.id == signup_id)
    )


async def move_signups(session: AsyncSession, activity_id: str, start_at, end_at) -> None:
    """Sign-ups carry their activity's times (overlap checks read one table)."""
    await session.execute(
        update(Signup)
        .where(Signup.activity_id == activity_id)
        .values(start_at=start_at, end_at=end_at)
    )


async def set_signup_status(
    session: AsyncSession, signup: Signup, status: str, **values: Any
) -> bool:
    """Move a sign-up on from the status it was read in; False if someone else did first."""
    claimed = await session.execute(
        update(Signup)
        .where(Signup.id == signup.id, Signup.status == signup.status)
        .values(status=status, **values)
    )
    return claimed.rowcount == 1


async def waitlist_head(session: AsyncSession, activity_id: str) -> str | None:
    stmt = (
        select(Signup.id)
        .where(Signup.activity_id == activity_id, Signup.status == "waitlisted")
        .order_by(Signup.position)
        .limit(1)
    )
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return await session.scalar(stmt)


async def confirm_signup(session: AsyncSession, signup_id: str) -> None:
    await session.execute(update(Signup).where(Signup.id == signup_id).values(status="confirmed"))


async def waitlist_rank(session: AsyncSession, activity_id: str, position: int) -> int:
    return await session.scalar(
        select(func.count()).where(
            Signup.activity_id == activity_id,
            Signup.status == "waitlisted",
            Signup.position <= position,
        )
    )


async def list_signups(
    session: AsyncSession, activity_id: str, page: PageParams
) -> tuple[list[tuple[Signup, str, str, str]], str | None]:
    """The caller has been checked to manage the activity. Each sign-up with its
    volunteer's name, number and masked phone, for the roll call, in the same query."""
    stmt = (
        select(Signup, Volunteer.name, Volunteer.number, Volunteer.phone_masked)
        .join(Volunteer, Volunteer.id == Signup.volunteer_id)
        .where(Signup.activity_id == activity_id)
    )
    return await paginate(session, stmt, [Signup.position, Signup.id], page, rows=True)


async def confirmed_signups(session: AsyncSession, activity_id: str) -> list[Signup]:
    """Under their row locks, as committed now: a check-out still running is waited for."""
    rows = await session.scalars(
        select(Signup)
        .where(Signup.activity_id == activity_id, Signup.status == "confirmed")
        .order_by(Signup.position)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


# --- the hours ledger ----------------------------------------------------------------------


async def approved_hours_on(session: AsyncSession, volunteer_id: str, day: date) -> Decimal:
    total = await session.scalar(
        select(func.coalesce(func.sum(HoursEntry.hours), 0)).where(
            HoursEntry.volunteer_id == volunteer_id,
            HoursEntry.service_date == day,
            HoursEntry.status == "approved",
        )
    )
    return Decimal(total or 0)


async def total_hours(session: AsyncSession, volunteer_id: str) -> Decimal:
    total = await session.scalar(
        select(func.coalesce(func.sum(HoursEntry.hours), 0)).where(
            HoursEntry.volunteer_id == volunteer_id, HoursEntry.status == "approved"
        )
    )
    return Decimal(total or 0).quantize(Decimal("0.01"))


async def hours_entry(
    session: AsyncSession, principal: Principal, entry_id: str
) -> HoursEntry | None:
    found = await session.get(HoursEntry, entry_id)
    if found is None or not principal.reaches(found.community_code):
        return None
    return found


async def ledger_page(
    session: AsyncSession, volunteer_id: str, page: PageParams
) -> tuple[list[HoursEntry], str | None]:
    stmt = select(HoursEntry).where(HoursEntry.volunteer_id == volunteer_id)
    return await paginate(session, stmt, [HoursEntry.id], page, descending=True)


# --- figures -------------------------------------------------------------------------------


async def registration_counts(
    session: AsyncSession, prefix: str, served_since: date
) -> dict[str, tuple[int, int]]:
    """Per community under ``prefix``: active volunteers (each person once: one record per
    ID number) and those of them who served since ``served_since``. One pass along the
    (status, community, last served) index, grouped by the community as the index orders it
    (a group by a part of the code sorted every volunteer)."""
    rows = await session.execute(
        select(
            Volunteer.community_code,
            func.count(),
            func.count().filter(Volunteer.last_served_on >= served_since),
        )
        .where(Volunteer.status == "active", prefix_clause(Volunteer.community_code, prefix))
        .group_by(Volunteer.community_code)
    )
    return {community: (n, active) for community, n, active in rows}


async def mark_served(session: AsyncSession, volunteer_id: str, day: date) -> None:
    """Approved hours that served on ``day``: the volunteer's last day of service moves on to
    it (never back: an older line approved later leaves a newer day as it is). One
    conditional UPDATE, so approvals racing each other keep the latest."""
    later = or_(Volunteer.last_served_on.is_(None), Volunteer.last_served_on < day)
    await session.execute(
        update(Volunteer)
        .where(Volunteer.id == volunteer_id, later)
        .values(last_served_on=day)
        .execution_options(synchronize_session=False)
    )


async def reported_party_members(
    session: AsyncSession, prefix: str
) -> list[tuple[str | None, str, int, Decimal]]:
    """(employer unit, community, members who reported, their approved hours)."""
    hours = (
        select(HoursEntry.volunteer_id, func.sum(HoursEntry.hours).label("h"))
        .where(HoursEntry.status == "approved")
        .group_by(HoursEntry.volunteer_id)
        .subquery()
    )
    stmt = (
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
        .group_by(Volunteer.employer_unit_id, Volunteer.community_code)
    )
    return [(u, c, n, Decimal(h or 0)) for u, c, n, h in await session.execute(stmt)]


async def party_reports(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    community_prefix: str | None,
) -> tuple[list[Volunteer], str | None]:
    """In-service party members who reported to a community (在职党员报到), within the
    caller's scope, most recent report first."""
    stmt = select(Volunteer).where(
        volunteers_in_scope(principal),
        # A unit's contact: their own unit's members only.
        true()
        if principal.has("volunteer:read")
        else Volunteer.employer_unit_id == principal.unit_id,
        Volunteer.in_service_party_member.is_(True),
        Volunteer.party_reported_on.is_not(None),
        Volunteer.status == "active",
    )
    if community_prefix:
        stmt = stmt.where(prefix_clause(Volunteer.community_code, community_prefix))
    return await paginate(
        session, stmt, [Volunteer.party_reported_on, Volunteer.id], page, descending=True
    )


async def hours_in_own_community(
    session: AsyncSession, volunteers: list[Volunteer]
) -> dict[str, Decimal]:
    """Approved hours each volunteer served in the community they belong to, in one query."""
    if not volunteers:
        return {}
    rows = await session.execute(
        select(HoursEntry.volunteer_id, func.sum(HoursEntry.hours))
        .join(Volunteer, Volunteer.id == HoursEntry.volunteer_id)
        .where(
            HoursEntry.volunteer_id.in_([v.id for v in volunteers]),
            HoursEntry.status == "approved",
            HoursEntry.community_code == Volunteer.community_code,
        )
        .group_by(HoursEntry.volunteer_id)
    )
    return {vid: Decimal(total or 0) for vid, total in rows.all()}


async def deactivate_moved_out(session: AsyncSession, resident_id: str, now) -> None:
    """A volunteer matched to a resident who moved out goes back to review."""
    await session.execute(
        update(Volunteer)
        .where(Volunteer.resident_id == resident_id, Volunteer.status == "active")
        .values(status="pending", resident_id=None, updated_at=now)
    )


# --- change history: read through the record it belongs to (services.common.history) -------


async def history(
    session: AsyncSession, record_type: str, record_id: str, params: PageParams
) -> tuple[list[Any], str | None]:
    return await history_page(
        session, change_history, record_type=record_type, record_id=record_id, page=params
    )


async def pending_hours_of(session: AsyncSession, activity_id: str) -> int:
    """Entries of an activity still waiting for a person's approval."""
    stmt = select(func.count()).where(
        HoursEntry.activity_id == activity_id, HoursEntry.status == "pending"
    )
    return await session.scalar(stmt) or 0
