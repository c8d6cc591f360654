"""Procurement under the PSR and the Procurement Act 2023 (issue 18 part 5): `procurement`, a project's regime and
route, and `procurement_step`, each step done with its date, reference, note and the PSR reg 24 record (who
decided, key criteria, reasons, conflicts of interest and how they were managed).

Both tables are covered by the records check (cycle.audit.images.COVERED); on PostgreSQL they get revision 0011's
trigger (no row without an audit entry of the same transaction holding it), may not be truncated, and nobody but
the owner may UPDATE or DELETE them (cycle only adds rows).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TABLES = ("procurement", "procurement_step")


def upgrade() -> None:
    op.create_table(
        "procurement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("regime", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("light_touch", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=True),
        sa.Column("started_by", sa.String(), nullable=False),
        sa.Column("started_at", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_procurement_project", "procurement", ["project_id"], unique=True)
    op.create_table(
        "procurement_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("procurement_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("done_on", sa.String(), nullable=False),
        sa.Column("ref", sa.String(), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("criteria", sa.String(), nullable=True),
        sa.Column("reasons", sa.String(), nullable=True),
        sa.Column("conflicts", sa.String(), nullable=True),
        sa.Column("conflicts_managed", sa.String(), nullable=True),
        sa.Column("recorded_by", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["procurement_id"], ["procurement.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_procurement_step_procurement_id", "procurement_step", ["procurement_id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            for statement in _postgres(table):
                bind.exec_driver_sql(statement)


def _postgres(table: str) -> list[str]:
    """Revision 0011's rules for a covered table: each row with its entry; append-only (no UPDATE, DELETE or
    TRUNCATE but by the owner)."""
    return [
        f"""CREATE CONSTRAINT TRIGGER {table}_on_record AFTER INSERT OR UPDATE OR DELETE ON {table}
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cycle_row_on_record()""",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
           FOR EACH STATEMENT EXECUTE FUNCTION cycle_no_truncate()""",
        f"""DO $$
           DECLARE r record;
           BEGIN
             FOR r IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = '{table}'
                        AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE') AND a.grantee <> c.relowner
             LOOP
               EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM '
                 || CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                         ELSE quote_ident((SELECT rolname FROM pg_roles WHERE oid = r.grantee)) END;
             END LOOP;
           END $$""",
    ]


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
