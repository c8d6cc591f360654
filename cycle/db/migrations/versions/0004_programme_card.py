"""Programme card fields on projects: SRO, lead, governance lead, dates, aim, scope, benefits, metrics.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CARD = ("sro", "lead", "governance_lead", "start_date", "end_date", "aim", "scope", "benefits", "metrics")


def upgrade() -> None:
    for name in CARD:  # all nullable: existing projects simply have no card yet
        op.add_column("project", sa.Column(name, sa.String()))


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
