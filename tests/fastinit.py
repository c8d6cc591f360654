"""Test-only speed-up: `cycle init` on an EMPTY database replays the statements the migrations ran the first time.

Every test starts from an empty database and most run `cycle init`, which runs all the Alembic migrations
(loading each migration file and building each statement again) although on an empty database they do exactly
the same thing every time. So the first `alembic upgrade head` of the session on an empty database, per dialect,
runs for real and every statement it sends to the database is recorded; later upgrades of an empty database to
head send the same statements to the database themselves, in the same transaction (the schema is the same, to
the byte: tests/test_migrations.py test_replayed_migrations_make_the_same_schema). Everything else in `cycle
init` (the lock, the workflows it installs, its audit entries, what it prints) runs as it does for the user, and
any upgrade of a database that already holds tables (the migration tests) runs Alembic itself.

CYCLE_TEST_REAL_MIGRATIONS=1 switches the replay off.
"""

from __future__ import annotations

import os
from typing import Any

#: (dialect, target) -> the statements one real upgrade of an empty database sent: (statement, parameters, how)
_recorded: dict[tuple[str, str], list[tuple[str, Any, str]]] = {}
_real_upgrade: Any = None


def _empty(conn: Any) -> bool:
    from sqlalchemy import inspect

    return not inspect(conn).get_table_names()


def _upgrade(config: Any, revision: str, sql: bool = False, tag: str | None = None) -> None:
    conn = config.attributes.get("connection")
    if conn is None or sql or tag is not None or revision != "head" or not _empty(conn):
        _real_upgrade(config, revision, sql=sql, tag=tag)
        return
    key = (conn.dialect.name, revision)
    statements = _recorded.get(key)
    if statements is not None:
        for statement, parameters, how in statements:
            if how == "bare":
                conn.exec_driver_sql(statement, execution_options={"no_parameters": True})
            else:
                conn.exec_driver_sql(statement, parameters)
        return
    from sqlalchemy import event

    seen: list[tuple[str, Any, str]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        # as SQLAlchemy then calls the driver: executemany, execute without parameters, or execute with them
        bare = not parameters and context is not None and context.no_parameters
        seen.append((statement, parameters, "many" if many else "bare" if bare else "one"))

    event.listen(conn, "before_cursor_execute", record)
    try:
        _real_upgrade(config, revision, sql=sql, tag=tag)
    finally:
        event.remove(conn, "before_cursor_execute", record)
    _recorded[key] = seen


def install() -> None:
    """Put the replay in place of alembic.command.upgrade (once; not at all with CYCLE_TEST_REAL_MIGRATIONS=1)."""
    global _real_upgrade
    if _real_upgrade is not None or os.environ.get("CYCLE_TEST_REAL_MIGRATIONS") == "1":
        return
    from alembic import command

    _real_upgrade = command.upgrade
    command.upgrade = _upgrade


def uninstall() -> None:
    global _real_upgrade
    if _real_upgrade is None:
        return
    from alembic import command

    command.upgrade = _real_upgrade
    _real_upgrade = None
