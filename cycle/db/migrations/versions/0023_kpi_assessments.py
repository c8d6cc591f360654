"""The Procurement Act 2023's KPI duties on a contract (issue 17 part 8): which regime it was procured under,
an exemption from s.52, and the s.71 assessments of its performance.

- `contract.regime`: "pa2023", "pa2023-light-touch", "psr" or "none" (NULL: not recorded), the procurement regime
  the contract was let under (cycle.performance.pa2023);
- `contract.kpis_exempt`: why key performance indicators could not appropriately assess the supplier's
  performance (s.52(2)); NULL: not exempt;
- `kpi_assessment`: one row per assessment of performance against the KPIs (s.71(2)): the contract, the rating
  (Procurement Regulations 2024 reg 39(5)), the period it covers, a note, who recorded it and when. Rows are only
  added. Covered by the records check (cycle.audit.images.COVERED); on PostgreSQL it gets revision 0011's trigger
  (no row without an audit entry of the same transaction holding it), may not be truncated, and nobody but the
  owner may UPDATE it.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contract", sa.Column("regime", sa.String()))
    op.add_column("contract", sa.Column("kpis_exempt", sa.String()))
    op.create_table(
        "kpi_assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.String(), nullable=False),
        sa.Column("period_from", sa.String(), nullable=False),
        sa.Column("period_to", sa.String(), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("recorded_by", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_kpi_assessment_contract_id", "kpi_assessment", ["contract_id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for statement in _postgres():
            bind.exec_driver_sql(statement)


def _postgres() -> list[str]:
    """Revision 0011's rules for a covered table: each row with its entry; no TRUNCATE, no UPDATE."""
    return [
        """CREATE CONSTRAINT TRIGGER kpi_assessment_on_record AFTER INSERT OR UPDATE OR DELETE ON kpi_assessment
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cycle_row_on_record()""",
        """CREATE TRIGGER kpi_assessment_no_truncate BEFORE TRUNCATE ON kpi_assessment
           FOR EACH STATEMENT EXECUTE FUNCTION cycle_no_truncate()""",
        """DO $$
           DECLARE r record;
           BEGIN
             FOR r IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = 'kpi_assessment'
                        AND a.privilege_type IN ('UPDATE', 'TRUNCATE') AND a.grantee <> c.relowner
             LOOP
               EXECUTE 'REVOKE UPDATE, TRUNCATE ON kpi_assessment FROM '
                 || CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                         ELSE quote_ident((SELECT rolname FROM pg_roles WHERE oid = r.grantee)) END;
             END LOOP;
           END $$""",
    ]


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
