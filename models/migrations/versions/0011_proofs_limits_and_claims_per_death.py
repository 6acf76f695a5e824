"""proof requests, limits kept in the database, several reports of one death

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
"""Names SQLite's unnamed unique constraints are given while the claim table is rebuilt."""


def unique_name() -> str:
    """The name of the unique constraint on ``claim.deceased_nik``: PostgreSQL's own, or on
    SQLite the one ``NAMES`` gives it (and ``downgrade`` too)."""
    return "uq_claim_deceased_nik" if op.get_bind().dialect.name == "sqlite" \
        else "claim_deceased_nik_key"


def upgrade() -> None:
    op.create_table(
        "limit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_limit_event_at"), "limit_event", ["at"], unique=False)
    op.create_index("ix_limit_event_key", "limit_event", ["key_hash", "kind", "at"],
                    unique=False)
    op.create_table(
        "proof_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("chat_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_proof_request_chat", "proof_request", ["chat_key", "purpose", "state"],
                    unique=False)
    op.create_index(op.f("ix_proof_request_state"), "proof_request", ["state"], unique=False)
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("claim", naming_convention=NAMES if sqlite else None) as batch_op:
        batch_op.drop_constraint(unique_name(), type_="unique")
        batch_op.create_index(batch_op.f("ix_claim_deceased_nik"), ["deceased_nik"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_claim_worker_reference"), ["worker_reference"],
                              unique=False)
    op.create_index(op.f("ix_claim_document_path"), "claim_document", ["path"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_claim_document_path"), table_name="claim_document")
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_worker_reference"))
        batch_op.drop_index(batch_op.f("ix_claim_deceased_nik"))
        batch_op.create_unique_constraint(unique_name(), ["deceased_nik"])
    op.drop_index(op.f("ix_proof_request_state"), table_name="proof_request")
    op.drop_index("ix_proof_request_chat", table_name="proof_request")
    op.drop_table("proof_request")
    op.drop_index("ix_limit_event_key", table_name="limit_event")
    op.drop_index(op.f("ix_limit_event_at"), table_name="limit_event")
    op.drop_table("limit_event")
