"""the staff console: one-time sign-in links, browser sessions, roles and Telegram usernames

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tokens(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(f"ix_{name}_staff_id", name, ["staff_id"])


def upgrade() -> None:
    op.add_column("staff", sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64),
                                     nullable=True))
    _tokens("console_link",
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("used_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_console_link_expires_at", "console_link", ["expires_at"])
    _tokens("console_session",
            sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False))
    op.create_index("ix_console_session_last_seen_at", "console_session", ["last_seen_at"])


def downgrade() -> None:
    for name in ("console_session", "console_link"):
        op.drop_table(name)
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("username")
