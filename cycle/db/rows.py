"""The rows a gate check and a project view read, in plain SQL (see store.Sql).

Read-only commands and advance read through here, so they need neither the ORM nor its start-up
cost; write commands that hold an ORM session reach the same queries through store.sql_of(session).
Every function returns named tuples whose fields are the table's columns, so a row reads like the
model (`project.stage`, `evidence.ref`).
"""

from __future__ import annotations

from typing import Any

from .sql import Sql

Row = Any


def project(sql: Sql, key: str, for_update: bool = False) -> Row | None:
    return sql.one("SELECT * FROM project WHERE key = :key" + (sql.for_update if for_update else ""), key=key)


def projects(sql: Sql, stage: str | None = None, workflow: str | None = None) -> list[Row]:
    where = [f"{name} = :{name}" for name, value in (("stage", stage), ("workflow", workflow)) if value]
    return sql.rows("SELECT * FROM project" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY key",
                    **{name: value for name, value in (("stage", stage), ("workflow", workflow)) if value})


def evidence(sql: Sql, project_id: int) -> list[Row]:
    return sql.rows("SELECT * FROM evidence WHERE project_id = :id ORDER BY id", id=project_id)


def decisions(sql: Sql, project_id: int) -> list[Row]:
    return sql.rows("SELECT * FROM decision WHERE project_id = :id ORDER BY id", id=project_id)


def waivers(sql: Sql, project_id: int, visit: int) -> dict[tuple[str, str], Row]:
    """The waivers in force: (gate, criterion) -> waiver, for the project's current stage visit."""
    found = sql.rows("SELECT * FROM waiver WHERE project_id = :id AND visit = :visit ORDER BY id",
                     id=project_id, visit=visit)
    return {(w.gate, w.criterion): w for w in found}


def links(sql: Sql, project_id: int) -> list[tuple[str, str, str]]:
    """(kind, other project's key, its stage) for every link from this project."""
    found = sql.rows("SELECT l.kind, p.key, p.stage FROM link l JOIN project p ON p.id = l.other_id "
                     "WHERE l.project_id = :id ORDER BY l.id", id=project_id)
    return [(r.kind, r.key, r.stage) for r in found]


def contract_holder(sql: Sql, project_id: int, key: str) -> tuple[int, str, Row | None]:
    """(id, key, contract) of the project holding this project's contract: its own contract if it has
    one, else the service it decommissions (whose contract it works with, recorded or not), else
    itself; contract is None when the holder has none yet."""
    own = sql.one("SELECT * FROM contract WHERE project_id = :id", id=project_id)
    if own is not None:
        return project_id, key, own
    parent = sql.one("SELECT p.id AS holder_id, p.key AS holder_key, c.id AS contract_id FROM link l "
                     "JOIN project p ON p.id = l.other_id LEFT JOIN contract c ON c.project_id = p.id "
                     "WHERE l.project_id = :id AND l.kind = 'decommissions' ORDER BY l.id", id=project_id)
    if parent is None:
        return project_id, key, None
    found = (sql.one("SELECT * FROM contract WHERE id = :id", id=parent.contract_id)
             if parent.contract_id is not None else None)
    return parent.holder_id, parent.holder_key, found


def contracts(sql: Sql) -> list[Row]:
    """Every contract, with its holder's key and stage (holder_key, holder_stage) beside its columns."""
    return sql.rows("SELECT p.key AS holder_key, p.stage AS holder_stage, c.* FROM project p "
                    "JOIN contract c ON c.project_id = p.id ORDER BY p.key")

