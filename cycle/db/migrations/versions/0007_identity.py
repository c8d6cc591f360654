"""Identity the database vouches for, and separation of duties enforced by the database.

On PostgreSQL an audit entry's actor, and a decision's recorder, must be the login that writes
them (session_user): a name in an environment variable, or in a hand-written INSERT, is refused.

On PostgreSQL, too, nobody but the tables' owner may UPDATE, DELETE or TRUNCATE the audit log,
the decisions or the evidence (the privileges are revoked from every other role that has them, such
as the application role given them by default; see `cycle db roles-sql`).

On both databases a decision for a body with approvers on record must be recorded by one of them,
never by the project's owner or by whoever asked for the gate (as cycle/authority.py checks first,
with a friendlier message and an audit entry). While a body has no approvers on record nothing can
be checked, and its decisions are accepted as unverified, as in cycle/authority.py.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_APPROVERS = "SELECT 1 FROM person_role WHERE role = 'approver' AND body = NEW.body"
_IS_APPROVER = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id "
                "WHERE r.role = 'approver' AND r.body = NEW.body AND p.name = NEW.recorded_by")
_IS_OWNER = "SELECT 1 FROM project WHERE id = NEW.project_id AND owner = NEW.recorded_by"
_ASKED = ("SELECT 1 FROM gate_request WHERE project_id = NEW.project_id AND gate = NEW.gate "
          "AND visit = NEW.visit AND requested_by = NEW.recorded_by")

SQLITE = tuple(
    f"""CREATE TRIGGER decision_separation_of_duties_{event.lower()} BEFORE {event} ON decision
        WHEN EXISTS ({_APPROVERS})
        BEGIN
          SELECT RAISE(ABORT, 'separation of duties: the decision''s recorder is not an approver for its body')
           WHERE NOT EXISTS ({_IS_APPROVER});
          SELECT RAISE(ABORT, 'separation of duties: the project''s owner may not decide its gates')
           WHERE EXISTS ({_IS_OWNER});
          SELECT RAISE(ABORT, 'separation of duties: whoever asked for the gate may not decide it')
           WHERE EXISTS ({_ASKED});
        END"""
    for event in ("INSERT", "UPDATE")
)

# 42501 is insufficient_privilege: cycle reports it as "not permitted" (exit 6).
POSTGRES = (
    """CREATE OR REPLACE FUNCTION cycle_audit_actor_is_login() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.actor IS DISTINCT FROM session_user THEN
           RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'an audit entry''s actor must be the database login '
             || 'that writes it (' || session_user || '), not ' || NEW.actor;
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER audit_entry_actor_is_login BEFORE INSERT ON audit_entry
       FOR EACH ROW EXECUTE FUNCTION cycle_audit_actor_is_login()""",
    f"""CREATE OR REPLACE FUNCTION cycle_decision_separation_of_duties() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.recorded_by IS DISTINCT FROM session_user THEN
           RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a decision must be recorded under the database '
             || 'login that records it (' || session_user || '), not ' || NEW.recorded_by;
         END IF;
         IF EXISTS ({_APPROVERS}) THEN
           IF NOT EXISTS ({_IS_APPROVER}) THEN
             RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || NEW.recorded_by
               || ' is not an approver for ' || NEW.body;
           END IF;
           IF EXISTS ({_IS_OWNER}) THEN
             RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || NEW.recorded_by
               || ' owns the project and may not decide its gates';
           END IF;
           IF EXISTS ({_ASKED}) THEN
             RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || NEW.recorded_by
               || ' asked for gate ' || NEW.gate || ' and may not decide it';
           END IF;
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER decision_separation_of_duties BEFORE INSERT OR UPDATE ON decision
       FOR EACH ROW EXECUTE FUNCTION cycle_decision_separation_of_duties()""",
    # grantee 0 is PUBLIC; the owner's own rights are not grants and stay.
    """DO $$
       DECLARE r record;
       BEGIN
         FOR r IN SELECT DISTINCT c.relname, a.grantee FROM pg_class c, aclexplode(c.relacl) a
                  WHERE c.relnamespace = current_schema()::regnamespace
                    AND c.relname IN ('audit_entry', 'decision', 'evidence')
                    AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE') AND a.grantee <> c.relowner
         LOOP
           EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON ' || quote_ident(r.relname) || ' FROM '
             || CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                     ELSE quote_ident((SELECT rolname FROM pg_roles WHERE oid = r.grantee)) END;
         END LOOP;
       END $$""",
)


def upgrade() -> None:
    bind = op.get_bind()
    for statement in {"sqlite": SQLITE, "postgresql": POSTGRES}.get(bind.dialect.name, ()):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
