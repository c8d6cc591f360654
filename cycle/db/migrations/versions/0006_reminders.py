"""Reminders: review meetings held, the outbox, delivery attempts and the scheduler lease.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_meeting",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("quarter", sa.String(), nullable=False),
        sa.Column("held_on", sa.String(), nullable=False),
        sa.Column("note", sa.String()),
        sa.Column("recorded_by", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.String(), nullable=False),
        sa.UniqueConstraint("project_id", "quarter", name="uq_review_quarter"),
    )
    op.create_index("ix_review_meeting_project_id", "review_meeting", ["project_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("due_on", sa.String(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.String(), nullable=False),
        sa.Column("claimed_by", sa.String()),
        sa.Column("claim_expires_at", sa.String()),
        sa.Column("first_attempt_at", sa.String()),
        sa.Column("last_error", sa.String()),
        sa.Column("message_id", sa.String()),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("sent_at", sa.String()),
        # A reminder's idempotency key: a second tick or scheduler cannot queue it twice.
        sa.UniqueConstraint("project", "kind", "period", "recipient", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_project", "outbox", ["project"])
    op.create_index("ix_outbox_status", "outbox", ["status"])
    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("outbox_id", sa.Integer(), sa.ForeignKey("outbox.id"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("code", sa.Integer()),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("transport", sa.String(), nullable=False),
        sa.Column("others", sa.String()),
    )
    op.create_index("ix_delivery_attempt_outbox_id", "delivery_attempt", ["outbox_id"])
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.String(), nullable=False),
        sa.Column("renewed_at", sa.String(), nullable=False),
        sa.Column("expires_at", sa.String(), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
