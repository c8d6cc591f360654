"""Report data for governance leads and boards, built from the audit log and the tables it refers to.

These functions return plain dicts (the `--json` output); the HTML and Markdown renderings live in
the `reports` package.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from itertools import groupby
from typing import Any

from cycle.audit import chain, signing
from cycle.audit.chain import Progress
from cycle.audit.verify import verify_all
from cycle.calendar import clock, quarters
from cycle.db import rows
from cycle.db.models import Decision, Evidence, Waiver
from cycle.db.rows import ContractRow, DecisionRow, EvidenceRow, ProjectRow, WaiverRow
from cycle.db.spill import Spill
from cycle.db.sql import Sql
from cycle.db.store import Store
from cycle.projects.views import supporting
from cycle.workflow import gates, registry
from cycle.workflow.definition import Workflow

from . import contracts, funding, headings
from .errors import CycleError

REFUSALS = ("advance.refused", "decision.refused", "waiver.refused", "project.refused")
#: A governance lead's correction of the record (cycle.governance.corrections), and what it corrects.
CORRECTIONS = {"contract.correct": "contract", "decision.correct": "decision", "milestone.correct": "milestone"}


def _verified(store: Store, checkpoint: str | None, progress: Progress | None = None) -> dict[str, Any]:
    """The whole check `audit verify` runs (chain, checkpoint, records), as its --json prints it."""
    result = verify_all(store, checkpoint, progress=progress).as_dict()
    result["checked_against"] = result.pop("checkpoint") or "no checkpoint given (a cut-off tail would not show)"
    result["signed_checkpoint"] = signing.latest(store)  # None: no signed checkpoint yet
    return result


def stage_counts(projects: Iterable[Any], stage_of: dict[str, str] | None = None) -> dict[str, dict[str, int]]:
    """workflow -> stage -> how many projects (rows with a workflow and a stage, and a key with `stage_of`) stand
    there (at `stage_of[key]` when given: where they stood then)."""
    out: dict[str, Counter[str]] = {}
    for p in projects:
        out.setdefault(p.workflow, Counter())[p.stage if stage_of is None else stage_of[p.key]] += 1
    return {wf: dict(c) for wf, c in out.items()}


class Streamed(list[Any]):
    """A list read as it is used: iterating it gives its items once, as they are made; its length is known ahead
    (the JSON encoder and the templates ask whether it is empty, and `| length`). Holds none of its items."""

    def __init__(self, items: Iterable[Any], length: int) -> None:
        super().__init__()
        self._items, self._length = items, length

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)  # a generator once; a Spill's bag as often as it is read

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0


class _Lockstep:
    """The rows of a stream ordered as the projects are (by key), handed out a project's at a time."""

    def __init__(self, found: Iterator[Any], owner: Callable[[Any], Any]) -> None:
        self._found, self._owner = found, owner
        self._next = next(found, None)

    def take(self, project: Any) -> list[Any]:
        mine = []
        while self._next is not None and self._owner(self._next) == project:
            mine.append(self._next)
            self._next = next(self._found, None)
        return mine


_PROJECT_ROWS = "SELECT {columns} FROM {table} t JOIN project p ON p.id = t.project_id{where} ORDER BY p.key, t.id"


