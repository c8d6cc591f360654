"""Who pays for a contract (issue 16 part 2): `contract_funder`, one row per organisation funding a contract.

Each row holds the funder (free text), its share (a percentage as decimal text) or its amount (decimal pounds as
text), and the pooled budget the split is within, if any (e.g. a section 75 pool). `cycle contract fund` replaces
a contract's rows in one audited change. The table is covered by the records check (cycle.audit.images.COVERED);
on PostgreSQL it gets revision 0011's trigger (no row without an audit entry of the same transaction holding it),
may not be truncated, and nobody but the owner may UPDATE it (cycle deletes a split's rows and adds new ones).

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract_funder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("funder", sa.String(), nullable=False),
        sa.Column("share", sa.String(), nullable=True),
        sa.Column("amount", sa.String(), nullable=True),
        sa.Column("pool", sa.String(), nullable=True),
        sa.Column("recorded_by", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contract_funder_contract_id", "contract_funder", ["contract_id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for statement in _postgres():
            bind.exec_driver_sql(statement)


def _postgres() -> list[str]:
    """Revision 0011's rules for a covered table: each row with its entry; no TRUNCATE, no UPDATE."""
    return [
        """CREATE CONSTRAINT TRIGGER contract_funder_on_record AFTER INSERT OR UPDATE OR DELETE ON contract_funder
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cycle_row_on_record()""",
        """CREATE TRIGGER contract_funder_no_truncate BEFORE TRUNCATE ON contract_funder
           FOR EACH STATEMENT EXECUTE FUNCTION cycle_no_truncate()""",
        """DO $$
           DECLARE r record;
           BEGIN
             FOR r IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = 'contract_funder'
                        AND a.privilege_type IN ('UPDATE', 'TRUNCATE') AND a.grantee <> c.relowner
             LOOP
               EXECUTE 'REVOKE UPDATE, TRUNCATE ON contract_funder FROM '
                 || CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                         ELSE quote_ident((SELECT rolname FROM pg_roles WHERE oid = r.grantee)) END;
             END LOOP;
           END $$""",
    ]


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
