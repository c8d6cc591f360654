"""Deputies' days compared as dates, and the longest window (issue 19 part 1, after review).

Revision 0025's rules compared a window's days as text and let a window of any length in; the CLI refuses one
longer than 366 days (cycle.governance.deputies.LONGEST) and `audit verify` names one. Now the database holds
the same rule:

- A new window's days are each written YYYY-MM-DD and are real days, the last not before the first, and the
  window is at most 366 days long, both ends counted (as `people deputy add`); a window ended early gets a real
  last day, earlier than the one it had. Days are compared as dates, on PostgreSQL as on SQLite.
- The decision triggers compare the day of the decision with the window's days as dates; a day written oddly
  (by the owner on PostgreSQL, or in the file on SQLite) lets nobody decide.

On PostgreSQL: `cycle_day(text)` reads a day written YYYY-MM-DD as a date (NULL for anything else); the
deputy trigger function is replaced, and the decision one by revision 0025's with its days read by cycle_day
(the triggers stay). On SQLite: the decision trigger (revision 0025's, its days read by date()) and
`deputy_only_ends_early` are made again, and `deputy_days_are_dates` refuses a new window with odd days or past
the longest window (the file has no logins, so who added it is for `audit verify`, as before).

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def _revision_0025() -> ModuleType:
    """Revision 0025's module, whose decision triggers this one takes with their deputy days compared as dates."""
    spec = importlib.util.spec_from_file_location("revision_0025", Path(__file__).with_name("0025_deputies.py"))
    assert spec is not None and spec.loader is not None
    found = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(found)
    return found


_R0025 = _revision_0025()


def _as_dates(statement: str, changes: dict[str, str]) -> str:
    """Revision 0025's `statement` with each of its comparisons of days as text (a key) made as dates (its value)."""
    for old, new in changes.items():
        assert old in statement, old
        statement = statement.replace(old, new)
    return statement


#: cycle.governance.deputies.LONGEST when this revision was written: a window is 1 to 366 days, both counted.
LONGEST = 366

# --- SQLite ---------------------------------------------------------------------------------------


def _s_day(column: str) -> str:
    """`column` as a date SQLite reads (normalised: 2027-02-30 is 2027-03-02), NULL if it is not one."""
    return f"date({column}, '+0 days')"


def _s_is_day(column: str) -> str:
    """Whether `column` is a real day written YYYY-MM-DD."""
    return f"{_s_day(column)} IS {column}"


_S_IS_DEPUTY = (f"SELECT 1 FROM deputy d WHERE d.body = NEW.body AND lower(d.deputy) = lower(NEW.recorded_by) "
                f"AND {_s_day('d.starts_on')} <= date(NEW.recorded_at, '+1 hour') "
                f"AND {_s_day('d.ends_on')} >= date(NEW.recorded_at) "
                f"AND EXISTS (SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id "
                f"WHERE r.role = 'approver' AND r.body = NEW.body AND lower(p.name) = lower(d.approver))")
_FIXED = ("id", "approver", "deputy", "body", "starts_on", "added_by", "added_at")
_S_ODD = (f"a deputy''s window runs from one day to another, each written YYYY-MM-DD, for 1 to {LONGEST} days; "
          f"add one with: cycle people deputy add")
_S_EARLIER = f"COALESCE({_s_is_day('NEW.ends_on')} AND julianday(NEW.ends_on) < julianday(OLD.ends_on), 0)"

SQLITE = (
    "DROP TRIGGER decision_separation_of_duties_insert",
    _as_dates(_R0025.SQLITE[1], {_R0025._S_IS_DEPUTY: _S_IS_DEPUTY}),
    "DROP TRIGGER deputy_only_ends_early",
    f"""CREATE TRIGGER deputy_only_ends_early BEFORE UPDATE ON deputy
        WHEN {' OR '.join(f'NEW.{c} IS NOT OLD.{c}' for c in _FIXED)} OR NOT {_S_EARLIER}
        BEGIN SELECT RAISE(ABORT, 'a deputy''s window only ends early, with: cycle people deputy end'); END""",
    f"""CREATE TRIGGER deputy_days_are_dates BEFORE INSERT ON deputy
        WHEN NOT COALESCE({_s_is_day('NEW.starts_on')} AND {_s_is_day('NEW.ends_on')}
                          AND julianday(NEW.ends_on) - julianday(NEW.starts_on) BETWEEN 0 AND {LONGEST - 1}, 0)
        BEGIN SELECT RAISE(ABORT, '{_S_ODD}'); END""",
)

# --- PostgreSQL -----------------------------------------------------------------------------------