@contextmanager
def gate_audit(store: Store, key: str | None = None, checkpoint: str | None = None,
               progress: Progress | None = None, checked: bool = False) -> Iterator[dict[str, Any]]:
    """For each gate passed: the criteria as they stood, evidence, decision, waivers; refused attempts;
    every change of accountable body, and (counted at the top) the decisions nobody could verify.
    `chain` holds the whole verification (BadInput first for a checkpoint that is not SEQ:HASH); `progress`
    hears how it gets on. `checked`: the caller has run cycle.headings.gate_audit on these inputs already.

    The report's projects are read as they are used (a project's rows and entries at a time), in one read
    transaction that lasts as long as the `with`: memory stays bounded however large the portfolio and its log.
    The counts at the top and the stages are read first, in a pass over the rows they need."""
    key = key or None  # an empty KEY: every project, as before
    if not checked:
        headings.gate_audit(store, key, checkpoint)  # BadInput, ProjectNotFound: before the long check
    verified = _verified(store, checkpoint, progress)
    with store.reading(snapshot=True) as sql:
        if key is not None:
            rows.project(sql, key)  # deleted while the record was checked: still ProjectNotFound
        where = " WHERE p.key = :key" if key is not None else ""
        given: dict[str, Any] = {"key": key} if key is not None else {}
        with closing(sql.stream("SELECT p.workflow, p.stage FROM project p" + where + " ORDER BY p.key",
                                **given)) as found:
            counts = stage_counts(found)
        total = sum(n for at in counts.values() for n in at.values())
        unverified = body_changes = 0
        with closing(chain._entries_by_project(sql, key, ("decision.record", "project.set"))) as counted:
            for e in counted:
                filed = _file_project([e], {}, {}, {})
                unverified += len(filed["unverified_decisions"])
                body_changes += len(filed["body_changes"])
        with ExitStack() as streams:
            def lockstep(found: Generator[Any, None, None], owner: Callable[[Any], Any]) -> _Lockstep:
                return _Lockstep(streams.enter_context(closing(found)), owner)

            projects = streams.enter_context(closing(rows.stream_projects(sql, key=key)))
            entries = lockstep(chain._entries_by_project(sql, key), lambda e: e.project)
            evidence, decisions, waivers = (
                lockstep(sql.stream(_PROJECT_ROWS.format(columns=", ".join(f"t.{c}" for c in row._fields),
                                                         table=table, where=where), **given), lambda r: r.project_id)
                for row, table in ((EvidenceRow, "evidence"), (DecisionRow, "decision"), (WaiverRow, "waiver")))
            held = lockstep(sql.stream(_PROJECT_ROWS.format(columns=", ".join(f"t.{c}" for c in ContractRow._fields),
                                                            table="contract", where=where), **given),
                            lambda r: r.project_id)
            today = clock.london_today()

            names: dict[tuple[str, int | None], Workflow | None] = {}  # each workflow version, read once

            procured = {r.project_id for r in sql.rows("SELECT project_id FROM procurement")}

            def each() -> Iterator[dict[str, Any]]:
                for project in projects:
                    filed = {"key": project.key, "title": project.title, "workflow": project.workflow,
                           "workflow_version": project.workflow_version, "stage": project.stage,
                           "cycle": project.cycle, "owner": project.owner, "programme": project.programme,
                           "hub_role": project.hub_role, "accountable_body": project.accountable_body,
                           **_file_project(entries.take(project.key), (mine := {e.id: e for e in
                                                                                evidence.take(project.id)}),
                                           {d.id: d for d in decisions.take(project.id)},
                                           {w.id: w for w in waivers.take(project.id)}),
                           "procurement": None,
                           "supporting": _supporting(store, sql, project, mine.values(), names),
                           "contracts": [_contract_line(project.key, ContractRow._make(c), today)
                                         for c in held.take(project.id)]}
                    if project.id in procured:
                        filed["procurement"] = _procurement(sql, project, filed["gates"])
                    yield filed

            yield {"report": "gate-audit", "generated": clock.london_today().isoformat(),
                   "scope": key or "all projects", "chain": verified, "unverified_decisions": unverified,
                   "body_changes": body_changes, "projects": Streamed(each(), total),
                   "stage_counts": counts}


def _contract_line(key: str, c: ContractRow, today: date) -> dict[str, Any]:
    """A contract as the gate-audit report lists it under its project: reference, provider, dates, status today, and
    the working day to act by when the notice deadline is not one (contracts.Status.deadline_advice)."""
    try:
        st = contracts.status(key, c, today)
        deadline, state, advice = (st.deadline.isoformat() if st.deadline else None), st.state, st.deadline_advice
    except CycleError:  # terms edited by hand: the check at the top names it
        deadline, state, advice = None, "unreadable", None
    return {"ref": c.ref, "provider": c.provider, "start_on": c.start, "end_on": c.end, "notice_deadline_on": deadline,
            "notice_deadline_advice": advice, "status": state}


def _procurement(sql: Sql, project: ProjectRow, gates_passed: list[dict[str, Any]]) -> dict[str, Any]:
    """A project's procurement as the gate-audit report prints it: the route, each step with who recorded it and
    PSR reg 24's record, and the clocks as they stood when each gate was passed after the procurement began (the
    steps done by that day and on the record by then)."""
    from cycle.procurement import record

    found = rows.procurement(sql, project.id)
    assert found is not None
    p, steps = found
    out: dict[str, Any] = {
        "regime": p.regime, "regime_title": None, "route": p.route, "route_title": None, "route_cite": None,
        "light_touch": p.light_touch == "yes", "value": p.value, "started_by": p.started_by,
        "started_at": p.started_at, "problem": None, "at_gates": [],
        "steps": [{"step": s.step, "on": s.done_on, "ref": s.ref, "note": s.note,
                   **{name: getattr(s, name) for name in record.REG24}, "recorded_by": s.recorded_by,
                   "recorded_at": s.recorded_at} for s in steps]}
    try:
        held = record.from_rows(project.key, p, steps)
    except CycleError as exc:  # rows edited by hand: the check at the top names the change
        out["problem"] = str(exc)
        return out
    out.update(regime_title=held.regime.title, route_title=held.route.title, route_cite=held.route.cite)
    for g in gates_passed:
        if str(g["at"]) < p.started_at:
            continue
        try:
            day = _local(g["at"])
        except (TypeError, ValueError):  # an entry's time edited by hand: `audit verify` at the top names it
            continue
        then = record.from_rows(project.key, p, [s for s in steps if s.recorded_at <= g["at"]], day)
        out["at_gates"].append({"seq": g["seq"], "gate": g["gate"], "on": day.isoformat(),
                                "clocks": [c.sentence(day) for c in then.clocks(day)]})
    return out


