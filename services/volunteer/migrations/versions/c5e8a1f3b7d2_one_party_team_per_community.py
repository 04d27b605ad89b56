"""one party-member team per community

Revision ID: c5e8a1f3b7d2
Revises: 3b9d7e2f4a18
Create Date: 2026-12-04 10:00:00.000000

The party-member team was made on the first in-service party member's registration, with
nothing to stop two first registrations at once from making two. A community's second
(and later) party-member teams are merged into its first: their members join it (once),
their activities point to it; then a unique index keeps it one.
"""

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5e8a1f3b7d2"
down_revision: str | Sequence[str] | None = "3b9d7e2f4a18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

teams = sa.table("teams", sa.column("id"), sa.column("community_code"), sa.column("kind"))
members = sa.table("team_members", sa.column("team_id"), sa.column("volunteer_id"))
activities = sa.table("activities", sa.column("team_id"))


def _merge_duplicates(conn) -> None:
    rows = conn.execute(
        sa.select(teams.c.community_code, teams.c.id)
        .where(teams.c.kind == "party_member")
        .order_by(teams.c.community_code, teams.c.id)  # ids are time-sortable: first made first
    ).all()
    by_community: dict[str, list[str]] = defaultdict(list)
    for community, team_id in rows:
        by_community[community].append(team_id)
    for keeper, *others in by_community.values():
        if not others:
            continue
        kept = set(
            conn.execute(
                sa.select(members.c.volunteer_id).where(members.c.team_id == keeper)
            ).scalars()
        )
        for other in others:
            for volunteer_id in conn.execute(
                sa.select(members.c.volunteer_id).where(members.c.team_id == other)
            ).scalars():
                if volunteer_id not in kept:
                    conn.execute(
                        members.update()
                        .where(members.c.team_id == other, members.c.volunteer_id == volunteer_id)
                        .values(team_id=keeper)
                    )
                    kept.add(volunteer_id)
            conn.execute(members.delete().where(members.c.team_id == other))
            conn.execute(
                activities.update().where(activities.c.team_id == other).values(team_id=keeper)
            )
            conn.execute(teams.delete().where(teams.c.id == other))


def upgrade() -> None:
    _merge_duplicates(op.get_bind())
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_index(
            "uq_teams_party_member",
            ["community_code"],
            unique=True,
            sqlite_where=sa.text("kind = 'party_member'"),
            postgresql_where=sa.text("kind = 'party_member'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_teams_party_member",
            sqlite_where=sa.text("kind = 'party_member'"),
            postgresql_where=sa.text("kind = 'party_member'"),
        )
