"""Several contracts per project (issue 16 part 1): lots, providers, successive contracts.

- `contract.project_id` is no longer unique: its unique index gives way to a plain one.
- `uq_contract_ref`: a contract's reference is unique within its project (a contract with no reference, made
  before this revision, stays addressable while it is its project's only one; NULLs never collide).

No row changes, so no row image changes: `audit verify` passes as before. The reminders already in the outbox
keep their keys: a project's first contract (the only one it had then) keeps the notice reminders' key as it
was, and each later contract's names it ('/c<id>', cycle.reminders.rules._notice), so nothing sent is sent again.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An index, not a table constraint, on both databases (revision 0002): no batch rebuild needed on SQLite.
    op.drop_index("ix_contract_project_id", table_name="contract")
    op.create_index("ix_contract_project_id", "contract", ["project_id"])
    op.create_index("uq_contract_ref", "contract", ["project_id", "ref"], unique=True)


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
