"""The database's schema: Alembic migrations in cycle/migrations, applied by `cycle init`.

An upgrade runs every pending migration in one transaction, under the same lock as every write
(BEGIN IMMEDIATE on SQLite, the audit chain's advisory lock on PostgreSQL), so no command writes
half-way through one and two `cycle init` at once upgrade once. A database made before cycle had
migrations (its tables exist, `alembic_version` does not) is adopted: its tables are compared with
the tables each revision makes, and it is stamped at the revision they match before the rest run (where
several revisions made the same tables, the oldest whose later migrations apply cleanly).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

from cycle.errors import BadInput, DatabaseRefused, NoDatabase, NotPermitted, SchemaBehind

if TYPE_CHECKING:
    from .store import Store

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection: Any = None, actor: str | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    if actor is not None:
        cfg.attributes["actor"] = actor  # who a migration's own audit entries name (on PostgreSQL: the login)
    return cfg


@cache
def revision_ids() -> list[str]:
    """The revisions, oldest first, from the file names (NNNN_what.py): no need to import Alembic to check."""
    return sorted(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


@cache
def revisions() -> list[tuple[str, str]]:
    """(revision, what it does), oldest first, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    return [(s.revision, (s.doc or "").splitlines()[0]) for s in reversed(list(script.walk_revisions()))]


def head() -> str:
    return revision_ids()[-1]


@dataclass
class Status:
    """Where a database stands: its revision (None before `cycle init`), and what an upgrade would do."""

    database: str
    current: str | None
    head: str
    pending: list[str] = field(default_factory=list)
    made_before_migrations: bool = False  # tables from before cycle had migrations, not yet adopted

    @property
    def initialised(self) -> bool:
        return self.current is not None or self.made_before_migrations

    @property
    def behind(self) -> bool:
        return bool(self.pending)

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "current": self.current, "head": self.head,
                "behind": self.behind, "pending": self.pending,
                "made_before_migrations": self.made_before_migrations}


@dataclass
class Upgrade:
    """What `init` did: created the schema, upgraded it (from a revision, or adopted an older database), or nothing."""

    database: str
    before: str | None
    after: str
    created: bool
    adopted: str | None = None  # the revision an older database's tables matched
    notes: list[str] = field(default_factory=list)  # what the data step did (workflows installed, projects pinned)

    @property
    def changed(self) -> bool:
        return self.created or self.before != self.after or self.adopted is not None


def _current(conn: Any) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return None if found is None else str(found)


def _cycle_tables(conn: Any) -> dict[str, set[str]]:
    found = inspect(conn)
    return {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names() if t != "alembic_version"}


def _pending(current: str | None) -> list[str]:
    ids = revision_ids()
    if current is None:
        return ids
    if current not in ids:
        raise BadInput(f"the database is at schema revision {current}, which this version of cycle does not know "
                       f"(a newer cycle upgraded it); upgrade cycle itself")
    return ids[ids.index(current) + 1:]


def status(store: Store) -> Status:
    """Read where the database stands; never changes anything."""
    where = store.describe()
    if store.sqlite_path is not None and not store.sqlite_path.exists():
        return Status(where, None, head(), _pending(None))
    with store.connect() as conn:
        current = _current(conn)
        legacy = current is None and inspect(conn).has_table("audit_entry")
    return Status(where, current, head(), _pending(current), legacy)


def require(store: Store) -> Store:
    """`store`, if its database is set up and its schema is the one this cycle needs."""
    st = status(store)
    if not st.initialised:
        raise NoDatabase(store.describe())
    if st.behind:
        raise SchemaBehind(store.describe(), st.current, st.head)
    return store


@cache
def _tables_by_revision() -> list[tuple[str, dict[str, set[str]]]]:
    """The tables and columns each revision leaves behind, found by applying them to a scratch SQLite file."""
    from alembic import command
    from sqlalchemy import create_engine

    out = []
    with tempfile.TemporaryDirectory(prefix="cycle-schema-") as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        try:
            with engine.begin() as conn:
                for rev, _ in revisions():
                    command.upgrade(_config(conn), rev)
                    out.append((rev, _cycle_tables(conn)))
        finally:
            engine.dispose()
    return out


