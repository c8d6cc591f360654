"""Row images: every change to a table gates, reminders and reports read is on the record.

From this revision every audit entry that goes with a change carries the after-image of each row
the change wrote (cycle/audit/images.py), and `audit verify` compares every row of every covered table
with the latest image. The rows already in the database get theirs here: `record.baseline`
entries, one per project holding its own rows (and further ones when a project has many), and
then one for people, roles, installed workflow versions and anything tied to no project. A
baseline vouches for the rows as they stood at the upgrade, no more.

On PostgreSQL the database itself then refuses to commit a change to a covered table unless an
audit entry of the same transaction, under the login making the change (session_user), holds the
row exactly as it now is (a deferred constraint trigger per table; an entry's transaction is
`audit_entry.txid`, set by a trigger, so it cannot be claimed). Roles may be granted or removed
only by an admin (by anyone while nobody is admin), and a person's email changed only by them or
an admin, as cycle/people.py does (names compared as logins, with revision 0009's cycle_login); a
person's name never changes. Nobody but the owner may TRUNCATE a covered table, DELETE from one
that cycle never deletes from, or UPDATE one it only appends to (APPEND_ONLY below).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BASELINE = "record.baseline"
CHUNK = 500  # images per baseline entry
# The covered tables at this revision (cycle.audit.images.COVERED may grow; this migration does not).
BY_PROJECT = ("evidence", "decision", "waiver", "gate_request", "milestone", "contract", "link", "review_meeting")
COVERED = ("project", *BY_PROJECT, "person", "person_role", "outbox", "delivery_attempt", "workflow_version")
APPEND_ONLY = ("evidence", "decision", "waiver", "gate_request", "link", "review_meeting", "delivery_attempt",
               "workflow_version")
NEVER_DELETED = ("project", "milestone", "contract", "person", "outbox")
NEVER_UPDATED = ("person_role",)

BOTH = (
    "ALTER TABLE audit_entry ADD COLUMN txid BIGINT",  # not part of the hash: the transaction that appended it
    "CREATE INDEX ix_audit_entry_txid ON audit_entry (txid) WHERE txid IS NOT NULL",
)

_ADMINS = ("SELECT string_agg(p.name, ', ' ORDER BY p.name) FROM person_role r JOIN person p ON p.id = r.person_id "
           "WHERE r.role = 'admin'")
_IS_ADMIN = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id WHERE r.role = 'admin' "
             "AND cycle_login(p.name) = cycle_login(session_user)")  # one login however spelt (revision 0009)


def _postgres(schema: str) -> list[str]:
    # Each function reads tables of cycle's schema only, whatever search_path a session sets.
    path = f'SET search_path = "{schema}", pg_temp'
    statements = [
        f"""CREATE OR REPLACE FUNCTION cycle_audit_txid() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           BEGIN NEW.txid := txid_current(); RETURN NEW; END $$""",
        """CREATE TRIGGER audit_entry_txid BEFORE INSERT ON audit_entry
           FOR EACH ROW EXECUTE FUNCTION cycle_audit_txid()""",
        # 42501 is insufficient_privilege: cycle reports it as "not permitted" (exit 6).
        f"""CREATE OR REPLACE FUNCTION cycle_row_on_record() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           DECLARE
             ids bigint[];
             rid bigint;
             now_row jsonb;
             wanted jsonb;
           BEGIN
             IF TG_OP = 'DELETE' THEN ids := ARRAY[OLD.id];
             ELSIF TG_OP = 'INSERT' OR OLD.id = NEW.id THEN ids := ARRAY[NEW.id];
             ELSE ids := ARRAY[OLD.id, NEW.id];
             END IF;
             FOREACH rid IN ARRAY ids LOOP
               EXECUTE format('SELECT to_jsonb(t) FROM %I t WHERE id = $1', TG_TABLE_NAME) INTO now_row USING rid;
               wanted := jsonb_build_object('table', TG_TABLE_NAME, 'id', rid, 'row', coalesce(now_row, 'null'::jsonb));
               IF NOT EXISTS (
                   SELECT 1 FROM audit_entry a CROSS JOIN LATERAL jsonb_array_elements(
                       CASE WHEN jsonb_typeof(a.payload::jsonb -> 'rows') = 'array' THEN a.payload::jsonb -> 'rows'
                            ELSE '[]'::jsonb END) AS image
                    WHERE a.txid = txid_current() AND a.actor = session_user
                      AND strpos(a.payload, '{{"id":' || rid || ',"row":') > 0 AND image - 'was' = wanted) THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = format('%s #%s was %s without an audit entry '
                   'of the same transaction, by %s, holding the row as it now is: only cycle''s commands '
                   'change it, each with its entry', TG_TABLE_NAME, rid,
                   CASE WHEN now_row IS NULL THEN 'deleted' WHEN TG_OP = 'INSERT' THEN 'inserted' ELSE 'changed' END,
                   session_user);
               END IF;
             END LOOP;
             RETURN NULL;
           END $$""",
        f"""CREATE OR REPLACE FUNCTION cycle_no_truncate() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           BEGIN
             RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = TG_TABLE_NAME || ' may not be truncated: its rows '
               || 'are on the audit record';
           END $$""",
        f"""CREATE OR REPLACE FUNCTION cycle_roles_by_admin() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           DECLARE admins text;
           BEGIN
             admins := ({_ADMINS});
             IF admins IS NOT NULL AND NOT EXISTS ({_IS_ADMIN}) THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only an admin may grant or remove a role (admins: '
                 || admins || '), and ' || session_user || ' is not one';
             END IF;
             IF TG_OP <> 'INSERT' AND OLD.role = 'admin'
                AND (TG_OP = 'DELETE' OR NEW.role <> 'admin' OR NEW.person_id <> OLD.person_id)
                AND NOT EXISTS (SELECT 1 FROM person_role WHERE role = 'admin' AND id <> OLD.id) THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'the only admin may not lose the role: without '
                 || 'one anyone may grant roles; make someone else admin first';
             END IF;
             IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
             RETURN NEW;
           END $$""",
        """CREATE TRIGGER person_role_by_admin BEFORE INSERT OR UPDATE OR DELETE ON person_role
           FOR EACH ROW EXECUTE FUNCTION cycle_roles_by_admin()""",
        f"""CREATE OR REPLACE FUNCTION cycle_person_change() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           DECLARE admins text;
           BEGIN
             IF NEW.id IS DISTINCT FROM OLD.id OR NEW.name IS DISTINCT FROM OLD.name
                OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a person''s name is who they are to cycle and '
                 || 'does not change (' || OLD.name || '): add the new name as a person of its own';
             END IF;
             IF NEW.email IS DISTINCT FROM OLD.email AND cycle_login(session_user) <> cycle_login(OLD.name) THEN
               admins := ({_ADMINS});
               IF admins IS NOT NULL AND NOT EXISTS ({_IS_ADMIN}) THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only ' || OLD.name || ' or an admin ('
                   || admins || ') may change ' || OLD.name || '''s email, which decides where their reminders go';
               END IF;
             END IF;
             RETURN NEW;
           END $$""",
        """CREATE TRIGGER person_change_by_self_or_admin BEFORE UPDATE ON person
           FOR EACH ROW EXECUTE FUNCTION cycle_person_change()""",
    ]
    for table in COVERED:
        statements.append(f"""CREATE CONSTRAINT TRIGGER {table}_on_record AFTER INSERT OR UPDATE OR DELETE ON {table}
                              DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cycle_row_on_record()""")
        if table != "workflow_version":  # revision 0010 gave it one
            statements.append(f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                                  FOR EACH STATEMENT EXECUTE FUNCTION cycle_no_truncate()""")
    statements += [_revoke(APPEND_ONLY, "UPDATE, DELETE, TRUNCATE"), _revoke(NEVER_DELETED, "DELETE, TRUNCATE"),
                   _revoke(NEVER_UPDATED, "UPDATE, TRUNCATE")]
    return statements


def _revoke(tables: tuple[str, ...], privileges: str) -> str:
    """Take `privileges` on `tables` from every role but the owner (as revision 0007 does; grantee 0 is PUBLIC)."""
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


def upgrade() -> None:
    bind = op.get_bind()
    for statement in BOTH:
        bind.exec_driver_sql(statement)
    _baseline(bind)
    if bind.dialect.name == "postgresql":
        schema = str(bind.exec_driver_sql("SELECT current_schema()").scalar())
        for statement in _postgres(schema):
            bind.exec_driver_sql(statement.replace("%", "%%"))  # the driver's placeholders are %s


def _baseline(bind: Any) -> None:
    """Append the images of every covered row there is: what the log vouches for from now on."""
    from cycle import config
    from cycle.audit import chain
    from cycle.db.sql import Sql

    sql = Sql.on(bind)
    given = op.get_context().config
    actor = (given.attributes.get("actor") if given is not None else None) or config.actor()
    done: set[tuple[str, int]] = set()

    def images(table: str, where: str = "", **params: Any) -> list[dict[str, Any]]:
        found = []
        for row in sql.rows(f"SELECT * FROM {table}{where} ORDER BY id", **params):
            if (table, row.id) not in done:
                done.add((table, row.id))
                found.append({"table": table, "id": row.id, "row": row._asdict()})
        return found

    def append(project: str | None, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), CHUNK):
            chain.append(sql, actor=actor, action=BASELINE, project=project, payload={
                "revision": revision, "rows": rows[start:start + CHUNK]})

    for project in sql.rows("SELECT id, key FROM project ORDER BY id"):
        rows = images("project", " WHERE id = :id", id=project.id)
        for table in BY_PROJECT:
            rows += images(table, " WHERE project_id = :id", id=project.id)
        outbox = images("outbox", " WHERE project = :key", key=project.key)
        rows += outbox
        for message in outbox:
            rows += images("delivery_attempt", " WHERE outbox_id = :id", id=message["id"])
        append(project.key, rows)
    rest = [image for table in ("person", "person_role", "workflow_version", *COVERED) for image in images(table)]
    append(None, rest)  # people, roles, the installed workflows, and rows tied to no project there is


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
