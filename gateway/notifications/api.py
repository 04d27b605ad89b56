"""``/api/v1/notifications``: the caller's inbox, read marks, and what they let WeChat
bring them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from gateway.notifications import repository, service
from gateway.notifications.schemas import (
    DeliveryOut,
    NotificationOut,
    NotificationPage,
    SubscriptionOut,
    SubscriptionResults,
    UnreadOut,
)
from services.common.auth import PrincipalDep
from services.common.database import SessionDep, TransactionalRoute
from services.common.pagination import PageParams, page_params

router = APIRouter(
    prefix="/api/v1/notifications", route_class=TransactionalRoute, tags=["notifications"]
)
Paging = Annotated[PageParams, Depends(page_params)]


def notification_out(row, deliveries=()) -> NotificationOut:
    return NotificationOut(
        id=row.id,
        kind=row.kind,
        kind_name=service.KINDS.get(row.kind, row.kind),
        title=row.title,
        body=row.body,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        link=row.link,
        created_at=row.created_at,
        read_at=row.read_at,
        settled_at=row.settled_at,
        deliveries=[DeliveryOut.model_validate(d, from_attributes=True) for d in deliveries],
    )


@router.get("")
async def list_notifications(
    session: SessionDep,
    principal: PrincipalDep,
    page: Paging,
    unread: bool = Query(default=False, description="only those not read yet"),
) -> NotificationPage:
    """Newest first, with the number still unread and what was sent to WeChat."""
    rows, cursor, count, deliveries = await service.inbox(
        session, user_id=principal.user_id, page=page, unread=unread
    )
    return NotificationPage(
        items=[notification_out(r, deliveries.get(r.id, [])) for r in rows],
        next_cursor=cursor,
        unread=count,
    )


@router.get("/unread-count")
async def unread_count(session: SessionDep, principal: PrincipalDep) -> UnreadOut:
    return UnreadOut(unread=await repository.unread_count(session, principal.user_id))


@router.post("/read-all")
async def read_all(session: SessionDep, principal: PrincipalDep) -> UnreadOut:
    await service.mark_all_read(session, user_id=principal.user_id)
    return UnreadOut(unread=0)


@router.post("/{notification_id}/read")
async def read_one(
    notification_id: str, session: SessionDep, principal: PrincipalDep
) -> NotificationOut:
    row = await service.mark_read(
        session, user_id=principal.user_id, notification_id=notification_id
    )
    return notification_out(row)


@router.get("/subscriptions")
async def subscriptions(
    request: Request, session: SessionDep, principal: PrincipalDep
) -> list[SubscriptionOut]:
    """Every kind of message, its template, and what the caller allowed of it."""
    settings = request.app.state.settings
    chosen = {s.kind: s for s in await repository.subscriptions_of(session, principal.user_id)}
    out = []
    for kind, name in service.KINDS.items():
        choice = chosen.get(kind)
        out.append(
            SubscriptionOut(
                kind=kind,
                kind_name=name,
                template_id=service.templates(settings).get(kind),
                long_term=bool(choice and choice.long_term),
                remaining=choice.remaining if choice else 0,
                refused=bool(choice and choice.refused),
            )
        )
    return out


@router.post("/subscriptions")
async def record_subscriptions(
    body: SubscriptionResults, request: Request, session: SessionDep, principal: PrincipalDep
) -> list[SubscriptionOut]:
    """Hand on what ``wx.requestSubscribeMessage`` answered: each accepted one-time template
    allows one message of its kind, a long-term one all of them; a refusal stops them."""
    await service.record_subscriptions(
        session,
        settings=request.app.state.settings,
        user_id=principal.user_id,
        results=body.results,
    )
    return await subscriptions(request, session, principal)
