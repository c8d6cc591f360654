"""The records gates, reminders and reports read, checked against the audit log that wrote them.

The hash chain proves that the log has not been altered. Gates, reminders and reports read other
tables (cycle.audit.images.COVERED). Whoever can write to the database directly could edit one of those
rows, delete it, or insert one with no audit entry behind it: nothing in the chain would change,
and a forged decision would open a gate, a project set back a cycle would reopen a gate with the
last cycle's evidence. So `audit verify` also replays the row images the entries carry, in sequence
order, and compares every row of every covered table, every column, with the latest image the log
holds of it: it names a row that differs (which columns, what the log says, which entry), a row
the log never wrote, and a row the log says exists that is gone.

The checks from before images stay, for every row that matches its image: each evidence, decision
and waiver row against the entry that created it (so an entry rewritten under another actor is seen
even if its image was not touched), and each project's stage against its last move. For rows from
before images they are what the upgrade's baseline (`record.baseline`, revision 0011) cannot vouch
for: a baseline records the rows as they stood at the upgrade.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from cycle.db.spill import Spill, SpillMap
from cycle.db.sql import Sql, undecodable
from cycle.errors import DatabaseFailed

from .chain import PAYLOAD_ERRORS, Progress, read_payload
from .hashes import digest as digest
from .hashes import row_image
from .images import COVERED
from .moves import Moves

# table -> (the action that writes a row, the payload field naming its id, the columns the payload
# also holds, and the column holding who wrote it: the entry's actor). For rows from before images.
_TABLES: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "evidence": ("evidence.add", "evidence_id", ("name", "ref", "note", "cycle"), "recorded_by"),
    "decision": ("decision.record", "decision_id",
                 ("gate", "outcome", "body", "ref", "recycle_to", "decided_on", "note", "cycle"), "recorded_by"),
    "waiver": ("waiver.add", "waiver_id", ("gate", "criterion", "reason", "cycle"), "waived_by"),
}
# The one action that creates a row of a table, where there is one (named when a row has no entry).
_CREATED_BY = {"project": "project.create", "evidence": "evidence.add", "decision": "decision.record",
               "waiver": "waiver.add", "gate_request": "gate.request", "milestone": "milestone.add",
               "review_meeting": "review.record", "outbox": "outbox.enqueue", "workflow_version": "workflow.install",
               "kpi": "kpi.add", "action": "action.add"}


@dataclass(frozen=True)
class Discrepancy:
    table: str  # a covered table (cycle.audit.images.COVERED)
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
    gate_entries: int = 0  # gate entries whose workflow was checked against their project's version then
    gates_rechecked: int = 0  # advances whose gate was checked against the record at their entry (cycle.audit.moves)

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "gate_entries": self.gate_entries,
                "gates_rechecked": self.gates_rechecked,
                "discrepancies": [d.as_dict() for d in self.discrepancies]}


@dataclass
class _Log:
    """What the replay keeps: per row only the newest image's entry and fingerprint. Everything kept per row is in
    the check's Spill (on disk, cycle.db.spill), so that memory does not grow with the log."""

    latest: dict[str, SpillMap]  # table -> id -> (seq, digest; None: deleted)
    created: dict[str, SpillMap]  # rows from before images: id -> (seq, actor, project, payload)
    last_move: SpillMap  # project key -> the stage its log last moved it to
    keys: SpillMap  # project id -> key, from the projects' images (for rows of projects now gone), then the table's
    breaks: list[tuple[str, int, int, int | None]]  # (table, id, seq, seq before): cycle found another row
    moves: Moves  # every move of a project, against the record at its entry (cycle.audit.moves)
    pins: _Pins  # the workflow versions the log installed and pinned projects to (_workflow_pins)


REPLAYING = "Comparing the records with the log"  # what check() tells `progress` it is doing
_EVERY = 5000  # entries between two words to `progress`
_PAGE = 2000  # rows read from the database at a time (the log, each table); tests make it small