def _file_project(mine: list[Any], evidence: dict[Any, Any], decisions: dict[Any, Any],
                  waivers: dict[Any, Any]) -> dict[str, Any]:
    """A project's part of the gate-audit report from its entries (in sequence order) and its evidence, decisions
    and waivers by id."""
    authority: dict[int, str] = {}
    for e in mine:
        if e.action == "decision.record":
            try:
                p = chain.payload_of(e)
                authority[p["decision_id"]] = _authority(p)
            except chain.PAYLOAD_ERRORS:
                pass  # listed as unreadable below
    gates: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    waived: list[dict[str, Any]] = []
    unverified: list[dict[str, Any]] = []
    decided: list[dict[str, Any]] = []
    requested: list[dict[str, Any]] = []
    unreadable: list[dict[str, Any]] = []
    body_changes: list[dict[str, Any]] = []
    stage = None
    for e in mine:
        try:
            p = chain.payload_of(e)
            _one_entry(e, p, evidence, decisions, waivers, authority, gates, refused, waived, unverified,
                       decided, requested)
            changes = p.get("changes") if e.action == "project.set" else None
            change = changes.get("accountable_body") if isinstance(changes, dict) else None
            if isinstance(change, list) and len(change) == 2:
                body_changes.append({"seq": e.seq, "at": e.at, "by": e.actor, "stage": stage,
                                     "from": change[0], "to": change[1]})
        except chain.PAYLOAD_ERRORS as exc:
            unreadable.append(_unreadable(e, exc))
        stage = e.to_stage or stage
    used_by = {i: g["seq"] for g in gates for i in g.pop("decision_ids")}
    for d in decided:
        d["used_by"] = d["seq"] if d["moved"] else used_by.get(d["decision_id"])
    return {"gates": gates, "refused": refused, "waivers": waived, "unverified_decisions": unverified,
            "decisions": decided, "requests": requested, "body_changes": body_changes, "unreadable": unreadable,
            "entries": len(mine)}


def _supporting(store: Store, sql: Sql, project: ProjectRow, evidence: Iterable[Any],
                read: dict[tuple[str, int | None], Workflow | None]) -> list[dict[str, Any]]:
    """A project's supporting evidence (cycle.projects.views.supporting); `read` keeps each workflow version
    between projects (None: on no version, or one that cannot be read)."""
    version = (project.workflow, project.workflow_version)
    if version not in read:
        read[version] = None
        if project.workflow_version is not None:
            try:
                read[version] = registry.get(store, sql, project.workflow, project.workflow_version)
            except CycleError:
                pass
    return [{"id": e.id, "cycle": e.cycle, "name": e.name, "ref": e.ref, "recorded_by": e.recorded_by,
             "recorded_at": e.recorded_at}
            for e in sorted(evidence, key=lambda e: e.id or 0) if supporting(read[version], e)]


def _authority(p: dict[str, Any]) -> str:
    """A decision.record payload's `authority` (why its recorder could record it: governance authority.py's
    decision_authority), as the reports show it: "not recorded" on entries written before it was."""
    return str(p.get("authority") or "not recorded")


def _unreadable(e: Any, exc: Exception) -> dict[str, Any]:
    return {"seq": e.seq, "at": e.at, "actor": e.actor, "project": e.project, "action": e.action,
            "problem": chain.why_unreadable(exc)}


