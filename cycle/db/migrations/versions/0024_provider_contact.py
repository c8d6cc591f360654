"""A contract's provider contact (issue 17 part 4): `contract.provider_contact`, the name of a person in the people
list (with an email and the role `provider`) who gets the provider's reminders of the contract: its quarterly
return due and late, and the actions they own.

Nullable: a contract recorded before has none. Covered by the records check (cycle.audit.images.COVERED, LATER: an
image written before this revision reads as holding NULL).

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contract", sa.Column("provider_contact", sa.String()))


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
