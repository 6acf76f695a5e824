"""memberships per programme cycle: a worker's cover year by year

The registrations holding cover (or that held it) get the membership of the year their cover
ends in, the name the shipped cycles have; ``source`` says they were made here.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int):
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker_reference", _text(20), nullable=False),
        sa.Column("programme_id", _text(40), nullable=False),
        sa.Column("cycle", _text(20), nullable=False),
        sa.Column("funder", _text(120), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("state", _text(20), nullable=False),
        sa.Column("source", _text(20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("worker_reference", "programme_id", "cycle",
                            name="uq_membership_cycle"),
    )
    op.create_index("ix_membership_worker_reference", "membership", ["worker_reference"])
    op.create_index("ix_membership_cycle_state", "membership", ["programme_id", "cycle", "state"])
    year = ("to_char(coverage_end, 'YYYY')" if op.get_bind().dialect.name == "postgresql"
            else "strftime('%Y', coverage_end)")
    op.execute(f"""
        INSERT INTO membership (worker_reference, programme_id, cycle, funder, starts_on,
                                ends_on, state, source, created_at, changed_at)
        SELECT reference, programme_id, {year}, NULL, coverage_start, coverage_end,
               CASE WHEN status IN ('ended', 'rejected') THEN 'ended' ELSE 'confirmed' END,
               'earlier', created_at, created_at
        FROM worker
        WHERE programme_id IS NOT NULL AND coverage_start IS NOT NULL
              AND coverage_end IS NOT NULL""")


def downgrade() -> None:
    op.drop_index("ix_membership_cycle_state", table_name="membership")
    op.drop_index("ix_membership_worker_reference", table_name="membership")
    op.drop_table("membership")