def _one_entry(e: Any, p: dict[str, Any], evidence: dict[Any, Evidence], decisions: dict[Any, Decision],
               waivers: dict[Any, Waiver], authority: dict[int, str], gates: list[dict[str, Any]],
               refused: list[dict[str, Any]], waived: list[dict[str, Any]], unverified: list[dict[str, Any]],
               decided: list[dict[str, Any]], requested: list[dict[str, Any]]) -> None:
    """File one entry of a project's log under the report's lists; KeyError or TypeError when its payload
    lacks what its action writes (nothing is added then)."""
    if e.action == "advance":
        gates.append(_gate_passed(e, p, evidence, decisions, waivers, authority))
    elif e.action == "decision.record":
        if not isinstance(p["decision_id"], int):
            raise TypeError(f"decision_id {p['decision_id']!r} is not a number")
        decision = {"seq": e.seq, "at": e.at, "actor": e.actor, "decision_id": p["decision_id"], "gate": p["gate"],
                    "cycle": p.get("cycle"), "outcome": p["outcome"], "body": p["body"], "ref": p["ref"],
                    "recycle_to": p.get("recycle_to"), "decided_on": p.get("decided_on"),
                    "authority": _authority(p), "moved": bool(e.to_stage),
                    "from": e.from_stage, "to": e.to_stage}
        if e.to_stage:
            gates.append({"seq": e.seq, "at": e.at, "actor": e.actor, "gate": p["gate"], "gate_title": None,
                          "from": e.from_stage, "to": e.to_stage, "cycle": p.get("cycle"),
                          "workflow": p.get("workflow"), "workflow_version": p.get("workflow_version"),
                          "workflow_sha256": p.get("workflow_sha256"), "by_decision": p["outcome"], "criteria": [],
                          "decision": _decision(decisions.get(p["decision_id"]), authority), "waivers": [],
                          "opened": None, "decision_ids": []})
        decided.append(decision)
        if decision["authority"].startswith("unverified"):
            unverified.append({"seq": e.seq, "gate": p["gate"], "body": p["body"], "actor": e.actor})
    elif e.action == "decision.correct":  # a governance lead's correction of its date: the report shows both
        for earlier in decided:
            if earlier["decision_id"] == p["decision_id"]:
                old, new = p["changes"]["decided_on"]
                earlier["decided_on"] = new
                earlier.setdefault("corrections", []).append({"seq": e.seq, "at": e.at, "by": e.actor, "was": old,
                                                              "now": new, "reason": p["reason"]})
    elif e.action == "gate.request":
        requested.append({"seq": e.seq, "at": e.at, "by": e.actor, "gate": p["gate"], "cycle": p.get("cycle"),
                          "note": p.get("note")})
    elif e.action == "project.refused":
        refused.append({"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "gate": None,
                        "why": str(p["why"])})
    elif e.action in REFUSALS:
        refused.append({"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "gate": p["gate"],
                        "why": p.get("why") or "missing: " + ", ".join(map(str, p.get("unmet", [])))})
    elif e.action == "waiver.add":
        waived.append({"seq": e.seq, "at": e.at, "by": e.actor, "gate": p["gate"], "criterion": p["criterion"],
                       "reason": p["reason"], "was": p["was"]})


def _decision(d: Decision | None, authority: dict[int, str]) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"id": d.id, "outcome": d.outcome, "body": d.body, "ref": d.ref, "decided_on": d.decided_on,
            "recorded_by": d.recorded_by, "recorded_at": d.recorded_at, "recycle_to": d.recycle_to,
            "authority": authority.get(d.id or 0, "not recorded")}


def _gate_passed(e: Any, p: dict[str, Any], evidence: dict[Any, Evidence], decisions: dict[Any, Decision],
                 waivers: dict[Any, Waiver], authority: dict[int, str]) -> dict[str, Any]:
    criteria, decision, used_waivers, relied_on = [], None, [], []
    for c in p["criteria"]:
        refs = [{"id": i, "name": evidence[i].name, "ref": evidence[i].ref, "recorded_by": evidence[i].recorded_by,
                 "recorded_at": evidence[i].recorded_at} for i in c.get("evidence_ids", []) if i in evidence]
        waiver = waivers.get(c.get("waiver_id"))
        if waiver is not None:
            used_waivers.append({"id": waiver.id, "criterion": waiver.criterion, "by": waiver.waived_by,
                                 "at": waiver.waived_at, "reason": waiver.reason})
        for i in c.get("decision_ids", []):
            decision = _decision(decisions.get(i), authority) if c["met"] else decision
            relied_on += [i] if c["met"] else []
        state = ("waived" if c.get("waived") else "met" if c["met"] and c.get("applies", True)
                 else "not applicable" if c["met"] else "not met")
        criteria.append({"id": c["id"], "kind": c["kind"], "must": c["must"], "result": state, "reason": c["reason"],
                         "evidence": refs})
    return {"seq": e.seq, "at": e.at, "actor": e.actor, "gate": p["gate"], "gate_title": p.get("gate_title"),
            "from": e.from_stage, "to": e.to_stage, "cycle": p.get("cycle"), "workflow": p.get("workflow"),
            "workflow_version": p.get("workflow_version"), "workflow_sha256": p.get("workflow_sha256"),
            "by_decision": None, "criteria": criteria,
            "decision": decision, "waivers": used_waivers, "opened": p.get("opened"), "decision_ids": relied_on}


def workflows_in(store: Store, report: dict[str, Any]) -> dict[str, Workflow]:
    """The newest installed version of each workflow a report counts projects on (for its diagrams)."""
    with store.reading() as sql:
        return {name: registry.get(store, sql, name) for name in sorted(report.get("stage_counts", {}))}


# --- the quarterly portfolio report -------------------------------------------------------------