def _replay(sql: Sql, spill: Spill, progress: Progress | None = None) -> _Log:
    total = (sql.one("SELECT max(seq) AS seq FROM audit_entry").seq or 0) if progress is not None else 0
    told = 0
    log = _Log({t: spill.map() for t in COVERED}, {t: spill.map() for t in _TABLES}, spill.map(), spill.map(), [],
               Moves(spill), _Pins(spill.map()))
    actions = {action: table for table, (action, *_) in _TABLES.items()}
    # advance.refused too: a refusal that names the engine's rules puts them in force for every later advance, as
    # db.init and db.upgrade do (cycle.workflow.install)
    wanted = ", ".join(repr(a) for a in [*actions, "decision.correct", "advance.refused", "db.init", "db.upgrade"])
    replayed = f"to_stage IS NOT NULL OR action IN ({wanted}) OR payload LIKE '%\"rows\":[%'"
    # The pins' entries come in the same read (_Pins). A project.set entry matters to them only when it moved the
    # version; canonical JSON makes that a substring.
    query = (f"SELECT seq, at, actor, project, action, to_stage, payload, ({replayed}) AS replayed FROM audit_entry "
             f"WHERE {replayed} OR action IN ({', '.join(repr(a) for a in sorted(_PINS))}) "
             "OR (action = 'project.set' AND payload LIKE '%\"workflow_version\"%') ORDER BY seq")
    for seq, at, actor, project, action, to_stage, text, wanted_here in sql.stream(query, batch=_PAGE):
        if progress is not None and isinstance(seq, int) and seq - told >= _EVERY:
            told = seq
            progress(REPLAYING, seq, max(total, seq))
        if to_stage is not None and isinstance(project, str):
            log.last_move[project] = to_stage
        try:
            payload = orjson.loads(text)
        except (orjson.JSONDecodeError, TypeError):  # `audit log` shows it as unreadable; its rows have no entry
            payload = None
        if action in _PINS or action == "project.set":
            log.pins.entry(seq, project, action, payload if isinstance(payload, dict) else None, text)
        if not wanted_here or not isinstance(payload, dict):
            continue
        images = payload.get("rows")
        taken = []
        if isinstance(images, list):
            for image in images:
                found = row_image(image)
                if found is None:
                    continue
                table, row_id, row = found
                was = image.get("was")
                taken.append((table, row_id, row, was))
                if isinstance(was, dict):  # cycle changed a row it found: the row the log last left, or not?
                    before = log.latest[table].get(row_id)
                    found_as = was if row is None else {**row, **was}
                    if before is None or before[1] is None or digest(found_as) != before[1]:
                        log.breaks.append((table, row_id, seq, before[0] if before else None))
                log.latest[table][row_id] = (seq, None if row is None else digest(row))
                if table == "project" and row is not None and isinstance(row.get("key"), str):
                    log.keys[row_id] = row["key"]
        log.moves.entry(seq, at, action, project, to_stage, payload, taken)
        if action in actions:  # the entry that created an evidence, decision or waiver row, for today's checks
            table = actions[action]
            created = payload.get(_TABLES[table][1])
            if isinstance(created, int):
                log.created[table][created] = (seq, actor, project, payload)
        elif action == "decision.correct":  # a governance lead's correction of its date (cycle.governance.corrections)
            _corrected(log, payload)
    if progress is not None:
        progress(REPLAYING, total, total)
    return log


def _corrected(log: _Log, payload: dict[str, Any]) -> None:
    """What a decision's creating entry is compared with from a `decision.correct` entry on: its new date. The
    row itself is checked against the correction's image, as every row is against its latest."""
    decision_id, changes = payload.get("decision_id"), payload.get("changes")
    if not isinstance(decision_id, int):
        return
    created = log.created["decision"].get(decision_id)
    moved = changes.get("decided_on") if isinstance(changes, dict) else None
    if created is not None and isinstance(moved, list) and len(moved) == 2:
        seq, actor, project, first = created
        log.created["decision"][decision_id] = (seq, actor, project, {**first, "decided_on": moved[1]})


