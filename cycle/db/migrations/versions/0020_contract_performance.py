"""Contract performance (issue 17, seed 001 section 8): indicators, their targets and quarterly values, review
attendees and snapshots, and actions.

- `kpi`: a SMART indicator of a contract (`contract.id`), named within it by its key;
- `kpi_target`: an indicator's target (or band), tolerance and over-performance margin from a quarter on; rows
  are only ever added, so a quarter is judged against the target in force then;
- `kpi_value`: an indicator's actual for a quarter (changed only with `kpi record --replace` or `kpi import
  --replace`, each audited with the old value);
- `action`: an action raised for a project (optionally about one indicator), its owner, due date and completion;
- `review_meeting.attendees` and `review_meeting.snapshot`: who attended, and each indicator's status for the
  quarter as the meeting was recorded (NULL for meetings recorded before this revision).

All are covered by the records check (cycle.audit.images.COVERED); an image written before this revision holds
neither new column of review_meeting, and reads as holding NULL (cycle.audit.images.LATER). On PostgreSQL the new
tables get revision 0011's rules: no row without an audit entry of the same transaction holding it, no TRUNCATE,
and (but for the owner) no UPDATE of a target, no DELETE of any of them.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

NEW = ("kpi", "kpi_target", "kpi_value", "action")


def upgrade() -> None:
    op.add_column("review_meeting", sa.Column("attendees", sa.Text()))
    op.add_column("review_meeting", sa.Column("snapshot", sa.Text()))
    op.create_table(
        "kpi",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("contract.id"), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("unit", sa.String()),
        sa.Column("better", sa.String(), nullable=False),
        sa.Column("source", sa.String()),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.UniqueConstraint("contract_id", "key", name="uq_kpi_key"),
    )
    op.create_index("ix_kpi_contract_id", "kpi", ["contract_id"])
    op.create_table(
        "kpi_target",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kpi_id", sa.Integer(), sa.ForeignKey("kpi.id"), nullable=False),
        sa.Column("from_quarter", sa.String(), nullable=False),
        sa.Column("target", sa.String()),
        sa.Column("low", sa.String()),
        sa.Column("high", sa.String()),
        sa.Column("tolerance", sa.String(), nullable=False),
        sa.Column("over", sa.String()),
        sa.Column("set_by", sa.String(), nullable=False),
        sa.Column("set_at", sa.String(), nullable=False),
        sa.UniqueConstraint("kpi_id", "from_quarter", name="uq_kpi_target_from"),
    )
    op.create_index("ix_kpi_target_kpi_id", "kpi_target", ["kpi_id"])
    op.create_table(
        "kpi_value",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kpi_id", sa.Integer(), sa.ForeignKey("kpi.id"), nullable=False),
        sa.Column("quarter", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("note", sa.String()),
        sa.Column("recorded_by", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.String(), nullable=False),
        sa.UniqueConstraint("kpi_id", "quarter", name="uq_kpi_value_quarter"),
    )
    op.create_index("ix_kpi_value_kpi_id", "kpi_value", ["kpi_id"])
    op.create_table(
        "action",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("kpi_id", sa.Integer(), sa.ForeignKey("kpi.id")),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("due", sa.String(), nullable=False),
        sa.Column("done_on", sa.String()),
        sa.Column("done_note", sa.String()),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
    )
    op.create_index("ix_action_project_id", "action", ["project_id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for statement in _postgres():
            bind.exec_driver_sql(statement)


def _postgres() -> list[str]:
    """Revision 0011's rules for a covered table, for the new ones."""
    out = []
    for table in NEW:
        out += [f"""CREATE CONSTRAINT TRIGGER {table}_on_record AFTER INSERT OR UPDATE OR DELETE ON {table}
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cycle_row_on_record()""",
                f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                    FOR EACH STATEMENT EXECUTE FUNCTION cycle_no_truncate()"""]
    out += [_revoke(("kpi_target",), "UPDATE, DELETE, TRUNCATE"),
            _revoke(("kpi", "kpi_value", "action"), "DELETE, TRUNCATE")]
    return out


def _revoke(tables: tuple[str, ...], privileges: str) -> str:
    """Take `privileges` on `tables` from every role but the owner (as revision 0011 does; grantee 0 is PUBLIC)."""
    names = ", ".join(f"'{t}'" for t in tables)
    wanted = ", ".join(f"'{p.strip()}'" for p in privileges.split(","))
    return f"""DO $$
       DECLARE r record;
       BEGIN
         FOR r IN SELECT DISTINCT c.relname, a.grantee FROM pg_class c, aclexplode(c.relacl) a
                  WHERE c.relnamespace = current_schema()::regnamespace AND c.relname IN ({names})
                    AND a.privilege_type IN ({wanted}) AND a.grantee <> c.relowner
         LOOP
           EXECUTE 'REVOKE {privileges} ON ' || quote_ident(r.relname) || ' FROM '
             || CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                     ELSE quote_ident((SELECT rolname FROM pg_roles WHERE oid = r.grantee)) END;
         END LOOP;
       END $$"""


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