def _local(at: str) -> date:
    return clock.london_date(clock.parse_utc(at))


def _decided(e: Any, p: dict[str, Any], recorded: date) -> dict[str, Any]:
    """A decision.record entry as the quarterly report lists it: dated by the meeting, else the day recorded."""
    day = recorded
    if p.get("decided_on"):
        try:
            day = date.fromisoformat(p["decided_on"])
        except (TypeError, ValueError):
            raise chain.Unreadable(f"decided_on {p['decided_on']!r} is not a date") from None
    for name in ("gate", "outcome", "body"):  # what the report counts and sorts by: text, or the entry is unreadable
        if not isinstance(p[name], str):
            raise chain.Unreadable(f"{name} {p[name]!r} is not text")
    if p["ref"] is not None and not isinstance(p["ref"], str):
        raise chain.Unreadable(f"ref {p['ref']!r} is not text")
    return {"date": day.isoformat(), "recorded": recorded.isoformat(), "project": e.project, "gate": p["gate"],
            "outcome": p["outcome"], "body": p["body"], "ref": p["ref"],
            "authority": _authority(p), "seq": e.seq}


@dataclass(frozen=True)
class WayOut:
    """A gate out of a project's stage: where it leads, and whether it is open or what it waits on."""

    gate: str
    to: str
    open: bool
    waits_on: list[str]


def _ways_out(store: Store, sql: Sql, p: ProjectRow) -> Iterator[WayOut]:
    """Every gate out of the project's stage, in the caller's read transaction (the site's too, cycle.site), in the
    workflow's order (as `project show` lists them, but those taken only when named), each checked as it is asked
    for; none at a final stage. What cannot be checked waits on why, said rather than hidden: a workflow version not
    pinned (one way, "-"), a contract's terms or a procurement edited by hand (that gate; the check of the record
    names the row)."""
    try:
        wf = registry.pinned(store, sql, p)
    except CycleError as exc:
        yield WayOut("-", "-", False, [str(exc)])
        return
    for gate in wf.gates_from(p.stage, explicit=False):
        try:
            check = gates.check(sql, wf, gate, p)
        except CycleError as exc:
            yield WayOut(gate.id, gate.dest, False, [str(exc)])
            continue
        yield WayOut(check.gate, check.to, check.open,
                     [] if check.open else [f"{c.id}: {c.reason}" for c in check.unmet_must])