def check(sql: Sql, progress: Progress | None = None) -> Records:
    """Every row of every covered table against the latest image the log holds of it (and against the
    entry that created it, as before images). Run it in one read transaction (Store.reading(snapshot=True)).
    `progress` hears how the reading of the log gets on (the longest part), by sequence number.

    Memory stays bounded however long the log: the log and the tables are read a page at a time, and what the
    replay keeps per row is in a Spill on disk."""
    with Spill() as spill:
        log = _replay(sql, spill, progress)
        keys = log.keys  # the projects' images' keys, then the table's over them
        keys.update((p.id, p.key) for p in sql.stream("SELECT id, key FROM project", batch=_PAGE))
        found: list[Discrepancy] = []
        checked: dict[str, int] = {}
        for table in COVERED:
            try:
                n, problems, gone, lost = _compare(sql, table, log, keys)
            except DatabaseFailed as exc:  # SQLite text that is not UTF-8, written by hand: read it as it is
                if not undecodable(exc):
                    raise
                with sql.any_text():
                    n, problems, gone, lost = _compare(sql, table, log, keys)
            checked[table] = n
            found += problems
            # the log says they exist; the table has not got them
            found += [_missing(sql, table, row_id, seq, keys) for row_id, seq in gone]
            latest = log.latest[table]
            for row_id, (seq, _, project, _) in lost:
                if row_id not in latest:  # from before images, and in no image either
                    found.append(Discrepancy(table, row_id, project, f"{table} #{row_id}, recorded by entry {seq}, "
                                                                     f"is missing from the {table} table", seq))
        found += [_broken(sql, table, row_id, seq, before, keys) for table, row_id, seq, before in log.breaks]
        pinned, gates = _workflow_pins(sql, log.pins, {(d.table, d.id) for d in found})
        moved = [Discrepancy(*m) for m in log.moves.found]
        return Records(checked, found + pinned + moved, gates, log.moves.checked)


class _Merged:
    """A spilled map's items in id order, walked beside a table read in id order: what the table's row with an id
    has in it, and the items with no row (`passed`)."""

    def __init__(self, items: Iterator[tuple[Any, Any]] | None) -> None:
        self._items = items if items is not None else iter(())
        self._next = next(self._items, None)
        self.passed: list[tuple[Any, Any]] = []

    def at(self, row_id: int) -> Any:
        while self._next is not None and isinstance(self._next[0], int) and self._next[0] < row_id:
            self.passed.append(self._next)
            self._next = next(self._items, None)
        if self._next is not None and isinstance(self._next[0], int) and self._next[0] == row_id:
            found, self._next = self._next[1], next(self._items, None)
            return found
        return None

    def rest(self) -> list[tuple[Any, Any]]:
        while self._next is not None:
            self.passed.append(self._next)
            self._next = next(self._items, None)
        return self.passed


def _compare(sql: Sql, table: str, log: _Log, keys: SpillMap) -> tuple[int, list[Discrepancy], list[tuple[Any, int]],
                                                                        list[tuple[Any, Any]]]:
    """(rows read, what differs, (id, seq) of the rows the log last left that the table has not got, the created
    items of rows from before images it has not got) for one table; changes nothing in `log`, so it can be run
    again. The table and the log's items are both read in id order, side by side."""
    latest, created = _Merged(log.latest[table].items()), _Merged(
        log.created[table].items() if table in log.created else None)
    found: list[Discrepancy] = []
    n = 0
    for row in _rows(sql, table):
        n += 1
        row_id = row.get("id")
        known = first = None
        if isinstance(row_id, int):
            known, first = latest.at(row_id), created.at(row_id)
        if known is None:
            found.append(_unwritten(table, row, keys))
        elif known[1] is None:
            found.append(Discrepancy(table, _shown_id(table, row), _project_of(table, row, keys),
                                     f"{_label(table, row)} was deleted by entry {known[0]} but is in the "
                                     f"{table} table: it was written outside cycle", known[0]))
        elif digest(row) != known[1]:
            found.append(_differs(sql, table, row, known[0], keys))
        else:
            problem = _as_before_images(table, row, first, keys, log)
            if problem is not None:
                found.append(problem)
    gone = [(row_id, seq) for row_id, (seq, kept) in latest.rest() if kept is not None]
    return n, found, gone, created.rest()


