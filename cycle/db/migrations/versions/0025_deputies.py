"""Deputies (issue 19 part 1): someone who may decide for a body in an approver's place, for a window of days.

- `deputy`: one row per window (approver, deputy, body, first and last day as London dates, who added it and
  when; who ended it early and when). Rows are never deleted; ending a window early moves its last day back.
  Covered by the records check (cycle.audit.images.COVERED).
- The decision triggers accept a decision from a deputy of one of the body's approvers on a day within the
  window (a deputy's deputy does not count: the window must be an approver's). Separation of duties applies to
  them as to anyone.
- On PostgreSQL: the deputy table gets revision 0011's rules (each row with its entry, no TRUNCATE, no DELETE);
  a window is added only by an admin or the approver themself, under their own login, for an approver of the
  body, never overlapping another of that approver and body; an UPDATE only ends it early (its last day moved
  back, not before yesterday, naming who did it). The day is the server's date in Europe/London.
- On SQLite (no logins: `audit verify` is what checks who did what there), a window is never deleted and only
  its end changes, to an earlier day; the decision trigger reads the day from the decision's `recorded_at`
  (SQLite knows no time zones: it allows the hour London is ahead in summer).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# --- SQLite ---------------------------------------------------------------------------------------

_S_APPROVERS = "SELECT 1 FROM person_role WHERE role = 'approver' AND body = NEW.body"
_S_IS_APPROVER = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id "
                  "WHERE r.role = 'approver' AND r.body = NEW.body AND lower(p.name) = lower(NEW.recorded_by)")
_S_IS_DEPUTY = ("SELECT 1 FROM deputy d WHERE d.body = NEW.body AND lower(d.deputy) = lower(NEW.recorded_by) "
                "AND d.starts_on <= date(NEW.recorded_at, '+1 hour') AND d.ends_on >= date(NEW.recorded_at) "
                "AND EXISTS (SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id WHERE r.role = 'approver' "
                "AND r.body = NEW.body AND lower(p.name) = lower(d.approver))")
_S_IS_OWNER = "SELECT 1 FROM project WHERE id = NEW.project_id AND lower(owner) = lower(NEW.recorded_by)"
_S_ASKED = ("SELECT 1 FROM gate_request WHERE project_id = NEW.project_id AND gate = NEW.gate "
            "AND visit = NEW.visit AND lower(requested_by) = lower(NEW.recorded_by)")
_S_WAIVED = ("SELECT 1 FROM waiver WHERE project_id = NEW.project_id AND gate = NEW.gate "
             "AND visit = NEW.visit AND lower(waived_by) = lower(NEW.recorded_by)")
_FIXED = ("id", "approver", "deputy", "body", "starts_on", "added_by", "added_at")

SQLITE = (
    "DROP TRIGGER IF EXISTS decision_separation_of_duties_insert",
    f"""CREATE TRIGGER decision_separation_of_duties_insert BEFORE INSERT ON decision
        BEGIN
          SELECT RAISE(ABORT, 'separation of duties: whoever waived a criterion of the gate may not decide it')
           WHERE EXISTS ({_S_WAIVED});
          SELECT RAISE(ABORT, 'separation of duties: the decision''s recorder is not an approver for its body')
           WHERE EXISTS ({_S_APPROVERS}) AND NOT EXISTS ({_S_IS_APPROVER}) AND NOT EXISTS ({_S_IS_DEPUTY});
          SELECT RAISE(ABORT, 'separation of duties: the project''s owner may not decide its gates')
           WHERE EXISTS ({_S_APPROVERS}) AND EXISTS ({_S_IS_OWNER});
          SELECT RAISE(ABORT, 'separation of duties: whoever asked for the gate may not decide it')
           WHERE EXISTS ({_S_APPROVERS}) AND EXISTS ({_S_ASKED});
        END""",
    """CREATE TRIGGER deputy_no_delete BEFORE DELETE ON deputy
       BEGIN SELECT RAISE(ABORT, 'a deputy''s window is never deleted; end it early with: cycle people deputy end');
       END""",
    f"""CREATE TRIGGER deputy_only_ends_early BEFORE UPDATE ON deputy
        WHEN {' OR '.join(f'NEW.{c} IS NOT OLD.{c}' for c in _FIXED)} OR NEW.ends_on >= OLD.ends_on
        BEGIN SELECT RAISE(ABORT, 'a deputy''s window only ends early, with: cycle people deputy end'); END""",
)

# --- PostgreSQL -----------------------------------------------------------------------------------

_OWNER = ("(SELECT rolsuper FROM pg_roles WHERE rolname = session_user) OR pg_has_role(session_user, "
          "(SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER')")
_TODAY = "to_char(now() AT TIME ZONE 'Europe/London', 'YYYY-MM-DD')"
_IS_ADMIN = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id WHERE r.role = 'admin' "
             "AND cycle_login(p.name) = cycle_login(session_user)")
_APPROVER_OF = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id WHERE r.role = 'approver' "
                "AND r.body = {body} AND cycle_login(p.name) = cycle_login({who})")
_APPROVERS = "SELECT 1 FROM person_role WHERE role = 'approver' AND body = NEW.body"
_IS_OWNER = "SELECT 1 FROM project WHERE id = NEW.project_id AND cycle_login(owner) = cycle_login(NEW.recorded_by)"
_ASKED = ("SELECT 1 FROM gate_request WHERE project_id = NEW.project_id AND gate = NEW.gate "
          "AND visit = NEW.visit AND cycle_login(requested_by) = cycle_login(NEW.recorded_by)")
_WAIVED = ("SELECT string_agg(criterion, ', ' ORDER BY id) FROM waiver WHERE project_id = NEW.project_id "
           "AND gate = NEW.gate AND visit = NEW.visit AND cycle_login(waived_by) = cycle_login(NEW.recorded_by)")
_DEPUTY_TODAY = (f"SELECT 1 FROM deputy d WHERE d.body = NEW.body AND cycle_login(d.deputy) = "
                 f"cycle_login(NEW.recorded_by) AND d.starts_on <= {_TODAY} AND d.ends_on >= {_TODAY} "
                 f"AND EXISTS ({_APPROVER_OF.format(body='NEW.body', who='d.approver')})")
_WINDOWS = ("SELECT string_agg(d.starts_on || ' to ' || d.ends_on || ' for ' || d.approver, ', ' ORDER BY d.starts_on) "
            "FROM deputy d WHERE d.body = NEW.body AND cycle_login(d.deputy) = cycle_login(NEW.recorded_by) "
            "AND d.ends_on >= d.starts_on")


def _postgres(schema: str) -> list[str]:
    path = f'SET search_path = "{schema}", pg_temp'
    return [
        # 42501 is insufficient_privilege: cycle reports it as "not permitted" (exit 6).
        f"""CREATE OR REPLACE FUNCTION cycle_decision_separation_of_duties() RETURNS trigger LANGUAGE plpgsql {path}
           AS $$
           DECLARE
             waived text;
             windows text;
           BEGIN
             IF NEW.recorded_by IS DISTINCT FROM session_user THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a decision must be recorded under the database '
                 || 'login that records it (' || session_user || '), not ' || NEW.recorded_by;
             END IF;
             waived := ({_WAIVED});
             IF waived IS NOT NULL THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || NEW.recorded_by
                 || ' waived ' || waived || ' of gate ' || NEW.gate || ' and may not decide it';
             END IF;
             IF EXISTS ({_APPROVERS}) THEN
               IF NOT EXISTS ({_APPROVER_OF.format(body='NEW.body', who='NEW.recorded_by')})
                  AND NOT EXISTS ({_DEPUTY_TODAY}) THEN
                 windows := ({_WINDOWS});
                 IF windows IS NOT NULL THEN
                   RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || NEW.recorded_by
                     || ' may decide for ' || NEW.body || ' only as a deputy (' || windows || '), not on '
                     || {_TODAY};
                 END IF;
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || NEW.recorded_by
                   || ' is not an approver for ' || NEW.body;
               END IF;
               IF EXISTS ({_IS_OWNER}) THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || NEW.recorded_by
                   || ' owns the project and may not decide its gates';
               END IF;
               IF cycle_owned_this_stage(NEW.project_id, NEW.recorded_by) THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || NEW.recorded_by
                   || ' owned the project during this stage and may not decide its gates';
               END IF;
               IF EXISTS ({_ASKED}) THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || NEW.recorded_by
                   || ' asked for gate ' || NEW.gate || ' and may not decide it';
               END IF;
             END IF;
             RETURN NEW;
           END $$""",
        f"""CREATE OR REPLACE FUNCTION cycle_deputy_change() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           BEGIN
             IF {_OWNER} THEN RETURN NEW; END IF;
             IF TG_OP = 'UPDATE' THEN
               IF (to_jsonb(NEW) - 'ends_on' - 'ended_by' - 'ended_at')
                  IS DISTINCT FROM (to_jsonb(OLD) - 'ends_on' - 'ended_by' - 'ended_at')
                  OR NEW.ends_on >= OLD.ends_on
                  OR NEW.ends_on < to_char((now() AT TIME ZONE 'Europe/London')::date - 1, 'YYYY-MM-DD') THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a deputy''s window only ends early, from today '
                   || 'on, with: cycle people deputy end';
               END IF;
               IF NEW.ended_by IS DISTINCT FROM session_user THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a deputy''s window must be ended under the '
                   || 'database login that ends it (' || session_user || ')';
               END IF;
             ELSE
               IF NEW.added_by IS DISTINCT FROM session_user OR NEW.ended_by IS NOT NULL THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a deputy must be added under the database '
                   || 'login that adds it (' || session_user || ')';
               END IF;
               IF NOT EXISTS ({_APPROVER_OF.format(body='NEW.body', who='NEW.approver')})
                  OR cycle_login(NEW.deputy) = cycle_login(NEW.approver)
                  OR NOT EXISTS (SELECT 1 FROM person p WHERE cycle_login(p.name) = cycle_login(NEW.deputy))
                  OR NEW.ends_on < NEW.starts_on THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a deputy stands in for an approver of the body, '
                   || 'is a known person other than them, and has a window of at least a day';
               END IF;
               IF EXISTS (SELECT 1 FROM deputy d WHERE d.body = NEW.body
                          AND cycle_login(d.approver) = cycle_login(NEW.approver) AND d.ends_on >= d.starts_on
                          AND d.starts_on <= NEW.ends_on AND d.ends_on >= NEW.starts_on) THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'deputy windows of ' || NEW.approver || ' for '
                   || NEW.body || ' may not overlap';
               END IF;
             END IF;
             IF cycle_login(session_user) <> cycle_login(NEW.approver) AND NOT EXISTS ({_IS_ADMIN}) THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only ' || NEW.approver || ' or an admin may '
                 || 'add or end a deputy for them, and ' || session_user || ' is neither';
             END IF;
             RETURN NEW;
           END $$""",
        """CREATE TRIGGER deputy_by_approver_or_admin BEFORE INSERT OR UPDATE ON deputy
           FOR EACH ROW EXECUTE FUNCTION cycle_deputy_change()""",
        """CREATE CONSTRAINT TRIGGER deputy_on_record AFTER INSERT OR UPDATE OR DELETE ON deputy
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cycle_row_on_record()""",
        """CREATE TRIGGER deputy_no_truncate BEFORE TRUNCATE ON deputy
           FOR EACH STATEMENT EXECUTE FUNCTION cycle_no_truncate()""",
        """DO $$
           DECLARE r record;
           BEGIN
             FOR r IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = 'deputy'
                        AND a.privilege_type IN ('DELETE', 'TRUNCATE') AND a.grantee <> c.relowner
             LOOP
               EXECUTE 'REVOKE DELETE, TRUNCATE ON deputy FROM '
                 || CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                         ELSE quote_ident((SELECT rolname FROM pg_roles WHERE oid = r.grantee)) END;
             END LOOP;
           END $$""",
    ]


def upgrade() -> None:
    op.create_table(
        "deputy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("approver", sa.String(), nullable=False),
        sa.Column("deputy", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("starts_on", sa.String(), nullable=False),
        sa.Column("ends_on", sa.String(), nullable=False),
        sa.Column("added_by", sa.String(), nullable=False),
        sa.Column("added_at", sa.String(), nullable=False),
        sa.Column("ended_by", sa.String(), nullable=True),
        sa.Column("ended_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deputy_approver", "deputy", ["approver"])
    op.create_index("ix_deputy_deputy", "deputy", ["deputy"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE:
            bind.exec_driver_sql(statement)
    elif bind.dialect.name == "postgresql":
        schema = str(bind.exec_driver_sql("SELECT current_schema()").scalar())
        for statement in _postgres(schema):
            bind.exec_driver_sql(statement.replace("%", "%%"))


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
