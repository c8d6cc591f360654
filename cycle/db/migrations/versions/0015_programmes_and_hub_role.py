"""Programmes and the hub's role: projects grouped under named programmes, and the hub's role on each.

Seed 002 (Derby) runs its work as commissioning intentions, each a programme with projects under it; seed
001 Appendix A says whether the hub leads a service's commissioning, is an associate to another lead, or works
in partnership. So:

- a `programme` table: a programme's key (as a project's) and title, who added it and when; rows are only
  ever added (`cycle programme add`). It is covered by the records check like every table a report reads:
  on PostgreSQL it gets revision 0011's trigger (no row without an audit entry of the same transaction
  holding it) and nobody but the owner may UPDATE, DELETE or TRUNCATE it;
- `project.programme` (the key of the programme the project belongs to, or none) and `project.hub_role`
  (lead, associate or partnership, or none), both empty for existing projects;
- a `record.baseline` entry per project holding its row with the two new columns, so that `audit verify`
  compares them from here on (a baseline after the first may add a column to an image, never change a value).

Revision ID: 0015
Revises: 0013
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None

BASELINE = "record.baseline"


def upgrade() -> None:
    op.create_table(
        "programme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_programme_key", "programme", ["key"], unique=True)
    op.add_column("project", sa.Column("programme", sa.String(), nullable=True))
    op.add_column("project", sa.Column("hub_role", sa.String(), nullable=True))
    op.create_index("ix_project_programme", "project", ["programme"])
    bind = op.get_bind()
    _baseline(bind)
    if bind.dialect.name == "postgresql":
        for statement in _postgres():
            bind.exec_driver_sql(statement)


def _postgres() -> list[str]:
    """Revision 0011's rules for a covered table, for `programme`: appended only, each row with its entry."""
    return [
        """CREATE CONSTRAINT TRIGGER programme_on_record AFTER INSERT OR UPDATE OR DELETE ON programme
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cycle_row_on_record()""",
        """CREATE TRIGGER programme_no_truncate BEFORE TRUNCATE ON programme
           FOR EACH STATEMENT EXECUTE FUNCTION cycle_no_truncate()""",
        """DO $$
           DECLARE r record;
           BEGIN
             FOR r IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = 'programme'
                        AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE') AND a.grantee <> c.relowner
             LOOP
               EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON programme FROM '
                 || CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                         ELSE quote_ident((SELECT rolname FROM pg_roles WHERE oid = r.grantee)) END;
             END LOOP;
           END $$""",
    ]


def _baseline(bind: Any) -> None:
    """Every project's row as it now stands, with its new (empty) columns: what the log vouches for from here."""
    from cycle import config
    from cycle.audit import chain
    from cycle.db.sql import Sql

    sql = Sql.on(bind)
    given = op.get_context().config
    actor = (given.attributes.get("actor") if given is not None else None) or config.actor()
    for project in sql.rows("SELECT * FROM project ORDER BY id"):
        row = project._asdict()
        chain.append(sql, actor=actor, action=BASELINE, project=row["key"], payload={
            "revision": revision, "rows": [{"table": "project", "id": row["id"], "row": row}]})


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
