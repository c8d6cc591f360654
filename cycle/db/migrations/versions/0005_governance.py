"""Governance: gate requests, waivers and programme-card milestones.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _project_table(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_project_id", name, ["project_id"])


def upgrade() -> None:
    _project_table(
        "gate_request",
        sa.Column("gate", sa.String(), nullable=False),
        sa.Column("visit", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("requested_at", sa.String(), nullable=False),
        sa.Column("note", sa.String()),
    )
    _project_table(
        "waiver",
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("visit", sa.Integer(), nullable=False),
        sa.Column("gate", sa.String(), nullable=False),
        sa.Column("criterion", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("waived_by", sa.String(), nullable=False),
        sa.Column("waived_at", sa.String(), nullable=False),
    )
    _project_table(
        "milestone",
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("due", sa.String(), nullable=False),
        sa.Column("done_on", sa.String()),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