def _matching(conn: Any, where: str) -> list[str]:
    """The revisions whose tables an older database's tables match exactly, oldest first (several revisions
    change only triggers and functions, so several can match); BadInput when none does."""
    tables = _cycle_tables(conn)
    found = [rev for rev, expected in _tables_by_revision() if tables == expected]
    if found:
        return found
    near = min(_tables_by_revision(), key=lambda r: len(set(r[1]) ^ set(tables)))[1]
    extra, missing = sorted(set(tables) - set(near)), sorted(set(near) - set(tables))
    columns = sorted(f"{t}.{c}" for t in set(tables) & set(near) for c in tables[t] ^ near[t])
    raise BadInput(
        f"the database at {where} was made before cycle had migrations, and its tables match no revision "
        f"(unexpected tables: {', '.join(extra) or 'none'}; missing: {', '.join(missing) or 'none'}; "
        f"differing columns: {', '.join(columns) or 'none'}). Nothing was changed. Back it up, then either "
        f"restore it to a database made by cycle or load its data into a new one made with: cycle init")


def _adopt(conn: Any, where: str, target: str | None, actor: str | None) -> str:
    """Stamp an older database at the revision it is at, then run the rest. Of the revisions its tables match,
    the oldest whose later migrations apply cleanly is the one it is at: a migration already applied fails on
    the triggers it made ("already exists"), and is rolled back to try the next (a database that lost its
    `alembic_version` table is adopted so)."""
    from alembic import command
    from sqlalchemy.exc import DBAPIError

    candidates = _matching(conn, where)
    for n, rev in enumerate(candidates):
        attempt = conn.begin_nested()
        try:
            command.stamp(_config(conn), rev)
            if _pending(rev):
                command.upgrade(_config(conn, actor), target or "head")
        except DBAPIError as exc:
            attempt.rollback()
            if n + 1 == len(candidates) or "already exists" not in str(exc.orig):
                raise
            continue
        attempt.commit()
        return rev
    raise AssertionError("unreachable: the last candidate either returned or raised")


#: What `cycle init` does once the migrations have run, in their transaction (cycle.workflow.install.init): given the
#: connection, what the upgrade did, and the tables there were before it, it installs the workflows and appends
#: the upgrade's audit entries (adding to Upgrade.notes what it prints).
AfterUpgrade = Callable[[Any, "Upgrade", "dict[str, set[str]]"], None]


def upgrade(store: Store, target: str | None = None, *, actor: str | None = None,
            after: AfterUpgrade | None = None) -> Upgrade:
    """Create the schema, or bring it up to the newest revision (or `target`); then `after`, in the same transaction.
    A migration that appends audit entries of its own names `actor` (or $CYCLE_USER)."""
    from alembic import command

    if store.sqlite_path is not None:
        store.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    where = store.describe()
    try:
        with store.write_connection() as conn:
            before = _current(conn)
            tables = _cycle_tables(conn)
            created = before is None and not tables
            if before is None and tables and "audit_entry" not in tables:
                raise BadInput(f"the database at {where} already holds tables that are not cycle's "
                               f"({', '.join(sorted(tables))}); give cycle a database of its own")
            adopted = _adopt(conn, where, target, actor) if before is None and tables else None
            if adopted is None and _pending(before):
                command.upgrade(_config(conn, actor), target or "head")
            result = Upgrade(where, before, target or head(), created, adopted)
            if after is not None:
                after(conn, result, tables)
    except DatabaseRefused as exc:
        raise NotPermitted(
            f"the database needs its schema created or upgraded to revision {head()}, and this login may not "
            f"change the schema ({exc.reason}). Run `cycle init` as the owner role (see: cycle db roles-sql)") from None
    return result
