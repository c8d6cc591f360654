"""PostgreSQL: the rest of cycle's rules on who may change what a gate reads, in the database.

Revision 0011 makes every change carry an audit entry naming the login that made it; an entry is
not a permission. A team member who writes the entry themselves could still do, under their own
name, what cycle lets only a governance lead do: install a workflow version with no criteria and
move a project onto it, or waive a criterion. And the rule that whoever owned a project during its
current stage may not decide its gate read only `project.set` entries since the latest entry with a
stage: an entry of another kind, or one giving a stage, hid an earlier owner. So, on PostgreSQL:

- a workflow version is installed only by a governance lead or an admin (anyone while nobody holds
  either role), as `cycle workflow install` requires;
- a project's workflow never changes, and the version it runs on is a governance lead's to change
  (anyone's while nobody holds the governance-lead or admin role), as `cycle project set
  --workflow-version` requires;
- a waiver is recorded only by a governance lead, under their own login, for the project's current
  visit, and never by one who has owned the project during this stage, as `cycle gate waive` requires;
- whoever owned a project during its current visit to its stage is read from the row images of its
  audit entries (every owner the project row had in that visit), as well as from `project.set` entries;
- every function cycle's triggers run reads cycle's own schema whatever search_path a session sets.

The role that owns the tables (and a superuser), which runs `cycle init` and could switch any trigger
off, is not held to these rules: an upgrade pins projects and installs workflows as it.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_OWNER = ("(SELECT rolsuper FROM pg_roles WHERE rolname = session_user) OR pg_has_role(session_user, "
          "(SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER')")
_HOLDS = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id WHERE r.role IN ({roles}) "
          "AND cycle_login(p.name) = cycle_login(session_user)")
_HOLDERS = ("SELECT string_agg(DISTINCT p.name, ', ') FROM person_role r JOIN person p ON p.id = r.person_id "
            "WHERE r.role IN ({roles})")
_LEAD = "'governance-lead'"
_LEAD_OR_ADMIN = "'governance-lead', 'admin'"

# Functions of earlier revisions that read tables by unqualified name.
_EARLIER = ("cycle_audit_append_only()", "cycle_audit_actor_is_login()", "cycle_decision_separation_of_duties()",
            "cycle_project_authority_fields()", "cycle_workflow_version_append_only()",
            "cycle_workflow_version_insert()")


def _postgres(schema: str) -> list[str]:
    path = f'SET search_path = "{schema}", pg_temp'
    return [
        # Every owner the project row had in its current visit: in the images of its entries (revision 0011 on),
        # and, for older entries, in project.set entries since the latest entry that moved it.
        f"""CREATE OR REPLACE FUNCTION cycle_owned_this_stage(target integer, who text) RETURNS boolean
           LANGUAGE plpgsql STABLE {path} AS $$
           DECLARE
             k text;
             now_owner text;
             now_visit integer;
             since integer;
             entry record;
             change jsonb;
             image jsonb;
           BEGIN
             SELECT p.key, p.owner, p.visit INTO k, now_owner, now_visit FROM project p WHERE p.id = target;
             IF cycle_login(now_owner) = cycle_login(who) THEN
               RETURN true;
             END IF;
             FOR entry IN SELECT a.payload FROM audit_entry a
                          WHERE a.project = k AND strpos(a.payload, '{{"id":' || target || ',"row":{{') > 0 LOOP
               BEGIN
                 FOR image IN SELECT i FROM jsonb_array_elements(entry.payload::jsonb -> 'rows') i
                              WHERE i ->> 'table' = 'project' AND i ->> 'id' = target::text LOOP
                   IF (image -> 'row' ->> 'visit') = now_visit::text
                      AND cycle_login(image -> 'row' ->> 'owner') = cycle_login(who) THEN
                     RETURN true;
                   END IF;
                   IF jsonb_typeof(image -> 'was') = 'object' AND image -> 'was' ? 'owner'
                      AND coalesce(image -> 'was' ->> 'visit', image -> 'row' ->> 'visit') = now_visit::text
                      AND cycle_login(image -> 'was' ->> 'owner') = cycle_login(who) THEN
                     RETURN true;
                   END IF;
                 END LOOP;
               EXCEPTION WHEN others THEN
                 NULL;  -- a payload that is not JSON names nobody (audit verify reports it)
               END;
             END LOOP;
             SELECT COALESCE(MAX(a.seq), 0) INTO since FROM audit_entry a
               WHERE a.project = k AND a.to_stage IS NOT NULL;
             FOR entry IN SELECT a.payload FROM audit_entry a
                          WHERE a.project = k AND a.action = 'project.set' AND a.seq > since LOOP
               BEGIN
                 change := entry.payload::jsonb -> 'changes' -> 'owner';
               EXCEPTION WHEN others THEN
                 change := NULL;
               END;
               IF jsonb_typeof(change) = 'array' AND cycle_login(change ->> 0) = cycle_login(who) THEN
                 RETURN true;
               END IF;
             END LOOP;
             RETURN false;
           END $$""",
        # 42501 is insufficient_privilege: cycle reports it as "not permitted" (exit 6).
        f"""CREATE OR REPLACE FUNCTION cycle_workflow_install_by_lead() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           DECLARE holders text;
           BEGIN
             IF {_OWNER} THEN RETURN NEW; END IF;
             holders := ({_HOLDERS.format(roles=_LEAD_OR_ADMIN)});
             IF holders IS NOT NULL AND NOT EXISTS ({_HOLDS.format(roles=_LEAD_OR_ADMIN)}) THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only a governance lead or an admin may install a '
                 || 'workflow (' || holders || '), and ' || session_user || ' is not one';
             END IF;
             RETURN NEW;
           END $$""",
        """CREATE TRIGGER workflow_version_by_lead BEFORE INSERT ON workflow_version
           FOR EACH ROW EXECUTE FUNCTION cycle_workflow_install_by_lead()""",
        f"""CREATE OR REPLACE FUNCTION cycle_project_workflow_by_lead() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           DECLARE leads text;
           BEGIN
             IF {_OWNER} THEN RETURN NEW; END IF;
             IF NEW.workflow IS DISTINCT FROM OLD.workflow THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a project''s workflow does not change ('
                 || OLD.key || ' runs on ' || OLD.workflow || '); a governance lead moves it to another version '
                 || 'of it';
             END IF;
             IF EXISTS (SELECT 1 FROM person_role WHERE role IN ({_LEAD_OR_ADMIN}))
                AND NOT EXISTS ({_HOLDS.format(roles=_LEAD)}) THEN
               leads := coalesce(({_HOLDERS.format(roles=_LEAD)}), 'nobody is one yet');
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only a governance lead may move ' || OLD.key
                 || ' to another version of its workflow (' || leads || '), and ' || session_user || ' is not one';
             END IF;
             RETURN NEW;
           END $$""",
        """CREATE TRIGGER project_workflow_by_lead BEFORE UPDATE OF workflow, workflow_version ON project
           FOR EACH ROW WHEN (OLD.workflow IS DISTINCT FROM NEW.workflow
                              OR OLD.workflow_version IS DISTINCT FROM NEW.workflow_version)
           EXECUTE FUNCTION cycle_project_workflow_by_lead()""",
        f"""CREATE OR REPLACE FUNCTION cycle_waiver_by_lead() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           DECLARE k text;
           BEGIN
             IF {_OWNER} THEN RETURN NEW; END IF;
             IF NEW.waived_by IS DISTINCT FROM session_user THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a waiver must be recorded under the database '
                 || 'login that records it (' || session_user || '), not ' || coalesce(NEW.waived_by, 'nobody');
             END IF;
             IF NOT EXISTS ({_HOLDS.format(roles=_LEAD)}) THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only a governance lead may waive a criterion, and '
                 || session_user || ' is not one';
             END IF;
             SELECT p.key INTO k FROM project p WHERE p.id = NEW.project_id
               AND p.visit = NEW.visit AND p.cycle = NEW.cycle;
             IF k IS NULL THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a waiver is for its project''s current visit to '
                 || 'its stage and current cycle';
             END IF;
             IF cycle_owned_this_stage(NEW.project_id, session_user) THEN
               RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'separation of duties: ' || session_user
                 || ' has owned ' || k || ' during this stage and may not waive its criteria';
             END IF;
             RETURN NEW;
           END $$""",
        """CREATE TRIGGER waiver_by_lead BEFORE INSERT ON waiver
           FOR EACH ROW EXECUTE FUNCTION cycle_waiver_by_lead()""",
        *(f"ALTER FUNCTION {f} {path}" for f in _EARLIER),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite has no logins: `audit verify` is what checks who did what there
    schema = str(bind.exec_driver_sql("SELECT current_schema()").scalar())
    for statement in _postgres(schema):
        bind.exec_driver_sql(statement.replace("%", "%%"))


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