def _rows(sql: Sql, table: str) -> Iterator[dict[str, Any]]:
    for row in sql.stream(f"SELECT * FROM {table} ORDER BY id", batch=_PAGE):
        yield row._asdict()


def _label(table: str, row: dict[str, Any]) -> str:
    if table == "project" and row.get("key") is not None:
        return f"project {row['key']}"
    if table == "workflow_version" and row.get("name") is not None:
        return f"workflow {row['name']} version {row.get('version')}"
    return f"{table} #{row.get('id')}"


def _shown_id(table: str, row: dict[str, Any]) -> int | str:
    return str(row.get("key")) if table == "project" else row.get("id")  # type: ignore[return-value]


def _project_of(table: str, row: dict[str, Any], keys: SpillMap) -> str | None:
    if table == "project":
        return str(row.get("key"))
    if table == "outbox":
        project = row.get("project")
        return project if isinstance(project, str) else None
    project_id = row.get("project_id")
    return keys.get(project_id) if isinstance(project_id, int) else None


def _image_at(sql: Sql, seq: int, table: str, row_id: int, whole: bool = False) -> dict[str, Any]:
    """The image of a row that entry `seq` holds (read again: the replay kept only its fingerprint): the row,
    or with `whole` the image itself (row, and what it was)."""
    entry = sql.one("SELECT payload FROM audit_entry WHERE seq = :seq", seq=seq)
    for image in orjson.loads(entry.payload)["rows"]:
        found = row_image(image)
        if found is not None and found[:2] == (table, row_id) and (whole or found[2] is not None):
            kept = image if whole else found[2]
            assert isinstance(kept, dict)  # row_image vouched for it
            return kept
    raise AssertionError(f"entry {seq} no longer holds the image of {table} #{row_id}")  # read in one transaction


def _broken(sql: Sql, table: str, row_id: int, seq: int, before: int | None, keys: SpillMap) -> Discrepancy:
    """A row cycle changed (entry `seq`) that was not as the log last left it (entry `before`): someone changed
    it in between, and cycle's change then carried their change on into its own image."""
    image = _image_at(sql, seq, table, row_id, whole=True)
    row, was = image.get("row"), image["was"]
    found = was if row is None else {**row, **was}
    label, project = _label(table, found), _project_of(table, found, keys)
    shown = _shown_id(table, found)
    if before is None:
        return Discrepancy(table, shown, project, f"{label} was on no record when entry {seq} changed it: it was "
                                                  f"written outside cycle before that", seq)
    kept = _image_at(sql, before, table, row_id, whole=True).get("row")
    if kept is None:
        return Discrepancy(table, shown, project, f"{label} was deleted by entry {before}, but entry {seq} changed it: "
                                                  f"it was put back outside cycle before that", seq)
    columns = _columns(table, found, kept)
    said = "; ".join(f"{c} was {_shown(found.get(c, _ABSENT))} where entry {before} left "
                     f"{_shown(kept.get(c, _ABSENT))}" for c in columns if _differ(found.get(c, _ABSENT),
                                                                                      kept.get(c, _ABSENT)))
    return Discrepancy(table, shown, project, f"{label} was changed outside cycle before entry {seq}, which found "
                                              f"it so: {said}", seq)


def _unwritten(table: str, row: dict[str, Any], keys: SpillMap) -> Discrepancy:
    action = _CREATED_BY.get(table)
    entry = f"no {action} audit entry" if action else "no audit entry"
    return Discrepancy(table, _shown_id(table, row), _project_of(table, row, keys),
                       f"{_label(table, row)} has {entry}: it was written outside cycle")


