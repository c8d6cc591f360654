"""Every move of a project, checked against the record as the log shows it at that entry.

The row images (cycle.audit.images) say what each entry changed, but not whether the change was one cycle
would make. A team member who can append entries (any PostgreSQL login, for a change under their own
name; anyone who can write a SQLite file) could put a project at a later stage and write an
`advance` entry for it, or advance while a decision or evidence row written by hand was there and
delete it afterwards. So `audit verify` replays the images of the rows a gate reads, in sequence
order, and checks each entry that moves or creates a project:

- an `advance` must pass a gate its project's workflow version has out of the stage it was at, and
  that gate's must criteria must be met (or waived) by the rows on the record at that entry, as
  `cycle gate check` would have found them that day; with the engine's own rules (cycle.workflow.gates
  RULES) that the entry says it was checked against (`rules`), and, once any entry has said so (the
  database's db.init or db.upgrade entry names the rules its cycle has), on every
  later advance they apply to (so a log from before a rule existed still verifies, and a later entry
  cannot leave the rule out by leaving out the field);
- only an `advance`, or a body's recycle or stop decision (`decision.record`, with its decision in
  the same entry), changes a project's stage, visit or cycle;
- a project is created by `project.create`, at its workflow's first stage, visit 1 of cycle 1, or by
  `project.import`, at a stage that is not final, visit 1 of cycle 1, its entry naming the register
  (file, SHA-256, line) it came from;
- a decision row is written by an approver of its body (or a deputy of one, within the window, on the entry's
  London day), when the body has approvers on record at that entry
  (and its entry does not claim an approver's authority when it has none: the reports flag it unverified),
  and not by the project's owner (cycle.governance.authority.decision_authority; on SQLite, whoever can write
  the file can drop the triggers that refuse such a row, and a gate several bodies ratify would open on a go
  one person wrote for another body);
- a deputy window, when it is added, runs between two dates at most a year apart;
- a `record.baseline` entry (an upgrade's) records rows as they stand: after the first one it may add
  a column to an image, never change a value, and it brings rows onto the record only for a table the
  log had none of.

Entries from before a project had images (a database upgraded to revision 0011 has them from its
baseline on) are not re-checked: there is no record of the rows they read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

from cycle import contracts
from cycle.calendar.clock import london_date, parse_utc
from cycle.db.spill import Spill
from cycle.errors import CycleError
from cycle.governance import identity
from cycle.workflow.definition import Workflow, parse_text, sha256_of
from cycle.workflow.gates import RULES, Facts, GateCheck, evaluate

# (table, id, project key, problem, seq): a records.Discrepancy's fields
Found = tuple[str, Any, str | None, str, int]
Image = tuple[str, int, dict[str, Any] | None, Any]  # (table, id, row or None for deleted, its "was")

BASELINE = "record.baseline"
IMPORT = "project.import"  # cycle.interchange.register.ACTION
# The tables a gate reads, kept whole (the rest of the replay keeps fingerprints): those that grow with the portfolio
# in the replay's Spill, on disk (listed by project where a gate reads a project's rows); the installed workflow
# versions, people and their roles (an organisation's, not a portfolio's) in memory.
_SPILLED = ("project", "evidence", "decision", "waiver", "contract", "link")
_KEPT = (*_SPILLED, "workflow_version", "person", "person_role", "deputy")
_BY_PROJECT = ("evidence", "decision", "waiver", "link", "contract")
_MOVED = ("stage", "visit", "cycle")


class Moves:
    """Fed every entry that carries images or moves a project, in sequence order (`entry`)."""

    def __init__(self, spill: Spill) -> None:
        self.rows: dict[str, Any] = {t: spill.map(indexed=t in _BY_PROJECT) if t in _SPILLED else {} for t in _KEPT}
        self.imaged: set[str] = set()  # tables the log holds an image of (any row)
        self.started = False  # an entry other than a baseline has carried images
        self.parsed: dict[tuple[Any, Any, Any], Workflow | None] = {}
        self.found: list[Found] = []
        self.checked = 0  # advances whose gate was re-checked
        self.rules: set[str] = set()  # the engine's rules in force: named by an entry so far (advance or refused)

    def entry(self, seq: int, at: Any, action: Any, key: Any, to_stage: Any, payload: dict[str, Any],
              images: list[Image]) -> None:
        """Check one entry against the record before it, then take its images onto the record."""
        said = payload.get("rules") if isinstance(payload, dict) else None
        if isinstance(said, list):  # an advance, or a refused one: from here on the log has the rule in force
            self.rules |= {r for r in said if isinstance(r, str) and r in RULES}
        try:
            if action == "advance" and to_stage is not None:
                self._advance(seq, at, key, to_stage, payload, images)
            if action != BASELINE:
                for table, row_id, row, _ in images:
                    if table == "decision" and isinstance(row, dict) and row_id not in self.rows["decision"]:
                        self._decision(seq, at, row_id, row, payload if action == "decision.record" else {})
                    if table == "deputy" and isinstance(row, dict) and row_id not in self.rows["deputy"]:
                        self._window(seq, row_id, row)
            for table, row_id, row, was in images:
                if action == BASELINE:
                    self._baseline(seq, table, row_id, row)
                elif table == "project":
                    self._project(seq, action, key, to_stage, row_id, row, was, images, payload)
        except (CycleError, TypeError, ValueError, KeyError, AttributeError) as exc:  # rows written by hand
            self.found.append(("audit_entry", seq, key if isinstance(key, str) else None,
                               f"entry {seq} ({action}) could not be checked against the record before it: "
                               f"{type(exc).__name__}: {exc}", seq))
        if images and action != BASELINE:
            self.started = True
        for table, row_id, row, _ in images:
            self.imaged.add(table)
            if table in self.rows:
                self._keep(table, row_id, row)

    # --- the record as it stands ---------------------------------------------------------------

    def _keep(self, table: str, row_id: int, row: dict[str, Any] | None) -> None:
        if row is None:
            self.rows[table].pop(row_id, None)
        elif table in _BY_PROJECT:
            self.rows[table].put(row_id, row, row.get("project_id"))
        else:
            self.rows[table][row_id] = row

    def _of(self, table: str, project_id: int) -> list[SimpleNamespace]:
        return [SimpleNamespace(**row) for row in self.rows[table].of(project_id)]

    def _workflow(self, name: Any, version: Any) -> Workflow | None:
        """The installed version as the record holds it; None when the record has no such version (the
        pins check names that) or its text does not parse."""
        row = next((r for r in self.rows["workflow_version"].values()
                    if r.get("name") == name and r.get("version") == version), None)
        if row is None or not isinstance(row.get("source"), str):
            return None
        cache = (name, version, row.get("sha256"))
        if cache not in self.parsed:
            try:
                if sha256_of(row["source"]) != row.get("sha256"):
                    raise ValueError("its text does not have its SHA-256")
                self.parsed[cache] = parse_text(row["source"], f"workflow {name} version {version}",
                                                f"{name}.toml", None, version=version, digest=row["sha256"])
            except Exception:  # altered by hand: the image and pins checks name it
                self.parsed[cache] = None
        return self.parsed[cache]

    def _facts(self, project: dict[str, Any], today: date) -> Facts:
        """What gates.facts reads, from the record (rows.contract_holder, rows.links, rows.waivers)."""
        pid = project["id"]
        holder, found = project.get("key"), self._contracts_of(pid)
        if not found:
            parent = next((link for link in self._of("link", pid) if link.kind == "decommissions"), None)
            if parent is not None and parent.other_id in self.rows["project"]:
                holder = self.rows["project"][parent.other_id].get("key")
                found = self._contracts_of(parent.other_id)
        statuses = [contracts.status(str(holder), c, today, several=len(found) > 1)  # type: ignore[arg-type]
                    for c in found]
        links = [(link.kind, self.rows["project"][link.other_id].get("key"), self.rows["project"][link.other_id]
                  .get("stage")) for link in self._of("link", pid) if link.other_id in self.rows["project"]]
        waivers = {(w.gate, w.criterion): w for w in self._of("waiver", pid) if w.visit == project.get("visit")}
        # The rows as the images hold them, not cycle.db.rows' types: an image written by hand may lack a column,
        # and reading it then fails this entry's check by name (see entry()).
        return Facts(today=today, contracts=statuses, links=links, waivers=waivers)  # type: ignore[arg-type]

    def _contracts_of(self, project_id: int) -> list[SimpleNamespace]:
        return sorted(self._of("contract", project_id), key=lambda c: c.id)

    # --- the checks ----------------------------------------------------------------------------

    def _say(self, seq: int, key: Any, problem: str) -> None:
        self.found.append(("audit_entry", seq, key if isinstance(key, str) else None, problem, seq))

    def _decision(self, seq: int, at: Any, row_id: int, row: dict[str, Any], payload: dict[str, Any]) -> None:
        """A new decision row: its recorder may decide for its body, as the record stood before this entry, and
        the authority its entry gives (which the reports read to flag an unverified decision) is so."""
        body, by = row.get("body"), row.get("recorded_by")
        project = self.rows["project"].get(row.get("project_id"))
        if not isinstance(body, str) or not isinstance(by, str) or project is None:
            return  # a row cycle could not have written: the image check names it
        names = {pid: p.get("name") for pid, p in self.rows["person"].items()}
        approvers = sorted({str(names[r["person_id"]]) for r in self.rows["person_role"].values()
                            if r.get("role") == "approver" and r.get("body") == body and r.get("person_id") in names})
        key = project.get("key")
        where = f"entry {seq} (decision {row_id} of {key}, gate {row.get('gate')}, {row.get('outcome')} by {body})"
        if not approvers:  # a body with no approvers on record: its decisions are unverified, and reports say so
            claimed = payload.get("authority")
            if isinstance(claimed, str) and claimed and not claimed.startswith("unverified"):
                self._say(seq, key, f"{where} says it was recorded as {claimed!r}, but {body} had no approvers on "
                                    f"record: the decision is unverified")
            return
        if not identity.among(by, approvers) and not self._deputy(by, body, approvers, at):
            self._say(seq, key, f"{where} was recorded by {by}, who is not an approver for {body} (approvers: "
                                f"{', '.join(approvers)}); only they can record its decisions")
        elif identity.same(by, project.get("owner")):
            self._say(seq, key, f"{where} was recorded by {by}, who owns {key} and may not decide its gates")

    def _window(self, seq: int, row_id: int, row: dict[str, Any]) -> None:
        """A new deputy window: its days are dates, at most a year apart (cycle.governance.deputies.add; since
        revision 0026 the database's triggers refuse any other, but a window written before it, or by the owner,
        or into a SQLite file with its triggers dropped, is named here)."""
        from cycle.governance.deputies import LONGEST

        who = f"{row.get('deputy')} for {row.get('approver')}, {row.get('body')}"
        where = f"entry {seq} (deputy window {row_id}: {who})"
        try:
            first, last = (date.fromisoformat(str(row.get(c))) for c in ("starts_on", "ends_on"))
        except ValueError:
            self._say(seq, None, f"{where} runs from {row.get('starts_on')!r} to {row.get('ends_on')!r}, which are "
                                 f"not both dates (YYYY-MM-DD)")
            return
        if not 0 <= (last - first).days < LONGEST:
            self._say(seq, None, f"{where} runs from {first} to {last}; a window is one to {LONGEST} days "
                                 f"(for longer, an admin grants the approver role)")

    def _deputy(self, by: str, body: str, approvers: list[str], at: Any) -> bool:
        """Whether `by` was a deputy of one of `approvers` for `body` on the London day of `at` (migration 0025)."""
        day = london_date(parse_utc(at)).isoformat()
        return any(r.get("body") == body and identity.same(r.get("deputy"), by)
                   and identity.among(str(r.get("approver")), approvers)
                   and str(r.get("starts_on")) <= day <= str(r.get("ends_on")) for r in self.rows["deputy"].values())

    def _advance(self, seq: int, at: Any, key: Any, to_stage: Any, payload: dict[str, Any],
                 images: list[Image]) -> None:
        moved = next((i for i in images if i[0] == "project" and isinstance(i[2], dict) and i[2].get("key") == key),
                     None)
        if moved is None:
            return  # from before images (or a move that changed no row: the stage check names it)
        before = self.rows["project"].get(moved[1])
        if before is None:
            return  # the project has no image before this entry: from before images
        wf = self._workflow(before.get("workflow"), before.get("workflow_version"))
        if wf is None:
            return  # no installed version on record: the pins check names it
        gate_id = payload.get("gate")
        gate = next((g for g in wf.gates_from(str(before.get("stage"))) if g.id == gate_id), None)
        where = f"entry {seq} (advance of {key}"
        if gate is None:
            self._say(seq, key, f"{where}) passed gate {gate_id!r}, which {wf.name} version {wf.version} does not "
                                f"have out of {before.get('stage')}")
            return
        if gate.dest != to_stage or moved[2].get("stage") != to_stage:  # type: ignore[union-attr]
            self._say(seq, key, f"{where}, gate {gate.id}) moved {key} to {to_stage}, but the gate leads to "
                                f"{gate.dest}")
            return
        self.checked += 1
        day = london_date(parse_utc(at))
        check = self._check(wf, gate, before, day)
        if not check.open and any(c.kind in ("date", "contract") for c in check.unmet_must):
            check = self._check(wf, gate, before, day - timedelta(days=1))  # checked just before midnight
        if not check.open:
            unmet = "; ".join(f"{c.id} ({c.reason})" for c in check.unmet_must)
            self._say(seq, key, f"{where}, gate {gate.id}) passed the gate, but the record at that entry does not "
                                f"meet it: {unmet}")

    def _check(self, wf: Workflow, gate: Any, before: dict[str, Any], day: date) -> GateCheck:
        project = SimpleNamespace(**before)
        return evaluate(wf, gate, project, self._of("evidence", before["id"]),  # type: ignore[arg-type]
                        self._of("decision", before["id"]), self._facts(before, day),  # type: ignore[arg-type]
                        self.rules)

    def _project(self, seq: int, action: Any, key: Any, to_stage: Any, row_id: int, row: dict[str, Any] | None,
                 was: Any, images: list[Image], payload: dict[str, Any]) -> None:
        if row is None:
            return  # a project row gone: the image check names it
        before = self.rows["project"].get(row_id)
        name = row.get("key")
        if before is None:
            if not self.started and "project" not in self.imaged:
                return  # a database from before images, whose baseline is still to come
            wf = self._workflow(row.get("workflow"), row.get("workflow_version"))
            if action == IMPORT:
                self._imported(seq, name, key, to_stage, row, wf, payload)
            elif action != "project.create":
                self._say(seq, name, f"entry {seq} ({action}) brought project {name} onto the record; only a "
                                     f"project.create entry (or a project.import entry naming the register it "
                                     f"came from) creates a project")
            elif wf is not None and (row.get("stage"), row.get("visit"), row.get("cycle")) != (wf.initial, 1, 1):
                self._say(seq, name, f"entry {seq} (project.create) created {name} at {row.get('stage')}, visit "
                                     f"{row.get('visit')} of cycle {row.get('cycle')}; {wf.name} version "
                                     f"{wf.version} starts at {wf.initial}, visit 1 of cycle 1")
            return
        if isinstance(was, dict):  # cycle's own write: what it changed (an edit before it is named as a break)
            changed = [c for c in _MOVED if c in was and was[c] != row.get(c)]
            found = {**row, **was}
        else:
            changed = [c for c in _MOVED if before.get(c) != row.get(c)]
            found = before
        if not changed:
            return
        said = ", ".join(f"{c} {found.get(c)!r} to {row.get(c)!r}" for c in changed)
        if action == "advance" and to_stage == row.get("stage") and key == name:
            if row.get("visit") != found.get("visit", 0) + 1 or row.get("cycle") not in (
                    found.get("cycle"), (found.get("cycle") or 0) + 1):
                self._say(seq, name, f"entry {seq} (advance of {name}) changed {said}; an advance adds one to the "
                                     f"visit and keeps the cycle or starts the next")
            return
        if action == "decision.record" and to_stage == row.get("stage") and key == name:
            decided = [i[2] for i in images if i[0] == "decision" and isinstance(i[2], dict)
                       and i[1] not in self.rows["decision"] and i[2].get("project_id") == row_id
                       and i[2].get("visit") == found.get("visit") and i[2].get("outcome") in ("recycle", "stop")]
            wf = self._workflow(found.get("workflow"), found.get("workflow_version"))
            if decided and row.get("visit") == found.get("visit", 0) + 1 and row.get("cycle") == found.get("cycle") \
                    and (wf is None or row.get("stage") in _destinations(wf, str(found.get("stage")), decided)):
                return
            self._say(seq, name, f"entry {seq} (decision.record of {name}) changed {said}, but holds no recycle or "
                                 f"stop decision of that visit that sends it there")
            return
        self._say(seq, name, f"entry {seq} ({action}) changed project {name}'s {said}; only an advance through a "
                             f"gate, or a body's recycle or stop decision, moves a project")

    def _imported(self, seq: int, name: Any, key: Any, to_stage: Any, row: dict[str, Any], wf: Workflow | None,
                  payload: dict[str, Any]) -> None:
        """A project brought in by `import register`: at any stage of its workflow but a final one (its stop stage,
        or another: a final stage is entered through a gate, which follows its contracts), visit 1 of cycle 1, its
        entry naming the register (file, SHA-256, line) it was imported from."""
        source = payload.get("imported")
        where = f"entry {seq} (project.import of {name})"
        if not (isinstance(source, dict) and isinstance(source.get("file"), str) and source["file"]
                and isinstance(source.get("sha256"), str) and len(source["sha256"]) == 64
                and all(c in "0123456789abcdef" for c in source["sha256"])
                and type(source.get("line")) is int and source["line"] >= 1):
            self._say(seq, name, f"{where} does not name the register it was imported from (file, SHA-256 and "
                                 f"line); only an import creates a project past its workflow's first stage")
            return
        if key != name or to_stage != row.get("stage"):
            self._say(seq, name, f"{where} is the entry of {key!r} at {to_stage!r}, but the project it made is "
                                 f"{name!r} at {row.get('stage')!r}")
            return
        if wf is not None and (not wf.has_stage(str(row.get("stage"))) or wf.stage(str(row.get("stage"))).final
                               or (row.get("visit"), row.get("cycle")) != (1, 1)):
            self._say(seq, name, f"{where} created {name} at {row.get('stage')}, visit {row.get('visit')} of cycle "
                                 f"{row.get('cycle')}; an import creates a project at a stage of {wf.name} that is "
                                 f"not final, visit 1 of cycle 1")

    def _baseline(self, seq: int, table: str, row_id: int, row: dict[str, Any] | None) -> None:
        if table not in self.rows:
            return  # a table no gate reads: the image check compares its rows
        before = self.rows[table].get(row_id)
        label = row.get("key") if table == "project" and row else None
        if row is None:
            self._say(seq, label, f"entry {seq} (record.baseline) deletes {table} #{row_id}; a baseline records rows "
                                  f"as they stand")
        elif before is None:
            if self.started and table in self.imaged:
                self._say(seq, label, f"entry {seq} (record.baseline) brought {table} #{row_id} onto the record; a "
                                      f"baseline records the rows an upgrade found, and only the first one brings "
                                      f"rows onto it")
        else:
            differ = sorted(c for c in before if row.get(c, _NEW) != before[c])
            if differ:
                self._say(seq, label, f"entry {seq} (record.baseline) changed {table} #{row_id}'s "
                                      f"{', '.join(differ)}; a baseline records rows as they stand and changes none")


_NEW: Any = object()


def _destinations(wf: Workflow, stage: str, decided: Iterable[dict[str, Any]]) -> set[str]:
    out = set()
    for d in decided:
        if d.get("outcome") == "stop":
            out.add(wf.stop)
        elif d.get("recycle_to") in wf.earlier_stages(stage):
            out.add(d["recycle_to"])
    return out
