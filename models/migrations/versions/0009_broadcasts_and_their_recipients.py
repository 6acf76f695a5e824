"""broadcasts and their recipients

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("text_id", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_broadcast_status"), "broadcast", ["status"], unique=False)
    op.create_table(
        "broadcast_recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("chat_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcast.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("broadcast_id", "chat_key", name="uq_broadcast_recipient_chat"),
    )
    op.create_index(op.f("ix_broadcast_recipient_broadcast_id"), "broadcast_recipient",
                    ["broadcast_id"], unique=False)
    op.create_index("ix_broadcast_recipient_state", "broadcast_recipient",
                    ["state", "lease_until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_broadcast_recipient_state", table_name="broadcast_recipient")
    op.drop_index(op.f("ix_broadcast_recipient_broadcast_id"), table_name="broadcast_recipient")
    op.drop_table("broadcast_recipient")
    op.drop_index(op.f("ix_broadcast_status"), table_name="broadcast")
    op.drop_table("broadcast")
