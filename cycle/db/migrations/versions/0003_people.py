"""People and their roles (manager, governance lead, approver for a body, admin).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
    )
    op.create_index("ix_person_name", "person", ["name"], unique=True)
    op.create_table(
        "person_role",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.UniqueConstraint("person_id", "role", "body", name="uq_person_role"),
    )
    op.create_index("ix_person_role_person_id", "person_role", ["person_id"])


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
