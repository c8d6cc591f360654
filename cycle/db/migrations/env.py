"""Alembic's environment for cycle's migrations.

There is no alembic.ini: `cycle init` (cycle.db.schema) builds the configuration, opens the connection
and its transaction, takes the write lock, and hands the connection over here. Every migration of
one upgrade runs in that one transaction, so an upgrade is applied whole or not at all (SQLite and
PostgreSQL both have transactional DDL).
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import cycle.db.models  # noqa: F401 - the tables, for comparing migrations with the models

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("cycle's migrations run through `cycle init` (cycle.db.schema), which supplies the connection")

context.configure(connection=connection, target_metadata=SQLModel.metadata)
with context.begin_transaction():
    context.run_migrations()
