"""Governance rules the database enforces: one login however it is spelt, who may decide a gate,
and who may change the body that decides it.

cycle's own code (cycle/authority.py) checks all of this first, with a friendlier message and an
audit entry for the refusal; these triggers stop a hand-written statement that skips cycle.

- Names are compared as logins (cycle/identity.py): on PostgreSQL through cycle_login(name),
  lower(normalize(name, NFKC)), so "Chair" and "chair" are one person.
- A decision is refused from whoever waived a criterion of its gate in this visit to the stage
  (always), and, for a body with approvers on record, from whoever has owned the project at any
  time since it entered its current stage, as read from the audit log's `project.set` entries
  since the entry that moved it there (before, the trigger knew only the owner now).
- On PostgreSQL, a project's accountable body (which decides who may pass its gates) may be
  changed only by a governance lead, and not by one who has owned the project during this stage,
  once anyone holds any role (before that, nobody can be checked, as in cycle's rule).

SQLite has no logins: its decision triggers apply the same rules to the decision's recorder (with
SQLite's lower(), which folds only ASCII), except the earlier owners: a SQLite trigger that read
audit_entry would stop any later rebuild of that table (as 0008's), and `audit verify` names a
decision no entry recorded anyway. Anyone who can write the file can drop them.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# --- SQLite ---------------------------------------------------------------------------------------

_S_APPROVERS = "SELECT 1 FROM person_role WHERE role = 'approver' AND body = NEW.body"
_S_IS_APPROVER = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id "
                  "WHERE r.role = 'approver' AND r.body = NEW.body AND lower(p.name) = lower(NEW.recorded_by)")
_S_IS_OWNER = "SELECT 1 FROM project WHERE id = NEW.project_id AND lower(owner) = lower(NEW.recorded_by)"
_S_ASKED = ("SELECT 1 FROM gate_request WHERE project_id = NEW.project_id AND gate = NEW.gate "
            "AND visit = NEW.visit AND lower(requested_by) = lower(NEW.recorded_by)")
_S_WAIVED = ("SELECT 1 FROM waiver WHERE project_id = NEW.project_id AND gate = NEW.gate "
             "AND visit = NEW.visit AND lower(waived_by) = lower(NEW.recorded_by)")

SQLITE = (
    "DROP TRIGGER IF EXISTS decision_separation_of_duties_insert",
    "DROP TRIGGER IF EXISTS decision_separation_of_duties_update",
    *(f"""CREATE TRIGGER decision_separation_of_duties_{event.lower()} BEFORE {event} ON decision
        BEGIN
          SELECT RAISE(ABORT, 'separation of duties: whoever waived a criterion of the gate may not decide it')
           WHERE EXISTS ({_S_WAIVED});
          SELECT RAISE(ABORT, 'separation of duties: the decision''s recorder is not an approver for its body')
           WHERE EXISTS ({_S_APPROVERS}) AND NOT EXISTS ({_S_IS_APPROVER});
          SELECT RAISE(ABORT, 'separation of duties: the project''s owner may not decide its gates')
           WHERE EXISTS ({_S_APPROVERS}) AND EXISTS ({_S_IS_OWNER});
          SELECT RAISE(ABORT, 'separation of duties: whoever asked for the gate may not decide it')
           WHERE EXISTS ({_S_APPROVERS}) AND EXISTS ({_S_ASKED});
        END"""
      for event in ("INSERT", "UPDATE")),
)

# --- PostgreSQL -----------------------------------------------------------------------------------

_APPROVERS = "SELECT 1 FROM person_role WHERE role = 'approver' AND body = NEW.body"
_IS_APPROVER = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id WHERE r.role = 'approver' "
                "AND r.body = NEW.body AND cycle_login(p.name) = cycle_login(NEW.recorded_by)")
_IS_OWNER = "SELECT 1 FROM project WHERE id = NEW.project_id AND cycle_login(owner) = cycle_login(NEW.recorded_by)"
_ASKED = ("SELECT 1 FROM gate_request WHERE project_id = NEW.project_id AND gate = NEW.gate "
          "AND visit = NEW.visit AND cycle_login(requested_by) = cycle_login(NEW.recorded_by)")
_WAIVED = ("SELECT string_agg(criterion, ', ' ORDER BY id) FROM waiver WHERE project_id = NEW.project_id "
           "AND gate = NEW.gate AND visit = NEW.visit AND cycle_login(waived_by) = cycle_login(NEW.recorded_by)")

# 42501 is insufficient_privilege: cycle reports it as "not permitted" (exit 6).
POSTGRES = (
    # normalize() needs a UTF8 database; elsewhere names are folded as lower() can.
    """CREATE OR REPLACE FUNCTION cycle_login(name text) RETURNS text LANGUAGE sql STABLE AS $$
         SELECT CASE WHEN current_setting('server_encoding') = 'UTF8' THEN lower(normalize(name, NFKC))
                     ELSE lower(name) END
       $$""",
    # Whether `who` has owned the project at any time since it entered its current stage: its owner
    # now, or a former owner named by a project.set entry since the entry that moved it there.
    """CREATE OR REPLACE FUNCTION cycle_owned_this_stage(target integer, who text) RETURNS boolean
       LANGUAGE plpgsql STABLE AS $$
       DECLARE
         k text;
         now_owner text;
         since integer;
         entry record;
         change jsonb;
       BEGIN
         SELECT p.key, p.owner INTO k, now_owner FROM project p WHERE p.id = target;
         IF cycle_login(now_owner) = cycle_login(who) THEN
           RETURN true;
         END IF;
         SELECT COALESCE(MAX(a.seq), 0) INTO since FROM audit_entry a WHERE a.project = k AND a.to_stage IS NOT NULL;
         FOR entry IN SELECT a.payload FROM audit_entry a
                      WHERE a.project = k AND a.action = 'project.set' AND a.seq > since LOOP
           BEGIN
             change := entry.payload::jsonb -> 'changes' -> 'owner';
           EXCEPTION WHEN others THEN
             change := NULL;  -- a payload that is not JSON names nobody (audit verify reports it)
           END;
           IF jsonb_typeof(change) = 'array' AND cycle_login(change ->> 0) = cycle_login(who) THEN
             RETURN true;
           END IF;
         END LOOP;
         RETURN false;
       END $$""",
    f"""CREATE OR REPLACE FUNCTION cycle_decision_separation_of_duties() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
         waived text;
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
           IF NOT EXISTS ({_IS_APPROVER}) THEN
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
    """CREATE OR REPLACE FUNCTION cycle_project_authority_fields() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NOT EXISTS (SELECT 1 FROM person_role) THEN
           RETURN NEW;  -- no governance set up yet: nobody can be checked
         END IF;
         IF NOT EXISTS (SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id
                        WHERE r.role = 'governance-lead' AND cycle_login(p.name) = cycle_login(session_user)) THEN
           RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only a governance lead may change the accountable '
             || 'body of ' || OLD.key || ', and ' || session_user || ' is not one';
         END IF;
         IF cycle_owned_this_stage(OLD.id, session_user) THEN
           RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || session_user
             || ' has owned ' || OLD.key || ' during this stage and may not change its accountable body';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER project_authority_fields BEFORE UPDATE OF accountable_body ON project
       FOR EACH ROW WHEN (OLD.accountable_body IS DISTINCT FROM NEW.accountable_body)
       EXECUTE FUNCTION cycle_project_authority_fields()""",
)


def upgrade() -> None:
    bind = op.get_bind()
    for statement in {"sqlite": SQLITE, "postgresql": POSTGRES}.get(bind.dialect.name, ()):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