def _missing(sql: Sql, table: str, row_id: int, seq: int, keys: SpillMap) -> Discrepancy:
    kept = _image_at(sql, seq, table, row_id)
    label = f"project {kept.get('key')} (#{row_id})" if table == "project" else _label(table, kept)
    return Discrepancy(table, _shown_id(table, kept), _project_of(table, kept, keys),
                       f"{label}, recorded by entry {seq}, is missing from the {table} table", seq)


_ABSENT = object()


def _differs(sql: Sql, table: str, row: dict[str, Any], seq: int, keys: SpillMap) -> Discrepancy:
    kept = _image_at(sql, seq, table, row["id"])
    columns = _columns(table, row, kept)
    said = "; ".join(f"{c} is {_shown(row.get(c, _ABSENT))} but entry {seq} recorded {_shown(kept.get(c, _ABSENT))}"
                     for c in columns if _differ(row.get(c, _ABSENT), kept.get(c, _ABSENT)))
    return Discrepancy(table, _shown_id(table, row), _project_of(table, row, keys),
                       f"{_label(table, row)} differs from its audit entry: {said}", seq)


def _columns(table: str, *rows: dict[str, Any]) -> list[str]:
    """The columns of `rows`, in the order cycle.audit.images.COVERED lists them (then any it does not)."""
    named = set().union(*rows)
    return [c for c in COVERED[table] if c in named] + sorted(named - set(COVERED[table]))


def _differ(a: Any, b: Any) -> bool:
    return type(a) is not type(b) or a != b


def _as_before_images(table: str, row: dict[str, Any], first: Any, keys: SpillMap,
                      log: _Log) -> Discrepancy | None:
    """A row that matches its image, checked as before images (which is all a baseline's rows had): an
    evidence, decision or waiver row against the entry that created it (`first`), recorder and all; a
    project's stage against its last move."""
    if table == "project":
        key = row.get("key")
        logged = log.last_move.get(key) if isinstance(key, str) else None
        if logged is None:
            return Discrepancy("project", str(key), str(key), f"project {key} has no audit entry creating it")
        if logged != row.get("stage"):
            return Discrepancy("project", str(key), str(key), f"project {key} is at {row.get('stage')}, but its audit "
                                                              f"log last moved it to {logged}")
        return None
    if table not in _TABLES:
        return None
    action, _, columns, by = _TABLES[table]
    project = _project_of(table, row, keys)
    label = _label(table, row)
    if first is None:
        return Discrepancy(table, row["id"], project, f"{label} has no {action} audit entry: it was written "
                                                      f"outside cycle")
    seq, actor, logged_project, payload = first
    differ = [c for c in columns if c in payload and payload[c] != row.get(c)]
    if logged_project != project:
        differ.insert(0, "project")
    if row.get(by) != actor:
        differ.append(by)
    if not differ:
        return None

    def now(c: str) -> Any:
        return project if c == "project" else row.get(c)

    def then(c: str) -> Any:
        return logged_project if c == "project" else actor if c == by else payload[c]

    said = "; ".join(f"{c} is {_shown(now(c))} but entry {seq} recorded {_shown(then(c))}" for c in differ)
    return Discrepancy(table, row["id"], project, f"{label} differs from its audit entry: {said}", seq)


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"bytes {bytes(value).hex()}"
    return "nothing" if value is _ABSENT else repr(value)


# --- the workflow versions gates were checked against -------------------------------------------

_PINS = frozenset({"workflow.install", "project.create", "db.upgrade", "advance", "advance.refused",
                   "decision.record"})  # with project.set: the entries _Pins reads


