"""notices held for the 24-hour window, and the free-text notices a template may replace

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("held", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    # Every message's transaction asks for its chat's held notices: by index.
    op.create_index("ix_outbox_held_chat_key", "outbox", ["held", "chat_key"])
    with op.batch_alter_table("outgoing_message") as batch:
        batch.add_column(sa.Column("fallback", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outgoing_message") as batch:
        batch.drop_column("fallback")
    op.drop_index("ix_outbox_held_chat_key", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("held")
