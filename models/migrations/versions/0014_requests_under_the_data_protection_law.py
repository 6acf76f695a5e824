"""requests under the personal data protection law (see, copy, correct, erase)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int):
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "rights_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", _text(20), nullable=False),
        sa.Column("subject", _text(20), nullable=False),
        sa.Column("kind", _text(10), nullable=False),
        sa.Column("state", _text(10), nullable=False),
        sa.Column("field", _text(20), nullable=True),
        sa.Column("value", _text(80), nullable=True),
        sa.Column("document_path", _text(200), nullable=True),
        sa.Column("document_sha256", _text(64), nullable=True),
        sa.Column("document_mime", _text(60), nullable=True),
        sa.Column("document_size", sa.BigInteger(), nullable=True),
        sa.Column("chat_key", _text(100), nullable=True),
        sa.Column("channel", _text(20), nullable=False),
        sa.Column("locale", _text(5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", _text(100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_rights_request_subject", "rights_request", ["subject"])
    op.create_index("ix_rights_request_open", "rights_request", ["state", "deadline"])


def downgrade() -> None:
    op.drop_index("ix_rights_request_open", table_name="rights_request")
    op.drop_index("ix_rights_request_subject", table_name="rights_request")
    op.drop_table("rights_request")
