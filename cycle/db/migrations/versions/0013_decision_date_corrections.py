"""Corrections: a governance lead may correct the date of a recorded decision, and nothing else of it.

Decisions are append-only: revision 0011 took UPDATE on `decision` from every role but the owner, and
the separation-of-duties trigger (revisions 0007 and 0009) checked every UPDATE as if the decision were
being recorded again. `cycle decision correct` (cycle/governance/corrections.py) changes one column,
`decided_on`, with an audit entry of its own holding the old and the new date. From this revision:

- on PostgreSQL, every role that may INSERT a decision may UPDATE its `decided_on` column, and no other;
  an UPDATE is refused unless the login is a governance lead (revision 0009's cycle_login) and the
  row is the same in every other column; the separation-of-duties trigger runs on INSERT only. As for
  every covered table, the deferred trigger of revision 0011 still refuses to commit the change without
  an audit entry of the same transaction, by the same login, holding the row as it now is;
- on SQLite (no logins: `audit verify` is what checks who did what there), an UPDATE of a decision that
  changes anything but `decided_on` is refused, in place of the separation-of-duties check on UPDATE.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COLUMNS = ("id", "project_id", "cycle", "visit", "gate", "outcome", "body", "ref", "recycle_to", "note",
            "recorded_by", "recorded_at")  # every column of decision but decided_on

_REFUSED = ("a decision does not change once recorded; a governance lead may correct its date only, with: "
            "cycle decision correct")

SQLITE = (
    "DROP TRIGGER IF EXISTS decision_separation_of_duties_update",
    "DROP TRIGGER IF EXISTS decision_only_its_date_changes",
    f"""CREATE TRIGGER decision_only_its_date_changes BEFORE UPDATE ON decision
        WHEN {' OR '.join(f'NEW.{c} IS NOT OLD.{c}' for c in _COLUMNS)}
        BEGIN
          SELECT RAISE(ABORT, '{_REFUSED}');
        END""",
)

_IS_LEAD = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id WHERE r.role = 'governance-lead' "
            "AND cycle_login(p.name) = cycle_login(session_user)")
_OWNER = ("(SELECT rolsuper FROM pg_roles WHERE rolname = session_user) OR pg_has_role(session_user, "
          "(SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER')")


def _postgres(schema: str) -> list[str]:
    path = f'SET search_path = "{schema}", pg_temp'
    return [
        "DROP TRIGGER IF EXISTS decision_separation_of_duties ON decision",
        """CREATE TRIGGER decision_separation_of_duties BEFORE INSERT ON decision
           FOR EACH ROW EXECUTE FUNCTION cycle_decision_separation_of_duties()""",
        # 42501 is insufficient_privilege: cycle reports it as "not permitted" (exit 6).
        f"""CREATE OR REPLACE FUNCTION cycle_decision_date_correction() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           BEGIN
             IF (to_jsonb(NEW) - 'decided_on') IS DISTINCT FROM (to_jsonb(OLD) - 'decided_on') THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a decision does not change once recorded; a '
                 || 'governance lead may correct its date only, with: cycle decision correct';
             END IF;
             IF NOT ({_OWNER}) AND NOT EXISTS ({_IS_LEAD}) THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only a governance lead may correct a decision''s '
                 || 'date, and ' || session_user || ' is not one';
             END IF;
             RETURN NEW;
           END $$""",
        "DROP TRIGGER IF EXISTS decision_date_by_lead ON decision",
        """CREATE TRIGGER decision_date_by_lead BEFORE UPDATE ON decision
           FOR EACH ROW EXECUTE FUNCTION cycle_decision_date_correction()""",
        # the roles that may record a decision may correct its date column (the triggers above say who)
        """DO $$
           DECLARE r record;
           BEGIN
             FOR r IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = 'decision'
                        AND a.privilege_type = 'INSERT' AND a.grantee <> c.relowner
             LOOP
               EXECUTE 'GRANT UPDATE (decided_on) ON decision TO '
                 || CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                         ELSE quote_ident((SELECT rolname FROM pg_roles WHERE oid = r.grantee)) END;
             END LOOP;
           END $$""",
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = str(bind.exec_driver_sql("SELECT current_schema()").scalar())
        for statement in _postgres(schema):
            bind.exec_driver_sql(statement.replace("%", "%%"))
    else:
        for statement in SQLITE:
            bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
