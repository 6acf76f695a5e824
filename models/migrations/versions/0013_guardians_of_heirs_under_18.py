"""the parent or guardian who files with an heir under 18

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("claim") as batch:
        batch.add_column(sa.Column("guardian_name", sqlmodel.sql.sqltypes.AutoString(length=80),
                                   nullable=True))
        batch.add_column(sa.Column("guardian_nik", sqlmodel.sql.sqltypes.AutoString(length=16),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("claim") as batch:
        batch.drop_column("guardian_nik")
        batch.drop_column("guardian_name")
