"""The contract details the Local Government Transparency Code 2015 asks a council to publish (issue 16).

- `contract.title`: the title of the agreement; `contract.description`: the goods or services provided;
- `contract.department`: the department (or service) responsible;
- `contract.review_date`: its review date (ISO), beside the start and end dates;
- `contract.awarded_by`: "quote" (an invitation to quote), "tender" (a published invitation to tender), or the
  route in words when it was neither (a PSR direct award, say);
- `contract.sme`, `contract.vcse`: "yes" or "no" (NULL: not recorded), whether the supplier is a small or
  medium-sized enterprise, a voluntary or community sector organisation; `contract.registration_number`: its
  charity or company number;
- `contract.vat_not_recoverable`: the VAT that cannot be recovered, in pounds as text (as the other values).

All nullable: a contract recorded before holds none of them. All are covered by the records check
(cycle.audit.images.COVERED, LATER: an image written before this revision reads as holding NULL).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

COLUMNS = ("title", "description", "department", "review_date", "awarded_by", "sme", "vcse", "registration_number",
           "vat_not_recoverable")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("contract", sa.Column(name, sa.String()))


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
