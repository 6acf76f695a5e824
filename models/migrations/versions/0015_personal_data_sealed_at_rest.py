"""personal data sealed at rest: NIKs, birth dates, phones and accounts as sealed text, NIKs
found by blind indexes

The schema only; the values themselves are sealed batch by batch by ``models.seal`` (which
needs the data keys, kept outside the database), resumably, right after.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
"""Names SQLite's unnamed unique constraints are given while the worker table is rebuilt."""
WORKER = ("nik", "phone")
CLAIM = ("deceased_nik", "heir_nik", "heir_phone", "account_number", "guardian_nik")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    sqlite = _sqlite()
    with op.batch_alter_table("worker", naming_convention=NAMES if sqlite else None) as batch:
        batch.drop_constraint("uq_worker_nik" if sqlite else "worker_nik_key", type_="unique")
        for name in WORKER:
            batch.alter_column(name, type_=sa.Text(), existing_nullable=False)
        batch.alter_column("birth_date", type_=sa.Text(), existing_type=sa.Date(),
                           existing_nullable=False, postgresql_using="birth_date::text")
        batch.add_column(sa.Column("nik_index", sa.LargeBinary(length=16), nullable=True))
    op.create_index("uq_worker_nik_index", "worker", ["nik_index"], unique=True)
    with op.batch_alter_table("claim") as batch:
        batch.drop_index("ix_claim_deceased_nik")
        for name in CLAIM:
            batch.alter_column(name, type_=sa.Text(), existing_nullable=name == "guardian_nik")
        batch.add_column(sa.Column("deceased_nik_index", sa.LargeBinary(length=16)))
        batch.add_column(sa.Column("heir_nik_index", sa.LargeBinary(length=16)))
    op.create_index("ix_claim_deceased_nik_index", "claim", ["deceased_nik_index"])
    op.create_index("ix_claim_heir_nik_index", "claim", ["heir_nik_index"])
    with op.batch_alter_table("rights_request") as batch:
        batch.alter_column("value", type_=sa.Text(), existing_nullable=True)
        batch.add_column(sa.Column("tombstone", sa.LargeBinary(length=16), nullable=True))
    op.create_index("ix_rights_request_tombstone", "rights_request", ["tombstone"])
    if not sqlite:  # a sealed secret is longer than 64 bytes (SQLite keeps any length)
        op.alter_column("app_secret", "value", type_=sa.LargeBinary(), existing_nullable=False)


def downgrade() -> None:
    """Only for a database whose values are not sealed (``main.py rotate-key`` cannot undo
    sealing): the columns get their old types back."""
    sqlite = _sqlite()
    op.drop_index("ix_rights_request_tombstone", table_name="rights_request")
    with op.batch_alter_table("rights_request") as batch:
        batch.drop_column("tombstone")
    op.drop_index("ix_claim_heir_nik_index", table_name="claim")
    op.drop_index("ix_claim_deceased_nik_index", table_name="claim")
    with op.batch_alter_table("claim") as batch:
        batch.drop_column("heir_nik_index")
        batch.drop_column("deceased_nik_index")
        batch.create_index("ix_claim_deceased_nik", ["deceased_nik"])
    op.drop_index("uq_worker_nik_index", table_name="worker")
    with op.batch_alter_table("worker", naming_convention=NAMES if sqlite else None) as batch:
        batch.drop_column("nik_index")
        batch.alter_column("birth_date", type_=sa.Date(), existing_type=sa.Text(),
                           postgresql_using="birth_date::date")
        batch.create_unique_constraint("uq_worker_nik" if sqlite else "worker_nik_key",
                                       ["nik"])
