"""Evidence beyond a workflow's criteria, and a contract's early-termination costs (issue 20).

- `evidence.counts_for`: the evidence name of the criterion a piece of evidence was attached to with
  `cycle evidence add KEY NAME --for CRITERION`; NULL when it counts under its own name (a criterion's
  evidence) or for none (supporting evidence).
- `contract.termination_costs`: the penalties and costs due should the contract be terminated early
  (framework section 7), as the contract states them.

Both are covered by the records check (cycle.audit.images.COVERED); an image written before this revision
holds neither, and reads as holding NULL (cycle.audit.images.LATER). On PostgreSQL the triggers of revision
0011 compare whole rows (to_jsonb), so they cover the new columns as they are.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("evidence", sa.Column("counts_for", sa.String()))  # nullable: existing rows count as before
    op.add_column("contract", sa.Column("termination_costs", sa.String()))


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