@dataclass
class _Pins:
    """The log's pins in sequence order, as the replay reads them: each gate entry against its project's version
    then (what was found, and how many gate entries were checked), the versions installed and each project's last
    pin."""

    pins: SpillMap  # project -> its last pin (workflow, version), or None
    installs: dict[tuple[str, int], tuple[int, dict[str, Any]]] = field(default_factory=dict)  # -> (seq, payload)
    gates: int = 0
    found: list[Discrepancy] = field(default_factory=list)

    def entry(self, seq: Any, project: Any, action: str, payload: dict[str, Any] | None, text: Any) -> None:
        """One entry of _PINS' actions or project.set; `payload` as the replay read it (None: read `text` here)."""
        try:
            p = payload if payload is not None else read_payload(text)
            if action == "workflow.install":
                self.installs[(p["name"], p["version"])] = (seq, p)
            elif action == "project.create":
                version = p.get("workflow_version")
                self.pins[project] = (p["workflow"], version) if version is not None else None
            elif action == "project.set":
                moved = p["changes"].get("workflow_version")
                if moved:
                    self.pins[project] = (p["workflow"], moved[1])
            elif action == "db.upgrade":
                for key, (name, version) in p.get("workflows", {}).get("pinned", {}).items():
                    self.pins[key] = (name, version)
            elif project is not None and p.get("workflow_sha256") is not None:
                pin = self.pins.get(project)
                if pin is None:
                    return  # before this database pinned projects (revision 0010): the upgrade says what matched
                self.gates += 1
                installed = self.installs.get(pin)
                if installed is None or installed[1]["sha256"] != p["workflow_sha256"]:
                    gate = f", gate {p['gate']}" if isinstance(p.get("gate"), str) else ""
                    self.found.append(Discrepancy("audit_entry", seq, project, (
                        f"entry {seq} ({action} of {project}{gate}) was checked against a workflow with "
                        f"SHA-256 {str(p['workflow_sha256'])[:12]}..., but {project} was on {pin[0]} version "
                        f"{pin[1]}" + (f" (SHA-256 {installed[1]['sha256'][:12]}...)" if installed else
                                       ", which no workflow.install entry records")
                        + ": the gate was not checked against the project's workflow"), seq))
        except PAYLOAD_ERRORS:
            return  # `audit log` shows it as unreadable


def _workflow_pins(sql: Sql, log: _Pins, named: set[tuple[str, Any]]) -> tuple[list[Discrepancy], int]:
    """The log's pins (`log`, read by the replay), then, for the rows the image check did not already name
    (`named`), each installed version against its install entry and each project's version against its last pin.
    (What was found, and how many gate entries were checked.)"""
    found, installs, pins = list(log.found), log.installs, log.pins
    # A version written, changed or removed by hand is named by the image check; this sees an install entry
    # and its row that agree with each other but not with the text's own SHA-256.
    for row in sql.rows("SELECT id, name, version, sha256, source, origin FROM workflow_version ORDER BY id"):
        entry = installs.get((row.name, row.version))
        if ("workflow_version", row.id) in named or entry is None:
            continue
        seq, p = entry
        differ = [c for c in ("sha256", "source", "origin") if p.get(c) != getattr(row, c)]
        if not isinstance(row.source, str) or hashlib.sha256(row.source.encode("utf-8")).hexdigest() != row.sha256:
            differ.append("its text, which no longer has its SHA-256")
        if differ:
            found.append(Discrepancy("workflow_version", row.id, None, f"workflow {row.name} version {row.version} "
                                                                       f"differs from its audit entry {seq}: "
                                                                       f"{', '.join(differ)}", seq))
    for p in sql.stream("SELECT key, workflow, workflow_version FROM project ORDER BY key", batch=_PAGE):
        if p.key not in pins or ("project", p.key) in named:
            continue  # created before revision 0010 and never pinned (the upgrade said so), or named already
        pin = pins[p.key]
        now = (p.workflow, p.workflow_version) if p.workflow_version is not None else None
        if now != pin:
            runs = f"runs on {p.workflow} version {p.workflow_version}" if now else "runs on no workflow version"
            was = f"pinned it to {pin[0]} version {pin[1]}" if pin else "pinned it to none"
            found.append(Discrepancy("project", p.key, p.key, f"project {p.key} {runs}, but its audit log {was}"))
    return found, log.gates