@contextmanager
def quarterly(store: Store, quarter: str, today: date | None = None, checkpoint: str | None = None,
              progress: Progress | None = None, checked: bool = False) -> Iterator[dict[str, Any]]:
    """One page for a board: where every project stood at the quarter's end and what happened in it (`progress`
    hears how the check of the record gets on; `checked`: the caller has run cycle.headings.quarterly already).

    Memory stays bounded however large the portfolio and its log: the log and the tables are read a page at a time,
    and the report's lists (and each project's detail) are kept in a Spill on disk, read back as they are written,
    for as long as the `with` lasts. The summary at the top is counted as they are made."""
    from cycle.governance.milestones import MilestoneView
    from cycle.performance import portfolio
    from cycle.projects.programmes import NO_PROGRAMME
    from cycle.reminders import reviews as review_rules

    q = quarters.parse_quarter(quarter)
    today = today or clock.london_today()
    if not checked:
        headings.quarterly(quarter, checkpoint)  # BadInput: before the long check
    verified = _verified(store, checkpoint, progress)
    with Spill() as spill, store.reading(snapshot=True) as sql:
        everyone = spill.map()  # key -> the project's row (a tuple)
        key_of = spill.map()  # id -> key
        workflows: set[str] = set()
        with closing(rows.stream_projects(sql)) as found:
            for p in found:
                everyone[p.key] = tuple(p)
                key_of[p.id] = p.key
                workflows.add(p.workflow)
        everyone.flush()
        key_of.flush()

        def project(key: Any) -> ProjectRow | None:
            found = everyone.get(key)
            return None if found is None else ProjectRow._make(found)

        def titled(item: dict[str, Any]) -> dict[str, Any]:
            known = everyone.get(str(item["project"]))
            item["title"] = known[_TITLE] if known is not None else item["project"]
            return item

        programme_titles = rows.programme_titles(sql)
        stage_at_end = spill.map()  # key -> its stage at the quarter's end
        moves, waived, corrected = spill.bag(), spill.bag(), spill.bag()
        every_decision = spill.map()  # decision id -> as listed, its date corrected where it was
        unreadable: list[dict[str, Any]] = []
        refused = refused_gates = 0
        with closing(chain.iter_entries(sql)) as entries:  # read as it goes: the log may be millions of entries long
            for e in entries:
                try:
                    when = _local(e.at)
                except (TypeError, ValueError, AttributeError):  # no quarter to file it under, so in every one
                    unreadable.append({**_unreadable(e, chain.Unreadable(f"its time {e.at!r} is not a UTC time")),
                                       "date": None})
                    continue
                if e.project and e.to_stage and when <= q.end:
                    stage_at_end[e.project] = e.to_stage
                in_quarter = q.start <= when <= q.end
                # A decision belongs to the quarter of the meeting that took it, which may be before it was typed
                # in, or (a governance lead's correction, itself in any quarter) the day the minutes say.
                if not e.project or not (in_quarter or e.action in ("decision.record", "decision.correct")):
                    continue
                try:
                    payload = chain.payload_of(e)
                    if e.action == "decision.record":
                        row = _decided(e, payload, when)
                        known = payload.get("decision_id")
                        every_decision[known if isinstance(known, int) else -e.seq] = row
                    elif e.action == "decision.correct" and payload.get("decision_id") in every_decision:
                        fixed = every_decision[payload["decision_id"]]
                        fixed["date"] = date.fromisoformat(payload["changes"]["decided_on"][1]).isoformat()
                        every_decision[payload["decision_id"]] = fixed
                    if in_quarter and e.action in CORRECTIONS:
                        corrected.add(titled({
                            "date": when.isoformat(), "project": e.project, "what": CORRECTIONS[e.action],
                            "changes": {str(k): list(v) for k, v in dict(payload["changes"]).items()},
                            "by": e.actor, "reason": str(payload["reason"]), "seq": e.seq}), group=e.project)
                    elif in_quarter and e.action == "waiver.add":
                        waived.add(titled({"date": when.isoformat(), "project": e.project, "gate": payload["gate"],
                                           "criterion": payload["criterion"], "by": e.actor,
                                           "reason": payload["reason"], "seq": e.seq}), group=e.project)
                except chain.PAYLOAD_ERRORS as exc:
                    payload = {}
                    if in_quarter:
                        unreadable.append({**_unreadable(e, exc), "date": when.isoformat()})
                if not in_quarter:
                    continue
                if e.to_stage and e.action in ("advance", "decision.record"):
                    moves.add(titled({"date": when.isoformat(), "project": e.project, "from": e.from_stage,
                                      "to": e.to_stage, "gate": payload.get("gate"), "by": e.actor, "seq": e.seq}),
                              group=e.project)
                elif e.action in REFUSALS:
                    refused += 1
                    refused_gates += e.action == "advance.refused"
        decided = spill.bag()
        outcomes: Counter[str] = Counter()
        unverified = 0
        for d in every_decision.values():
            if q.start <= date.fromisoformat(d["date"]) <= q.end:
                decided.add(titled(d), sort=f"{d['date']}\x00{_ordered(d['seq'])}", group=d["project"])
                outcomes[d["outcome"]] += 1
                unverified += d["authority"].startswith("unverified")

        defined = {wf: registry.get(store, sql, wf).stages for wf in workflows}
        order = {wf: {st.id: i for i, st in enumerate(defined[wf])} for wf in defined}
        titles = {(wf, st.id): st.title for wf in defined for st in defined[wf]}
        by_stage: dict[str, dict[str, Any]] = {}
        counts: dict[str, Counter[str]] = {}
        standing = 0
        def standing_at_end() -> Iterator[tuple[ProjectRow, str]]:
            """The projects there are with a stage at the quarter's end, by key (as sorted() orders text), and it."""
            for _, end_stage, found in stage_at_end.joined(everyone):
                yield ProjectRow._make(found), end_stage

        for p, end_stage in standing_at_end():
            standing += 1
            row = by_stage.setdefault(f"{p.workflow}:{end_stage}", {
                "workflow": p.workflow, "stage": end_stage, "total": 0, "models": Counter()})
            row["total"] += 1
            row["models"][p.model or "not set"] += 1
            counts.setdefault(p.workflow, Counter())[end_stage] += 1
        stages = [{**r, "models": dict(sorted(r["models"].items()))} for r in by_stage.values()]
        stages.sort(key=lambda r: (r["workflow"], order[r["workflow"]].get(r["stage"], 99)))
        for r in stages:
            r["stage_title"] = titles.get((r["workflow"], r["stage"]), r["stage"])

        waiting = spill.bag()
        with closing(rows.stream_projects(sql)) as found:
            for p in found:
                way = next((way for way in _ways_out(store, sql, p) if not way.open), None)
                if way is not None:
                    waiting.add({"project": p.key, "gate": way.gate, "to": way.to, "missing": way.waits_on,
                                 "title": p.title}, group=p.key)

        held = spill.map()  # project id -> the day its review of the quarter was held (the last row of it)
        held.update((r.project_id, r.held_on) for r in sql.stream(
            "SELECT project_id, held_on FROM review_meeting WHERE quarter = :q ORDER BY id", q=str(q)))
        live = spill.map()  # project id -> its contracts (their rows as tuples), by id
        deadlines = spill.bag()
        who_pays = spill.bag()  # a short "who pays" line per funded contract (issue 16 part 2)
        split_of = rows.all_funders(sql)  # the funded contracts' rows only, read once
        horizon_start, horizon_end = (q + 1).start, (q + 2).end
        with closing(rows.stream_contracts(sql)) as held_contracts:  # one pass: a project's contracts come together
            for project_id, batch in groupby(held_contracts, key=lambda h: h.contract.project_id):
                theirs = list(batch)
                live[project_id] = [tuple(contract) for _, contract in theirs]
                for holder, contract in theirs:
                    split = funding.of_rows(split_of.get(contract.id, []))
                    if split is not None and holder.stage != "closed":
                        who_pays.add(titled({"project": holder.key, "ref": contract.ref,
                                             "provider": contract.provider, "funders": split.summary(),
                                             "pool": split.pool, "warning": split.mismatch(contract.value_total)}),
                                     sort=f"{holder.key}\t{contract.ref or ''}", group=holder.key)
                    try:
                        st = contracts.status(holder.key, contract, horizon_start)
                    except CycleError:  # terms edited by hand (a notice period that is not one): the check names it
                        continue
                    if st.deadline and horizon_start <= st.deadline <= horizon_end and holder.stage != "closed":
                        deadlines.add(titled({"project": holder.key, "ref": contract.ref,
                                              "provider": contract.provider, "deadline": st.deadline.isoformat(),
                                              "end": contract.end, "if_nothing_is_done": st.consequence,
                                              "notice_deadline_advice": st.deadline_advice}),
                                      sort=st.deadline.isoformat(), group=holder.key)
        reviews = spill.bag()
        review_states: Counter[str] = Counter()
        for p, _ in standing_at_end():
            # Due exactly when the reminders say so: the reminders' own rule, asked as of the report's day.
            try:
                owed = review_rules.quarters_due(sql, p, [ContractRow._make(c) for c in live.get(p.id, [])], today)
            except CycleError:  # terms edited by hand: the check at the top names it
                continue
            if q not in owed:
                continue
            on = held.get(p.id, _NONE)
            state = "held" if on is not _NONE else ("overdue" if today > q.end else "not yet held")
            review_states[state] += 1
            reviews.add({"project": p.key, "quarter": str(q), "state": state,
                         "held_on": on if on is not _NONE else None, "title": p.title}, group=p.key)

        slipped = spill.bag()
        with closing(sql.stream("SELECT id, project_id, title, due, done_on FROM milestone "
                                "ORDER BY due, id")) as milestones:
            for m in milestones:
                view = MilestoneView(m.id, m.title, m.due, m.done_on)
                try:
                    due = date.fromisoformat(m.due)
                    late = q.start <= due <= q.end and view.slipped(min(today, q.end))
                except (TypeError, ValueError):  # not a date: edited by hand, which the check at the top names
                    continue
                if late:
                    owner = key_of.get(m.project_id, "?")
                    slipped.add(titled({"project": owner, "milestone": m.title, "due": m.due,
                                        "done_on": m.done_on}), group=owner)

        # Evidence recorded in the quarter that counts for no criterion (issue 20: shown so a typo is noticed),
        # a project's at a time.
        supporting = spill.bag()
        names: dict[tuple[str, int | None], Workflow | None] = {}

        def support(pid: Any, found_here: list[Any]) -> None:
            owner = key_of.get(pid)
            holder = project(owner) if owner is not None else None
            if holder is None:
                return
            for x in _supporting(store, sql, holder, found_here, names):
                day = _local(x["recorded_at"]).isoformat()
                supporting.add(titled({"date": day, "project": holder.key, "id": x["id"], "name": x["name"],
                                       "ref": x["ref"], "by": x["recorded_by"]}),
                               sort=f"{day}\x00{_ordered(x['id'])}", group=holder.key)

        with closing(sql.stream("SELECT id, project_id, cycle, name, ref, recorded_by, recorded_at, counts_for "
                                "FROM evidence WHERE counts_for IS NULL AND recorded_at >= :since "
                                "ORDER BY project_id, id", since=(q.start - timedelta(days=1)).isoformat())
                     ) as recorded:
            mine: list[Any] = []
            for ev in recorded:
                try:
                    if not q.start <= _local(ev.recorded_at) <= q.end:
                        continue
                except (TypeError, ValueError, AttributeError):  # edited by hand: the check at the top names it
                    continue
                if mine and mine[0].project_id != ev.project_id:
                    support(mine[0].project_id, mine)
                    mine = []
                mine.append(ev)
            if mine:
                support(mine[0].project_id, mine)

        # Every live contract's indicators in the quarter, each with its last quarters (issue 17 part 7): kept on
        # disk as read, counted by status for the first page.
        performance = spill.bag()
        by_status: Counter[str] = Counter()
        with portfolio.charted(store, q, today) as charted:
            for item in charted:
                performance.add(item.as_dict())
                by_status[item.line.status or "not-judged"] += 1

        # Per project, grouped by programme (seed 002): programmes by title, then the projects in none, last.
        in_groups: set[str] = set()
        for p, _ in standing_at_end():
            if p.programme in programme_titles:
                in_groups.add(p.programme)
        groups = sorted(in_groups, key=lambda g: (programme_titles[g].casefold(), g))
        rank = {g: i for i, g in enumerate([*groups, None])}
        lists = {"moves": moves, "decisions": decided, "waivers": waived, "corrections": corrected,
                 "waiting": waiting, "reviews": reviews, "deadlines": deadlines,
                 "milestones_slipped": slipped, "supporting": supporting}
        projects = spill.bag()
        for p, end_stage in standing_at_end():
            group = p.programme if p.programme in programme_titles else None
            mine_of = {name: of.of(p.key) for name, of in lists.items()}
            projects.add({"project": p.key, "title": p.title, "workflow": p.workflow, "stage": end_stage,
                          "programme": group, "hub_role": p.hub_role,
                          "stage_title": titles.get((p.workflow, end_stage), end_stage),
                          "moves": mine_of["moves"], "decisions": mine_of["decisions"],
                          "waivers": mine_of["waivers"], "corrections": mine_of["corrections"],
                          "waiting": mine_of["waiting"],
                          "review": next(iter(mine_of["reviews"]), None),
                          "deadline": next(iter(mine_of["deadlines"]), None),
                          "milestones_slipped": mine_of["milestones_slipped"],
                          "supporting": mine_of["supporting"]},
                         sort=f"{rank[group]:06d}\x00{p.title.casefold()}\x00{p.key}", group=group)
        summary = {"projects": standing, "indicators": len(performance),
                   "indicators_by_status": {k: by_status[k] for k in (*portfolio.COUNTED, "not-judged")},
                   "by_stage": [{"workflow": r["workflow"], "stage": r["stage"], "stage_title": r["stage_title"],
                                 "total": r["total"]} for r in stages],
                   "gates_passed": len(moves), "gates_refused": refused_gates, "decisions": len(decided),
                   "decisions_by_outcome": dict(sorted(outcomes.items())),
                   "unverified_decisions": unverified,
                   "contracts_due": len(deadlines),
                   "reviews_held": review_states["held"], "reviews_missed": review_states["overdue"],
                   "reviews_not_yet_held": review_states["not yet held"], "waivers": len(waived),
                   "corrections": len(corrected), "gates_waiting": len(waiting), "milestones_slipped": len(slipped),
                   "refused_attempts": refused}

        def keys_in(group: str | None) -> Iterator[str]:
            return (x["project"] for x in projects.each_of(group))

        programmes = []
        for g in [*groups, None]:
            n = projects.count(g)
            if n:
                programmes.append({"programme": g, "title": programme_titles[g] if g else NO_PROGRAMME,
                                   "projects": Streamed(_Again(partial(keys_in, g)), n)})

        def listed(of: Any) -> Streamed:
            return Streamed(of, len(of))

        yield {"report": "quarterly", "generated": today.isoformat(), "quarter": str(q), "describe": q.describe(),
               "chain": verified, "unreadable": unreadable,
               "start": q.start.isoformat(), "end": q.end.isoformat(), "projects": standing, "by_stage": stages,
               "moves": listed(moves), "decisions": listed(decided), "waivers": listed(waived),
               "corrections": listed(corrected), "refused_attempts": refused, "waiting": listed(waiting),
               "reviews": listed(reviews), "deadlines": listed(deadlines),
               "deadline_window": [horizon_start.isoformat(), horizon_end.isoformat()],
               "milestones_slipped": listed(slipped), "supporting": listed(supporting),
               "who_pays": listed(who_pays), "performance": listed(performance),
               "stage_counts": {wf: dict(c) for wf, c in counts.items()}, "summary": summary,
               "by_project": listed(projects), "by_programme": programmes}


_TITLE = ProjectRow._fields.index("title")


def _ordered(number: Any) -> str:
    """A number as text that sorts as the number does (a sequence number or id: a damaged one sorts last)."""
    if isinstance(number, int) and -(2 ** 63) <= number < 2 ** 63:
        return f"{number + 2 ** 63:020d}"
    return f"~{number}"
_NONE: Any = object()


class _Again:
    """An iterable made afresh each time it is iterated (a template may read a list more than once)."""

    def __init__(self, make: Callable[[], Iterator[Any]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[Any]:
        return self._make()
