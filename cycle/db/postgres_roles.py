"""The SQL an administrator runs to set a PostgreSQL server up for a team: `cycle db roles-sql`.

Two roles. The owner owns the database, its schema and every table, and runs `cycle init`
(migrations); nobody works as it day to day. The application role owns nothing, so it cannot drop
or disable a trigger: each person logs in as a member of it, under their own name, and cycle
records that login (session_user) as the actor. The application role may read and write what the
engine writes, each change with the audit entry that records it (triggers, migration 0011); the
migrations take UPDATE, DELETE and TRUNCATE on the audit log and the other append-only tables away
from every role but the owner, so those are read-and-append only.
"""

from __future__ import annotations

import re

from cycle.errors import BadInput
from cycle.governance import identity

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _plain(name: str, what: str) -> str:
    if not _IDENT.match(name):
        raise BadInput(f"{what} {name!r} must be lower-case letters, digits and _ (a plain SQL name)")
    return name


def _quoted(given: str) -> str:
    """A person's canonical login (cycle.governance.identity), as a quoted identifier: it takes every letter a
    login may have, up to PostgreSQL's 63 bytes."""
    if not identity.is_login(given):
        raise BadInput(f"login {given!r} must be a person's name as cycle knows it ({identity.RULE})")
    login = identity.login(given)
    if len(login.encode()) > 63:
        raise BadInput(f"login {login!r} is longer than PostgreSQL's 63 bytes for a role name; choose a shorter one")
    return '"' + login + '"'


def setup_sql(database: str = "cycle", owner: str = "cycle_owner", app: str = "cycle_app",
              people: tuple[str, ...] = ()) -> str:
    """The script: roles, one login per person, the database, and the privileges."""
    database, owner, app = _plain(database, "database"), _plain(owner, "owner role"), _plain(app, "application role")
    quoted = dict.fromkeys(_quoted(p) for p in people)  # "Alice" and "alice" are one login
    logins = "".join(f"CREATE ROLE {q} LOGIN IN ROLE {app};\n" for q in quoted) or (
        f"-- CREATE ROLE \"alice\" LOGIN IN ROLE {app};   (one per person: cycle db roles-sql --person alice)\n")
    return f"""\
-- cycle on PostgreSQL: roles and a database for a team. Run as a superuser, e.g.:
--   cycle db roles-sql --person alice --person bob > cycle-roles.sql
--   psql -v ON_ERROR_STOP=1 -d postgres -f cycle-roles.sql
-- then create the tables as the owner:
--   CYCLE_DATABASE_URL=postgresql+psycopg://{owner}@HOST/{database} cycle init
-- and everyone else connects as themselves:
--   CYCLE_DATABASE_URL=postgresql+psycopg://alice@HOST/{database}

-- The owner owns the database, its schema and its tables, and runs `cycle init` (migrations).
-- Nobody works as it day to day. Give it a password in psql with: \\password {owner}
CREATE ROLE {owner} LOGIN;

-- The application role owns nothing, so it cannot drop or disable a trigger. People log in as
-- members of it, each under their own name: cycle records that name (session_user) as the actor.
-- Give each a password with \\password NAME, or use your server's usual authentication.
CREATE ROLE {app} NOLOGIN;
{logins}
CREATE DATABASE {database} OWNER {owner};
\\connect {database}
REVOKE ALL ON DATABASE {database} FROM PUBLIC;
GRANT CONNECT ON DATABASE {database} TO {app};
ALTER SCHEMA public OWNER TO {owner};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {app};

-- Every table the owner creates, now and in later upgrades, is open to the application role for
-- reading and writing. cycle's migrations then revoke UPDATE, DELETE and TRUNCATE on audit_entry,
-- decision, evidence and the other append-only tables from every role but the owner, and the
-- database refuses any change to a table the gates read that no audit entry of the same transaction,
-- under the login making it, records (see docs/records.md in cycle's source).
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO {app};
"""
