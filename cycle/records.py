"""The records the gates read, checked against the audit entries that wrote them.

The hash chain proves that the log has not been altered. Gate checks and reports read other tables:
evidence, decisions, waivers, and each project's stage. Whoever can write to the database directly
could edit one of those rows, delete it, or insert one with no audit entry behind it. Nothing in the
chain would change, and a forged decision would open a gate. So `audit verify` also compares every
such row with the entry that recorded it, field by field, and each project's stage with the last
move its log records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .audit import Unreadable, read_payload
from .store import Sql

# table -> (the action that writes a row, the payload field naming its id, the columns the payload
# also holds, and the column holding who wrote it: the entry's actor)
_TABLES: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "evidence": ("evidence.add", "evidence_id", ("name", "ref", "note", "cycle"), "recorded_by"),
    "decision": ("decision.record", "decision_id",
                 ("gate", "outcome", "body", "ref", "recycle_to", "decided_on", "note", "cycle"), "recorded_by"),
    "waiver": ("waiver.add", "waiver_id", ("gate", "criterion", "reason", "cycle"), "waived_by"),
}


@dataclass(frozen=True)
class Discrepancy:
    table: str  # evidence, decision, waiver or project
    id: int | str  # the row's id (a project's key)
    project: str | None
    problem: str  # one sentence, for a person
    seq: int | None = None  # the audit entry it was compared with, if any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Records:
    checked: dict[str, int]  # table -> rows compared
    discrepancies: list[Discrepancy]

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "discrepancies": [d.as_dict() for d in self.discrepancies]}


def check(sql: Sql) -> Records:
    """Every evidence, decision and waiver row against its audit entry; every project's stage
    against its log. Run it in one read transaction."""
    keys = {p.id: p for p in sql.rows("SELECT id, key, stage FROM project")}
    found: list[Discrepancy] = []
    checked = {"projects": len(keys)}
    actions = tuple(action for action, *_ in _TABLES.values())
    written: dict[str, dict[int, Any]] = {table: {} for table in _TABLES}  # table -> id -> entry
    last_move: dict[str, str] = {}
    for e in sql.rows("SELECT seq, actor, project, action, to_stage, payload FROM audit_entry "
                      f"WHERE to_stage IS NOT NULL OR action IN ({', '.join(repr(a) for a in actions)}) "
                      "ORDER BY seq"):
        if e.to_stage is not None and e.project is not None:
            last_move[e.project] = e.to_stage
        table = next((t for t, (action, *_) in _TABLES.items() if action == e.action), None)
        if table is None:
            continue
        try:
            payload = read_payload(e.payload)
        except Unreadable:  # `audit log` shows it as unreadable; its row, if any, then has no entry
            continue
        row_id = payload.get(_TABLES[table][1])
        if isinstance(row_id, int):
            written[table][row_id] = (e, payload)
    for table, (action, _, columns, by) in _TABLES.items():
        rows = sql.rows(f"SELECT * FROM {table} ORDER BY id")
        checked[table] = len(rows)
        for row in rows:
            project = keys[row.project_id].key if row.project_id in keys else None
            entry = written[table].pop(row.id, None)
            if entry is None:
                found.append(Discrepancy(table, row.id, project, f"{_label(table, row.id)} has no {action} audit "
                                                                 f"entry: it was written outside cycle"))
                continue
            e, payload = entry
            differ = [c for c in columns if c in payload and payload[c] != getattr(row, c)]
            if e.project != project:
                differ.insert(0, "project")
            if getattr(row, by) != e.actor:
                differ.append(by)
            if differ:
                said = "; ".join(f"{c} is {_shown(_value(row, c, project))} but entry {e.seq} recorded "
                                 f"{_shown(_said(e, payload, c, by))}" for c in differ)
                found.append(Discrepancy(table, row.id, project, f"{_label(table, row.id)} differs from its audit "
                                                                 f"entry: {said}", e.seq))
        for row_id, (e, _) in sorted(written[table].items()):
            found.append(Discrepancy(table, row_id, e.project, f"{_label(table, row_id)}, recorded by entry {e.seq}, "
                                                               f"is missing from the {table} table", e.seq))
    for p in sorted(keys.values(), key=lambda p: p.key):
        logged = last_move.get(p.key)
        if logged is None:
            found.append(Discrepancy("project", p.key, p.key, f"project {p.key} has no audit entry creating it"))
        elif logged != p.stage:
            found.append(Discrepancy("project", p.key, p.key, f"project {p.key} is at {p.stage}, but its audit log "
                                                              f"last moved it to {logged}"))
    return Records(checked, found)


def _label(table: str, row_id: int) -> str:
    return f"{table} #{row_id}"


def _value(row: Any, column: str, project: str | None) -> Any:
    return project if column == "project" else getattr(row, column)


def _said(entry: Any, payload: dict[str, Any], column: str, by: str) -> Any:
    if column == "project":
        return entry.project
    if column == by:
        return entry.actor
    return payload[column]


def _shown(value: Any) -> str:
    return "none" if value is None else repr(value) if isinstance(value, str) else str(value)
