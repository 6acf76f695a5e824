"""several processes: messages journaled before they are handled, in the channel's order, and
replies sent under a lease, upkeep done by one process at a time, one budget of sends per
channel

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.vault import Sealed

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_message") as batch:
        batch.add_column(sa.Column("sequence", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("message", Sealed("inbound_message.message"),
                                   nullable=True))
        batch.add_column(sa.Column("handled", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_holder", sa.String(length=60), nullable=True))
    op.create_index("ix_inbound_message_unhandled", "inbound_message", ["handled", "chat_key"])
    op.create_table(
        "job_lease",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=40), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "send_budget",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.create_table(
        "send_pace",
        sa.Column("chat_key", sa.String(length=100), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("chat_key"),
    )
    op.create_index("ix_send_pace_next_at", "send_pace", ["next_at"])


def downgrade() -> None:
    op.drop_table("send_pace")
    op.drop_table("send_budget")
    op.drop_table("job_lease")
    op.drop_index("ix_inbound_message_unhandled", "inbound_message")
    with op.batch_alter_table("inbound_message") as batch:
        for column in ("lease_holder", "lease_until", "handled", "message", "sequence"):
            batch.drop_column(column)
