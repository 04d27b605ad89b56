"""Deadline reminders: whoever answers for a case's step is told an hour before its
deadline and again once it has passed (event ``grid.case_due``, the gateway's inbox)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.common.clock import clock
from services.common.events import emit, publish_after_commit
from services.common.settings import Settings
from services.grid import repository
from services.grid.models import outbox

log = logging.getLogger("gongjian.grid")


async def remind_due(app_state) -> int:
    """One sweep: every open case whose deadline is within ``grid_due_soon_min`` or passed,
    told once per deadline. Answers how many reminders went out."""
    settings: Settings = app_state.settings
    now = clock.now()
    soon = now + timedelta(minutes=settings.grid_due_soon_min)
    told = 0
    async with app_state.database.transaction() as session:
        for case in await repository.cases_to_remind(session, now, soon):
            which = "overdue" if case.deadline_at <= now else "due_soon"
            if not await repository.claim_reminder(session, case, which):
                continue
            category = await repository.category(session, case.category_code)
            await emit(
                session,
                outbox,
                "grid.case_due",
                {
                    "case_id": case.id,
                    "which": which,
                    "step": case.step,
                    "cell_code": case.cell_code,
                    "unit_id": case.dispatched_unit_id,
                    "assignee_id": case.assignee_id,
                    "category_name": category.name if category else None,
                    "deadline_at": case.deadline_at.isoformat(),
                },
            )
            told += 1
    await publish_after_commit(app_state, session)
    return told


def start_reminders(app_state) -> asyncio.Task:
    async def loop() -> None:
        while True:
            await asyncio.sleep(app_state.settings.grid_reminder_interval_s)
            try:
                await remind_due(app_state)
            except Exception:
                log.exception("case reminders")

    return asyncio.create_task(loop())
