"""The engine's first tables: projects, evidence, decisions and the append-only audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The database itself refuses to change or remove an audit entry. PostgreSQL needs a statement
# trigger for TRUNCATE, which skips row triggers. No '%' and no ':name' in these bodies: they go to
# the driver as they are.
SQLITE_APPEND_ONLY = (
    """CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: DELETE refused'); END""",
)
POSTGRES_APPEND_ONLY = (
    """CREATE OR REPLACE FUNCTION cycle_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION USING MESSAGE = 'audit_entry is append-only: ' || TG_OP || ' refused'; END $$""",
    """CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry
       FOR EACH ROW EXECUTE FUNCTION cycle_audit_append_only()""",
    """CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
       FOR EACH STATEMENT EXECUTE FUNCTION cycle_audit_append_only()""",
)


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("workflow", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("visit", sa.Integer(), nullable=False),
        sa.Column("lead_commissioner", sa.String()),
        sa.Column("model", sa.String()),
        sa.Column("accountable_body", sa.String()),
        sa.Column("owner", sa.String()),
        sa.Column("attrs", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("updated_at", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_project_key", "project", ["key"], unique=True)
    for table in ("evidence", "decision"):
        decision = table == "decision"
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
            sa.Column("cycle", sa.Integer(), nullable=False),
            *([sa.Column("visit", sa.Integer(), nullable=False), sa.Column("gate", sa.String(), nullable=False),
               sa.Column("outcome", sa.String(), nullable=False), sa.Column("body", sa.String(), nullable=False)]
              if decision else [sa.Column("name", sa.String(), nullable=False)]),
            sa.Column("ref", sa.String(), nullable=False),
            *([sa.Column("recycle_to", sa.String()), sa.Column("decided_on", sa.String())] if decision else []),
            sa.Column("note", sa.String()),
            sa.Column("recorded_by", sa.String(), nullable=False),
            sa.Column("recorded_at", sa.String(), nullable=False),
        )
        op.create_index(f"ix_{table}_project_id", table, ["project_id"])
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("project", sa.String()),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("from_stage", sa.String()),
        sa.Column("to_stage", sa.String()),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        # Two entries can never claim the same predecessor, so the chain cannot fork.
        sa.UniqueConstraint("prev_hash", name="uq_audit_prev_hash"),
    )
    op.create_index("ix_audit_entry_project", "audit_entry", ["project"])
    bind = op.get_bind()
    statements = {"sqlite": SQLITE_APPEND_ONLY, "postgresql": POSTGRES_APPEND_ONLY}.get(bind.dialect.name, ())
    for statement in statements:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
