"""The records the gates read, checked against the audit entries that wrote them.

The hash chain proves that the log has not been altered. Gate checks and reports read other tables:
evidence, decisions, waivers, and each project's stage. Whoever can write to the database directly
could edit one of those rows, delete it, or insert one with no audit entry behind it. Nothing in the
chain would change, and a forged decision would open a gate. So `audit verify` also compares every
such row with the entry that recorded it, field by field, and each project's stage with the last
move its log records.

Gates are checked against the version of its workflow a project is pinned to. So every installed
version (workflow_version) must match the `workflow.install` entry that holds its text; each project
must run on the version its log last pinned it to (at creation, by `project set --workflow-version`,
or by the upgrade that installed workflows in an older database); and every gate entry (advance,
advance.refused, decision.record) must carry the SHA-256 of the version its project was pinned to
at that moment. A gate checked against any other definition (a file in someone's home, a version the
project was moved to by hand) is named.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from .audit import PAYLOAD_ERRORS, Unreadable, read_payload
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
    table: str  # evidence, decision, waiver, project, workflow_version, or audit_entry (a gate entry)
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
    found += _workflow_pins(sql, checked)
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


# --- the workflow versions gates were checked against -------------------------------------------

_PINS = ("'workflow.install', 'project.create', 'db.upgrade', 'advance', 'advance.refused', 'decision.record'")
_GATES = ("advance", "advance.refused", "decision.record")


def _workflow_pins(sql: Sql, checked: dict[str, int]) -> list[Discrepancy]:
    """Replay the log's pins in sequence order: each gate entry against its project's version then, each
    installed version against its install entry, each project's version against its last pin."""
    found: list[Discrepancy] = []
    installs: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}  # (name, version) -> (seq, payload)
    pins: dict[str, tuple[str, int] | None] = {}  # project -> (workflow, version) its log last pinned it to
    gates = 0
    # A project.set entry matters here only when it moved the version; canonical JSON makes that a substring.
    for e in sql.rows(f"SELECT seq, project, action, payload FROM audit_entry WHERE action IN ({_PINS}) OR "
                      f"(action = 'project.set' AND payload LIKE '%\"workflow_version\"%') ORDER BY seq"):
        try:
            p = read_payload(e.payload)
            if e.action == "workflow.install":
                installs[(p["name"], p["version"])] = (e.seq, p)
            elif e.action == "project.create":
                version = p.get("workflow_version")
                pins[e.project] = (p["workflow"], version) if version is not None else None
            elif e.action == "project.set":
                moved = p["changes"].get("workflow_version")
                if moved:
                    pins[e.project] = (p["workflow"], moved[1])
            elif e.action == "db.upgrade":
                for key, (name, version) in p.get("workflows", {}).get("pinned", {}).items():
                    pins[key] = (name, version)
            elif e.project is not None and p.get("workflow_sha256") is not None:
                pin = pins.get(e.project)
                if pin is None:
                    continue  # before this database pinned projects (revision 0010): the upgrade says what matched
                gates += 1
                installed = installs.get(pin)
                if installed is None or installed[1]["sha256"] != p["workflow_sha256"]:
                    gate = f", gate {p['gate']}" if isinstance(p.get("gate"), str) else ""
                    found.append(Discrepancy("audit_entry", e.seq, e.project, (
                        f"entry {e.seq} ({e.action} of {e.project}{gate}) was checked against a workflow with "
                        f"SHA-256 {str(p['workflow_sha256'])[:12]}..., but {e.project} was on {pin[0]} version "
                        f"{pin[1]}" + (f" (SHA-256 {installed[1]['sha256'][:12]}...)" if installed else
                                       ", which no workflow.install entry records")
                        + ": the gate was not checked against the project's workflow"), e.seq))
        except PAYLOAD_ERRORS:
            continue  # `audit log` shows it as unreadable
    rows = sql.rows("SELECT id, name, version, sha256, source, origin FROM workflow_version ORDER BY id")
    checked["workflow_versions"], checked["gate_entries"] = len(rows), gates
    for row in rows:
        label = f"workflow {row.name} version {row.version}"
        entry = installs.pop((row.name, row.version), None)
        if entry is None:
            found.append(Discrepancy("workflow_version", row.id, None, f"{label} has no workflow.install audit entry: "
                                                                       f"it was written outside cycle"))
            continue
        seq, p = entry
        differ = [c for c in ("sha256", "source", "origin") if p.get(c) != getattr(row, c)]
        if hashlib.sha256(row.source.encode("utf-8")).hexdigest() != row.sha256:
            differ.append("its text, which no longer has its SHA-256")
        if differ:
            found.append(Discrepancy("workflow_version", row.id, None, f"{label} differs from its audit entry {seq}: "
                                                                       f"{', '.join(differ)}", seq))
    for (name, version), (seq, _) in sorted(installs.items()):
        found.append(Discrepancy("workflow_version", f"{name} {version}", None,
                                 f"workflow {name} version {version}, installed by entry {seq}, is missing from the "
                                 f"workflow_version table", seq))
    for p in sql.rows("SELECT key, workflow, workflow_version FROM project ORDER BY key"):
        if p.key not in pins:
            continue  # created before revision 0010 and never pinned: the upgrade said so
        pin = pins[p.key]
        now = (p.workflow, p.workflow_version) if p.workflow_version is not None else None
        if now != pin:
            runs = f"runs on {p.workflow} version {p.workflow_version}" if now else "runs on no workflow version"
            was = f"pinned it to {pin[0]} version {pin[1]}" if pin else "pinned it to none"
            found.append(Discrepancy("project", p.key, p.key, f"project {p.key} {runs}, but its audit log {was}"))
    return found