_OWNER = ("(SELECT rolsuper FROM pg_roles WHERE rolname = session_user) OR pg_has_role(session_user, "
          "(SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER')")
_TODAY = "(now() AT TIME ZONE 'Europe/London')::date"
_IS_ADMIN = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id WHERE r.role = 'admin' "
             "AND cycle_login(p.name) = cycle_login(session_user)")
_APPROVER_OF = ("SELECT 1 FROM person_role r JOIN person p ON p.id = r.person_id WHERE r.role = 'approver' "
                "AND r.body = {body} AND cycle_login(p.name) = cycle_login({who})")
_DEPUTY_TODAY = (f"SELECT 1 FROM deputy d WHERE d.body = NEW.body AND cycle_login(d.deputy) = "
                 f"cycle_login(NEW.recorded_by) AND cycle_day(d.starts_on) <= {_TODAY} "
                 f"AND cycle_day(d.ends_on) >= {_TODAY} "
                 f"AND EXISTS ({_APPROVER_OF.format(body='NEW.body', who='d.approver')})")
_WINDOWS = ("SELECT string_agg(d.starts_on || ' to ' || d.ends_on || ' for ' || d.approver, ', ' "
            "ORDER BY cycle_day(d.starts_on)) FROM deputy d WHERE d.body = NEW.body "
            "AND cycle_login(d.deputy) = cycle_login(NEW.recorded_by) "
            "AND cycle_day(d.ends_on) >= cycle_day(d.starts_on)")


def _postgres(schema: str) -> list[str]:
    path = f'SET search_path = "{schema}", pg_temp'
    return [
        # A day written YYYY-MM-DD as a date; NULL for anything else (2027-1-5, 2027-01-05T00:00, 2027-02-30).
        f"""CREATE OR REPLACE FUNCTION cycle_day(written text) RETURNS date LANGUAGE plpgsql IMMUTABLE {path} AS $$
           BEGIN
             IF written !~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$' THEN
               RETURN NULL;
             END IF;
             RETURN written::date;
           EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
             RETURN NULL;
           END $$""",
        _as_dates(_R0025._postgres(schema)[0], {_R0025._DEPUTY_TODAY: _DEPUTY_TODAY, _R0025._WINDOWS: _WINDOWS}),
        # 42501 is insufficient_privilege: cycle reports it as "not permitted" (exit 6).
        f"""CREATE OR REPLACE FUNCTION cycle_deputy_change() RETURNS trigger LANGUAGE plpgsql {path} AS $$
           DECLARE
             first_day date := cycle_day(NEW.starts_on);
             last_day date := cycle_day(NEW.ends_on);
           BEGIN
             IF {_OWNER} THEN RETURN NEW; END IF;
             IF TG_OP = 'UPDATE' THEN
               IF (to_jsonb(NEW) - 'ends_on' - 'ended_by' - 'ended_at')
                  IS DISTINCT FROM (to_jsonb(OLD) - 'ends_on' - 'ended_by' - 'ended_at')
                  OR NOT COALESCE(last_day < cycle_day(OLD.ends_on) AND last_day >= {_TODAY} - 1, false) THEN
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
               IF first_day IS NULL OR last_day IS NULL THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a deputy''s window runs from one day to '
                   || 'another, each written YYYY-MM-DD, not ' || quote_nullable(NEW.starts_on) || ' to '
                   || quote_nullable(NEW.ends_on);
               END IF;
               IF last_day - first_day >= {LONGEST} THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a deputy''s window is at most {LONGEST} days ('
                   || NEW.starts_on || ' to ' || NEW.ends_on || ' is ' || (last_day - first_day + 1) || '); for '
                   || 'longer, an admin grants the approver role';
               END IF;
               IF NOT EXISTS ({_APPROVER_OF.format(body='NEW.body', who='NEW.approver')})
                  OR cycle_login(NEW.deputy) = cycle_login(NEW.approver)
                  OR NOT EXISTS (SELECT 1 FROM person p WHERE cycle_login(p.name) = cycle_login(NEW.deputy))
                  OR last_day < first_day THEN
                 RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'a deputy stands in for an approver of the body, '
                   || 'is a known person other than them, and has a window of at least a day';
               END IF;
               IF EXISTS (SELECT 1 FROM deputy d WHERE d.body = NEW.body
                          AND cycle_login(d.approver) = cycle_login(NEW.approver)
                          AND cycle_day(d.ends_on) >= cycle_day(d.starts_on)
                          AND cycle_day(d.starts_on) <= last_day AND cycle_day(d.ends_on) >= first_day) THEN
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
    ]


def upgrade() -> None:
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
