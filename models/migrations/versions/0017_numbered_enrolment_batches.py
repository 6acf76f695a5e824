"""numbered enrolment batches: each export to BPJS Ketenagakerjaan, and who it sent

Exports made before were not recorded: the first batch after this holds every enrolled worker
without a KPJ, as an export did before.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int):
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "enrolment_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", _text(40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", _text(100), nullable=False),
        sa.Column("file_name", _text(200), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("programme_id", "number", name="uq_enrolment_batch"),
    )
    op.create_table(
        "enrolment_batch_worker",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("worker_reference", _text(20), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["enrolment_batch.id"]),
        sa.PrimaryKeyConstraint("batch_id", "worker_reference"),
    )
    op.create_index("ix_enrolment_batch_worker_worker_reference", "enrolment_batch_worker",
                    ["worker_reference"])


def downgrade() -> None:
    op.drop_index("ix_enrolment_batch_worker_worker_reference",
                  table_name="enrolment_batch_worker")
    op.drop_table("enrolment_batch_worker")
    op.drop_table("enrolment_batch")
