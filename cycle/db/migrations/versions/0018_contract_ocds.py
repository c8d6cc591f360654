"""A contract's OCDS identity and its buyer (issue 16, OCDS import and export).

- `contract.ocid`: the Open Contracting ID of the contracting process the contract came from (`cycle import
  ocds`), or NULL for a contract recorded in cycle; `cycle export ocds` writes it back out.
- `contract.ocds_id`: the contract's `id` within that process's `contracts` (OCDS: unique within the block);
  with `ocid` it is what a re-import matches on.
- `contract.buyer`: the organisation buying (OCDS `buyer`), as the file names it.

All three are covered by the records check (cycle.audit.images.COVERED); an image written before this revision
holds none of them, and reads as holding NULL (cycle.audit.images.LATER). On PostgreSQL the triggers of revision
0011 compare whole rows (to_jsonb), so they cover the new columns as they are.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contract", sa.Column("ocid", sa.String()))  # nullable: a contract recorded in cycle has none
    op.add_column("contract", sa.Column("ocds_id", sa.String()))
    op.add_column("contract", sa.Column("buyer", sa.String()))
    op.create_index("ix_contract_ocid", "contract", ["ocid"])


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
