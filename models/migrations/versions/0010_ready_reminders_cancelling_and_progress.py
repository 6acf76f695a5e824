"""ready reminders, self-scheduled reminders, cancelling, progress shown to staff

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.alter_column("text_id", existing_type=sa.Text(), nullable=True)
        batch_op.add_column(sa.Column("reminder", sqlmodel.sql.sqltypes.AutoString(length=40),
                                      nullable=True))
        batch_op.add_column(sa.Column("progress_chat",
                                      sqlmodel.sql.sqltypes.AutoString(length=100),
                                      nullable=True))
        batch_op.add_column(sa.Column("progress_locale",
                                      sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True))
        batch_op.add_column(sa.Column("progress_message",
                                      sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
        batch_op.add_column(sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("progress_final", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("broadcast_recipient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=20),
                                      nullable=False, server_default=""))
        batch_op.add_column(sa.Column("params", sa.Text(), nullable=True))
        batch_op.drop_constraint("uq_broadcast_recipient_chat", type_="unique")
        batch_op.create_unique_constraint("uq_broadcast_recipient_chat",
                                          ["broadcast_id", "chat_key", "subject"])
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE claim SET changed_at = COALESCE(complete_at, created_at)")
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("cycle", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("occasion", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcast.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject", "cycle", "occasion",
                            name="uq_reminder_occasion"),
    )
    op.create_index(op.f("ix_reminder_broadcast_id"), "reminder", ["broadcast_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reminder_broadcast_id"), table_name="reminder")
    op.drop_table("reminder")
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_column("changed_at")
    with op.batch_alter_table("broadcast_recipient", schema=None) as batch_op:
        batch_op.drop_constraint("uq_broadcast_recipient_chat", type_="unique")
        batch_op.create_unique_constraint("uq_broadcast_recipient_chat",
                                          ["broadcast_id", "chat_key"])
        batch_op.drop_column("params")
        batch_op.drop_column("subject")
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_column("progress_final")
        batch_op.drop_column("progress_at")
        batch_op.drop_column("progress_message")
        batch_op.drop_column("progress_locale")
        batch_op.drop_column("progress_chat")
        batch_op.drop_column("reminder")
        batch_op.alter_column("text_id", existing_type=sa.Text(), nullable=False)
