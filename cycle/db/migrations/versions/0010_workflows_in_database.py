"""Workflows live in the database: installed, versioned, immutable definitions that projects are pinned to.

A new table, workflow_version, holds every version of every workflow a database has installed: its
exact TOML text, the text's SHA-256, where it was installed from, by whom and when. Versions of a
name count 1, 2, 3... and never change: the database refuses UPDATE and DELETE on the table (and, on
PostgreSQL, TRUNCATE and any right to them but the owner's). Each project gains workflow_version, the
version of its workflow it runs on.

This revision only makes the table and the column. `cycle init` fills them in the same transaction
(cycle/install.py): it installs the built-in workflows, and for a database made before this revision
the workflow files its audit log shows, then pins each project to the version its log last used. It is
done there, not here, so that each installation is an audit entry under the login that ran it.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_NEXT = "SELECT COALESCE(MAX(version), 0) + 1 FROM workflow_version WHERE name = NEW.name"

SQLITE = (
    """CREATE TRIGGER workflow_version_no_update BEFORE UPDATE ON workflow_version
       BEGIN SELECT RAISE(ABORT, 'workflow_version is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER workflow_version_no_delete BEFORE DELETE ON workflow_version
       BEGIN SELECT RAISE(ABORT, 'workflow_version is append-only: DELETE refused'); END""",
    f"""CREATE TRIGGER workflow_version_next BEFORE INSERT ON workflow_version
        WHEN NEW.version IS NOT ({_NEXT})
        BEGIN SELECT RAISE(ABORT, 'workflow_version: a new version of a workflow is the next number after its newest');
        END""",
)

# 42501 is insufficient_privilege: cycle reports it as "not permitted" (exit 6).
POSTGRES = (
    """CREATE OR REPLACE FUNCTION cycle_workflow_version_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'workflow_version is append-only: ' || TG_OP || ' refused';
       END $$""",
    """CREATE TRIGGER workflow_version_no_change BEFORE UPDATE OR DELETE ON workflow_version
       FOR EACH ROW EXECUTE FUNCTION cycle_workflow_version_append_only()""",
    """CREATE TRIGGER workflow_version_no_truncate BEFORE TRUNCATE ON workflow_version
       FOR EACH STATEMENT EXECUTE FUNCTION cycle_workflow_version_append_only()""",
    # What the database can vouch for in a new version: who installed it, that its SHA-256 is its text's,
    # and that it is the next number.
    f"""CREATE OR REPLACE FUNCTION cycle_workflow_version_insert() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.installed_by IS DISTINCT FROM session_user THEN
           RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a workflow version must be installed under the '
             || 'database login that installs it (' || session_user || '), not ' || NEW.installed_by;
         END IF;
         IF NEW.sha256 IS DISTINCT FROM encode(sha256(convert_to(NEW.source, 'UTF8')), 'hex') THEN
           RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'workflow_version: sha256 is not the SHA-256 of source';
         END IF;
         IF NEW.version IS DISTINCT FROM ({_NEXT}) THEN
           RAISE EXCEPTION USING ERRCODE = '42501',
             MESSAGE = 'workflow_version: a new version of a workflow is the next number after its newest';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER workflow_version_insert BEFORE INSERT ON workflow_version
       FOR EACH ROW EXECUTE FUNCTION cycle_workflow_version_insert()""",
    # As revision 0007 does for the audit log: grantee 0 is PUBLIC; the owner's own rights are not grants.
    """DO $$
       DECLARE r record;
       BEGIN
         FOR r IN SELECT DISTINCT c.relname, a.grantee FROM pg_class c, aclexplode(c.relacl) a
                  WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = 'workflow_version'
                    AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE') AND a.grantee <> c.relowner
         LOOP
           EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON ' || quote_ident(r.relname) || ' FROM '
             || CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                     ELSE quote_ident((SELECT rolname FROM pg_roles WHERE oid = r.grantee)) END;
         END LOOP;
       END $$""",
)


def upgrade() -> None:
    op.create_table(
        "workflow_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("installed_by", sa.String(), nullable=False),
        sa.Column("installed_at", sa.String(), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_workflow_version"),
        sa.UniqueConstraint("name", "sha256", name="uq_workflow_sha256"),
    )
    op.add_column("project", sa.Column("workflow_version", sa.Integer()))
    bind = op.get_bind()
    for statement in {"sqlite": SQLITE, "postgresql": POSTGRES}.get(bind.dialect.name, ()):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
