"""Model-community applications 示范社区申报: community submits with its score for the year,
the street recommends or rejects, the district approves or rejects; every step is kept."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import repository, rules
from services.assessment.models import Application, ApplicationEvent, outbox
from services.assessment.schemas import (
    ApplicationEventOut,
    ApplicationIn,
    ApplicationOut,
    CommunityScore,
)
from services.assessment.service import history
from services.assessment.service.scores import compute_scores
from services.common.auth import Principal
from services.common.errors import Conflict, Forbidden, NotFound
from services.common.events import emit, settle_notices
from services.common.ids import new_id
from services.common.pagination import PageParams
from services.common.periods import parse_period
from services.common.uploads import attach_uploads


async def submit_application(
    *, session: AsyncSession, principal: Principal, peers, data: ApplicationIn
) -> Application:
    level = rules.level_of(principal.scope, principal.unrestricted, data.community_code)
    if level is None:
        raise NotFound()
    if level != "community" or not principal.has("assessment:submit"):
        raise Forbidden("application.wrong_level")
    open_one = await repository.open_application(
        session=session, community=data.community_code, year=data.year
    )
    if open_one is not None:
        raise Conflict("application.open_exists", extra={"application_id": open_one})
    approved = await repository.approved_application(
        session=session, community=data.community_code, year=data.year
    )
    if approved is not None:
        raise Conflict("application.approved_exists", extra={"application_id": approved})
    await attach_uploads(
        session=session,
        outbox=outbox,
        peers=peers,
        principal=principal,
        file_ids=data.attachments,
        field="attachments",
        area=data.community_code,
    )
    period = parse_period(str(data.year))
    rows = await compute_scores(
        session=session, principal=principal, peers=peers, area=data.community_code, period=period
    )
    application = Application(
        id=new_id(),
        community_code=data.community_code,
        year=data.year,
        status="submitted",
        statement=data.statement,
        attachments=data.attachments,
        score=rows[0] if rows else {},
        created_by=principal.user_id,
    )
    submitted = ApplicationEvent(
        id=new_id(),
        application_id=application.id,
        action="submit",
        from_status=None,
        to_status="submitted",
        actor_id=principal.user_id,
        actor_name=principal.name,
    )
    if not await repository.add_application(session=session, rows=[application, submitted]):
        # Another one was sent at the same moment and got in first.
        raise Conflict(
            "application.open_exists",
            extra={
                "application_id": await repository.open_application(
                    session=session, community=data.community_code, year=data.year
                )
            },
        )
    await history.changed(session, principal, "application", application, "submitted")
    await tell_next_step(session, application)
    return application


async def tell_next_step(session: AsyncSession, application: Application) -> None:
    """Whoever acts next (the street, the district) or the community, once it is decided,
    is told (event ``assessment.application_step``)."""
    await emit(
        session,
        outbox,
        "assessment.application_step",
        {
            "application_id": application.id,
            "community_code": application.community_code,
            "community_name": (application.score or {}).get("name"),
            "year": application.year,
            "status": application.status,
        },
    )


async def step_application(
    *,
    session: AsyncSession,
    principal: Principal,
    application_id: str,
    action: str,
    note: str | None,
) -> Application:
    """Street recommends or rejects a submitted one; district approves or rejects a
    recommended one. Each step only at its level (by the caller's scope) and by an account
    of that level (``assessment:recommend`` a street's, ``assessment:approve`` a
    district's)."""
    application = await get_application(
        session=session, principal=principal, application_id=application_id
    )
    level = rules.level_of(principal.scope, principal.unrestricted, application.community_code)
    expected, permission, allowed = rules.APPLICATION_STEPS.get(application.status, (None, "", ()))
    if action not in allowed:
        raise Conflict(
            "application.illegal_step",
            extra={
                "allowed": list(allowed),
                "allowed_names": [rules.APPLICATION_ACTION_NAMES[a] for a in allowed],
            },
            **step_names(action, application.status, allowed),
        )
    # The street's step by a street account, the district's by a district account: a scope
    # that reaches the district does not make a street office the district.
    if level != expected or not principal.has(permission):
        raise Forbidden("application.wrong_level")
    old = application.status
    was = history.snapshot("application", application)
    application.status = rules.APPLICATION_OUTCOME[action]
    step = ApplicationEvent(
        id=new_id(),
        application_id=application.id,
        action=action,
        from_status=old,
        to_status=application.status,
        actor_id=principal.user_id,
        actor_name=principal.name,
        note=note,
    )
    await repository.save(session=session, rows=[step])
    await history.changed(session, principal, "application", application, action, was)
    await settle_notices(
        session, outbox, "assessment", "application", application.id, "application_step"
    )
    await tell_next_step(session, application)
    return application


def step_names(action: str, status: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The step asked, the status and what may be done instead, for the sentence: codes for
    English, names for Chinese (as a case's illegal step says it)."""
    return {
        "action": action,
        "state": status,
        "allowed": ", ".join(allowed) or "none (the application is decided)",
        "action_zh": rules.name_of(rules.APPLICATION_ACTION_NAMES, action),
        "state_zh": rules.name_of(rules.APPLICATION_STATUS_NAMES, status),
        "allowed_zh": "、".join(rules.APPLICATION_ACTION_NAMES[a] for a in allowed)
        or "无(申请已办结)",
    }


async def get_application(
    *, session: AsyncSession, principal: Principal, application_id: str
) -> Application:
    application = await repository.application(
        session=session, principal=principal, application_id=application_id
    )
    if application is None:
        raise NotFound()
    return application


async def list_applications(
    *, session: AsyncSession, principal: Principal, page: PageParams, year: int | None
) -> tuple[list[Application], str | None]:
    return await repository.list_applications(
        session=session, principal=principal, page=page, year=year
    )


async def application_views(
    *, session: AsyncSession, applications: list[Application]
) -> list[ApplicationOut]:
    """Applications as the wire shows them, each with every step taken, read in one
    query."""
    histories = await repository.application_histories(
        session=session, application_ids=[a.id for a in applications]
    )
    return [
        ApplicationOut(
            id=a.id,
            community_code=a.community_code,
            year=a.year,
            status=a.status,
            statement=a.statement,
            attachments=a.attachments,
            score=CommunityScore.model_validate(a.score) if a.score else None,
            history=[
                ApplicationEventOut.model_validate(e, from_attributes=True) for e in histories[a.id]
            ],
        )
        for a in applications
    ]


async def application_view(*, session: AsyncSession, application: Application) -> ApplicationOut:
    return (await application_views(session=session, applications=[application]))[0]
