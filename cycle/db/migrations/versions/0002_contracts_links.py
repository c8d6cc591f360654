"""Contracts on projects, and links between projects (decommissioning, re-commissioning).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("provider", sa.String()),
        sa.Column("ref", sa.String()),
        sa.Column("start", sa.String()),
        sa.Column("end", sa.String()),
        sa.Column("value_total", sa.String()),
        sa.Column("value_annual", sa.String()),
        sa.Column("notice", sa.String()),
        sa.Column("extension_to", sa.String()),
        sa.Column("if_no_notice", sa.String(), nullable=False),
        sa.Column("run_on", sa.String()),
        sa.Column("notice_served_on", sa.String()),
        sa.Column("notice_ref", sa.String()),
        sa.Column("updated_at", sa.String(), nullable=False),
    )
    op.create_index("ix_contract_project_id", "contract", ["project_id"], unique=True)
    op.create_table(
        "link",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("other_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.UniqueConstraint("project_id", "kind", "other_id", name="uq_link"),
    )
    op.create_index("ix_link_project_id", "link", ["project_id"])


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
