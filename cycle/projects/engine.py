"""The engine: projects move through a workflow's gates on a `transitions` state machine.

Every state-changing call runs in one write transaction: the row change, its project version bump
and its audit entry commit together or not at all. The state machine only decides whether a move
is allowed; nothing is written until the transaction commits, so a failure anywhere leaves the
database as it was.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from cycle import contracts, funding
from cycle.audit import chain, images
from cycle.calendar import clock
from cycle.db import rows
from cycle.db.models import Contract, ContractFunder, Decision, Evidence, Link, Project, row_id
from cycle.db.rows import ContractRow, ProjectRow, row_of
from cycle.db.sql import Sql, sql_of
from cycle.db.store import Store
from cycle.errors import BadInput, GateNotMet, NotPermitted, ProjectNotFound, StaleProject
from cycle.governance import authority, people
from cycle.inputs import iso_date, one_line
from cycle.shell import quote
from cycle.workflow import gates, registry
from cycle.workflow.definition import ACCOUNTABLE, CORE_FIELDS, ID, LINKS, Gate, Workflow
from cycle.workflow.gates import GateCheck, required_bodies

from . import history, programmes

MODELS = ("integrated", "co-ordinated", "joint", "national")
#: What `project set` changes besides a workflow's own attributes: the core fields, the programme the project
#: belongs to and the hub's role in it (cycle.projects.programmes; not fields a workflow's criteria name).
SETTABLE = (*CORE_FIELDS, "programme", "hub_role")


# --- the state machine ---------------------------------------------------------------------------

class _Token:
    """The object `transitions` moves; copied onto the row only when the transaction commits."""

    state: str


_machines: dict[tuple[str, str], tuple[Any, _Token]] = {}
_machine_lock = threading.Lock()


def machine(wf: Workflow) -> tuple[Any, _Token]:
    """One Machine (and the token it moves) per workflow version: gates, recycles, and stop."""
    key = (wf.name, wf.sha256)
    built = _machines.get(key)
    if built is None:
        from transitions import Machine  # only commands that move a project need it

        m = Machine(model=None, states=[s.id for s in wf.stages], initial=None,
                    auto_transitions=False, send_event=True)
        for gate in wf.gates:
            m.add_transition(gate.id, gate.source, gate.dest)
        for stage in wf.stages:
            if stage.final:
                continue
            m.add_transition("stop", stage.id, wf.stop)
            for earlier in wf.earlier_stages(stage.id):
                m.add_transition(f"recycle_to_{earlier}", stage.id, earlier)
        token = _Token()
        m.add_model(token, initial=wf.initial)
        built = _machines[key] = (m, token)
    return built


_moves: dict[tuple[str, str, str, str], str] = {}


def _move(wf: Workflow, stage: str, trigger: str) -> str:
    """Where `trigger` takes a project at `stage`; the machine refuses moves the workflow does not have.

    The machine has no conditions or callbacks, so its answer for a workflow version, a stage and a
    trigger never changes: each allowed move is asked of it once per process and remembered.
    """
    key = (wf.name, wf.sha256, stage, trigger)
    dest = _moves.get(key)
    if dest is not None:
        return dest
    from transitions import MachineError

    m, token = machine(wf)
    with _machine_lock:
        m.set_state(stage, model=token)
        try:
            token.trigger(trigger)  # type: ignore[attr-defined]
        except MachineError as exc:
            raise BadInput(f"Workflow {wf.name} does not allow {trigger} from {stage}") from exc
        dest = _moves[key] = token.state
        return dest


# --- writing -------------------------------------------------------------------------------------

def _checked_model(model: str | None) -> str | None:
    if model is not None and model not in MODELS:
        raise BadInput(f"model {model!r} is not one of: {', '.join(MODELS)}")
    return model


def load_for_write(s: Session, key: str, expect_version: int | None = None) -> Project:
    """The project with this key, to change in the ORM session's write transaction, its row locked until the
    transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE holds the whole database). StaleProject unless it is
    at `expect_version`, when given. (Reading a project is cycle.db.rows.project.)"""
    query = select(Project).where(Project.key == key).with_for_update()  # type: ignore[arg-type]
    project: Project | None = s.exec(query).scalars().first()  # type: ignore[call-overload]
    if project is None:
        raise ProjectNotFound(key)
    if expect_version is not None and project.version != expect_version:
        raise StaleProject(key, expect_version, project.version)
    return project


def _touch(s: Session, project: Project, expected_version: int) -> None:
    """Write the project row (bumping its version) only if nobody else changed it meanwhile."""
    project.updated_at = clock.utc_now()
    s.add(project)
    try:
        s.flush()
    except StaleDataError:
        raise StaleProject(project.key, expected_version, expected_version + 1) from None


def record_change(s: Session, project: Project, *, actor: str, action: str, payload: dict[str, Any],
                  from_stage: str | None = None, to_stage: str | None = None) -> Any:
    """Bump the project's version and append the change's audit entry, in the caller's write transaction."""
    version = project.version
    _touch(s, project, version)
    return chain.append(s, actor=actor, action=action, project=project.key, from_stage=from_stage,
                        to_stage=to_stage, payload={**payload, "version": [version, project.version]})


def create_project(store: Store, *, actor: str, key: str, title: str, workflow: str,
                   lead_commissioner: str | None = None, model: str | None = None,
                   accountable_body: str | None = None, owner: str | None = None,
                   attrs: dict[str, str] | None = None, replaces: str | None = None, programme: str | None = None,
                   hub_role: str | None = None) -> Project:
    """Create a project at its workflow's first stage, on the newest installed version of the workflow; in
    `programme` (a programme's key, cycle.projects.programmes), with the hub's role `hub_role`, when given."""
    actor = store.actor(actor)
    with store.write() as s:
        return _create(store, s, actor=actor, key=key, title=title, workflow=workflow,
                       lead_commissioner=lead_commissioner, model=model, accountable_body=accountable_body,
                       owner=owner, attrs=attrs, replaces=replaces, programme=programme, hub_role=hub_role)


def _create(store: Store, s: Session, *, actor: str, key: str, title: str, workflow: str,
            lead_commissioner: str | None = None, model: str | None = None, accountable_body: str | None = None,
            owner: str | None = None, attrs: dict[str, str] | None = None, replaces: str | None = None,
            programme: str | None = None, hub_role: str | None = None,
            imported: dict[str, str] | None = None) -> Project:
    """create_project in the write transaction of `s` (an import's too: `imported` then names the file it came
    from, in the project's entry)."""
    if not programmes.KEY.match(key):
        raise BadInput(f"key {key!r} must be lower-case letters, digits and '-', e.g. camhs or school-nursing")
    title_text = one_line(title, "title")
    fields: dict[str, str | None] = {
        "title": title_text, "lead_commissioner": one_line(lead_commissioner, "lead commissioner", False),
        "model": _checked_model(model), "accountable_body": one_line(accountable_body, "accountable body", False),
        "owner": one_line(owner, "owner", False)}
    if hub_role is not None:
        fields["hub_role"] = programmes.checked_hub_role(hub_role)
    wf = registry.get(store, s, workflow)
    extra = _checked_attrs(wf, attrs or {})
    now = clock.utc_now()
    if rows.key_taken(sql_of(s), key):
        raise BadInput(f"a project with key {key!r} already exists; see it with: cycle project show {key}")
    if fields["owner"]:
        fields["owner"] = people.named_person(s, fields["owner"], "--owner")
    if programme is not None:
        fields["programme"] = programmes.known(rows.programme_titles(sql_of(s)), programme)
    old = load_for_write(s, replaces) if replaces else None
    project = Project(key=key, title=title_text, workflow=wf.name, workflow_version=wf.version, stage=wf.initial,
                      lead_commissioner=fields["lead_commissioner"], model=fields["model"],
                      accountable_body=fields["accountable_body"], owner=fields["owner"],
                      programme=fields.get("programme"), hub_role=fields.get("hub_role"),
                      attrs=json.dumps(extra, sort_keys=True), created_at=now, updated_at=now)
    s.add(project)
    s.flush()
    chain.append(s, actor=actor, action="project.create", project=key, to_stage=wf.initial,
                 payload={"workflow": wf.name, "workflow_version": wf.version, "workflow_sha256": wf.sha256,
                          **fields, "attrs": extra, "replaces": replaces,
                          **({"imported": imported} if imported else {})})
    if old is not None:
        _link(s, project, "replaces", old, actor)
    return project


def _link(s: Session, project: Project, kind: str, other: Project, actor: str) -> None:
    """Link two projects both ways, with an audit entry on the other project so either log shows it."""
    now = clock.utc_now()
    s.add(Link(project_id=row_id(project), kind=kind, other_id=row_id(other), created_at=now))
    s.add(Link(project_id=row_id(other), kind=LINKS[kind], other_id=row_id(project), created_at=now))
    record_change(s, other, actor=actor, action="project.link", payload={"kind": LINKS[kind], "other": project.key})


def _checked_attrs(wf: Workflow, attrs: dict[str, str]) -> dict[str, str]:
    out = {}
    known = wf.custom_fields()
    for name, value in attrs.items():
        if name not in known:
            raise BadInput(f"workflow {wf.name} has no project attribute {name!r}; "
                           f"it knows: {', '.join(known) or 'none'}")
        out[name] = one_line(value, name) or ""
        choices = wf.choices(name)
        if choices and out[name] not in choices:
            raise BadInput(f"{name} {out[name]!r} is not one of: {', '.join(choices)}")
    return out


def set_project(store: Store, key: str, *, actor: str, changes: dict[str, str | None],
                attrs: dict[str, str] | None = None, expect_version: int | None = None,
                workflow_version: int | None = None, notes: list[str] | None = None) -> Project:
    """Change a project's attributes: the core ones (CORE_FIELDS) and its workflow's own; and with
    `workflow_version`, the installed version of its workflow it runs on.

    A field a gate's authority depends on (authority.authority_fields: the accountable body) is a
    governance lead's to change once governance is set up; anyone else's attempt is refused, and
    the refusal is one `project.refused` audit entry (see authority.authority_change_refusal).
    Moving a project to another version is for a governance lead too (anyone, while nobody holds the
    governance-lead or admin role: then a line for the user goes to `notes`), and only to a version
    that has the project's current stage; a refusal is one `project.refused` audit entry as well.
    """
    if "model" in changes:
        _checked_model(changes["model"])
    if "hub_role" in changes:
        programmes.checked_hub_role(changes["hub_role"])
    clean: dict[str, str | None] = {k: one_line(v, k.replace("_", " ")) for k, v in changes.items()
                                    if k in SETTABLE}
    for name in ("start_date", "end_date"):
        if clean.get(name):
            clean[name] = iso_date(clean[name], f"--{name.replace('_', '-')}")
    if workflow_version is not None and workflow_version < 1:
        raise BadInput(f"--workflow-version must be 1 or more, not {workflow_version}; see: cycle workflow list")
    if not clean and not attrs and workflow_version is None:
        raise BadInput(f"nothing to change; e.g.: cycle project set {key} --owner alice")
    actor = store.actor(actor)
    refusal = None
    with store.write() as s:
        project = load_for_write(s, key, expect_version)
        target = None if workflow_version is None else _version_for(store, s, project, workflow_version)
        seen = row_of(ProjectRow, project)  # as read, for the checks
        wf = target or registry.pinned(store, s, seen)  # the attributes are the new version's
        extra = _checked_attrs(wf, attrs or {})
        for name, flag in people.PERSON_FIELDS.items():
            if clean.get(name):
                clean[name] = people.named_person(s, clean[name] or "", flag)
        if clean.get("programme"):
            clean["programme"] = programmes.known(rows.programme_titles(sql_of(s)), clean["programme"])
        diff: dict[str, list[Any]] = {}
        for name, value in clean.items():
            if getattr(project, name) != value:
                diff[name] = [getattr(project, name), value]
        current = json.loads(project.attrs or "{}")
        for name, value in extra.items():
            if current.get(name) != value:
                diff[name] = [current.get(name), value]
        if workflow_version is not None and project.workflow_version != workflow_version:
            diff["workflow_version"] = [project.workflow_version, workflow_version]
        start, end = (diff[n][1] if n in diff else getattr(project, n) for n in ("start_date", "end_date"))
        if start and end and end < start:  # ISO dates: as text, in date order
            raise BadInput(f"the programme would end ({end}) before it starts ({start}); nothing changed. Give "
                           f"an end on or after the start: cycle project set {quote(key)} --end-date YYYY-MM-DD")
        if not diff:  # nothing to write, and no audit entry to make: say so rather than "Updated"
            asked = {**clean, **extra, **({"workflow_version": workflow_version} if workflow_version else {})}.items()
            same = ", ".join(f"{name.replace('_', ' ')} {value or '(none)'}" for name, value in asked)
            raise BadInput(f"{key} already has {same}, so nothing changed; see it with: cycle project show {key}")
        guarded = {name: diff[name] for name in authority.authority_fields(wf) if name in diff}
        refusal = authority.authority_change_refusal(s, seen, actor, guarded) if guarded else None
        unguarded = False
        if refusal is None and "workflow_version" in diff:
            refusal, unguarded = authority.lead_refusal(
                s, actor, "move a project to another version of its workflow",
                f"cycle project set {quote(key)} --workflow-version {workflow_version}")
        if refusal:  # committed on its own, with the project untouched: a refused attempt is part of the record
            chain.append(s, actor=actor, action="project.refused", project=key,
                         payload={"changes": diff, "version": project.version, "why": refusal})
        else:
            for name, (_, value) in diff.items():
                if name in clean:
                    setattr(project, name, value)
                elif name != "workflow_version":
                    current[name] = value
            project.attrs = json.dumps(current, sort_keys=True)
            payload: dict[str, Any] = {"changes": diff}
            if target is not None and "workflow_version" in diff:
                project.workflow_version = target.version
                payload.update(workflow=project.workflow, workflow_sha256=target.sha256)
            record_change(s, project, actor=actor, action="project.set", payload=payload)
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    if unguarded and notes is not None:
        notes.append("Nobody holds the governance-lead or admin role yet, so anyone may move a project to another "
                     "version of its workflow; make someone admin: cycle people add NAME --role admin")
    return project


def _version_for(store: Store, s: Session, project: Project, version: int) -> Workflow:
    """Version `version` of the project's workflow, if it has the project's current stage."""
    wf = registry.get(store, s, project.workflow, version)
    if not wf.has_stage(project.stage):
        raise BadInput(f"{project.key} is at stage {project.stage}, which {wf.name} version {version} does not have "
                       f"(its stages: {', '.join(st.id for st in wf.stages)}); a project moves only to a version "
                       f"with its current stage")
    return wf




def add_evidence(store: Store, key: str, name: str, ref: str, *, actor: str, note: str | None = None,
                 expect_version: int | None = None, counts_for: str | None = None,
                 notes: list[str] | None = None) -> Evidence:
    """Record evidence NAME for the project's current cycle.

    A name a criterion of the project's workflow looks for counts for that criterion. Any other well-formed
    name is supporting evidence: recorded and shown, counting for no criterion, and the first time a project
    has it a line for the user goes to `notes`, so that a typo is noticed. `counts_for` (a criterion's id, or
    the evidence name it looks for) attaches the evidence to that criterion whatever its name.
    """
    if not ID.match(name):
        raise BadInput(f"evidence name {name!r} is not well formed: use lower-case letters, digits and hyphens, "
                       f"at most 64, e.g. risk-register")
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key, expect_version)
        wf = registry.pinned(store, s, row_of(ProjectRow, project))
        known = wf.evidence_names()
        target = None if counts_for is None else _evidence_criterion(wf, counts_for)
        if target == name:
            target = None  # --for its own name: it counts for it anyway
        if target is None and name not in known and notes is not None:
            before = rows.evidence(sql_of(s), row_id(project))
            if not any(e.name == name for e in before):
                notes.append(_supporting_note(wf, project, name, known))
        item = Evidence(project_id=row_id(project), cycle=project.cycle, name=name, ref=one_line(ref, "--ref") or "",
                        note=one_line(note, "--note", False), recorded_by=actor, recorded_at=clock.utc_now(),
                        counts_for=target)
        s.add(item)
        s.flush()
        payload: dict[str, Any] = {"evidence_id": item.id, "name": name, "ref": item.ref, "note": item.note,
                                   "cycle": project.cycle, "stage": project.stage}
        if target is not None:
            payload["counts_for"] = target
        elif name not in known:
            payload["supporting"] = True
        record_change(s, project, actor=actor, action="evidence.add", payload=payload)
    return item


def _evidence_criterion(wf: Workflow, wanted: str) -> str:
    """The evidence name of the evidence criterion `wanted` names (by its id or its evidence name)."""
    for gate in wf.gates:
        for c in gate.criteria:
            if c.kind == "evidence" and wanted in (c.id, c.evidence) and c.evidence:
                return c.evidence
    ids = sorted({c.id for g in wf.gates for c in g.criteria if c.kind == "evidence"})
    raise BadInput(f"workflow {wf.name} has no evidence criterion called {wanted!r} for --for; its evidence "
                   f"criteria: {', '.join(ids)}")


def _supporting_note(wf: Workflow, project: Project, name: str, known: list[str]) -> str:
    """The warning for supporting evidence: no criterion of the next gate(s) is called `name`."""
    import difflib

    ahead = wf.gates_from(project.stage)
    if len(ahead) == 1:
        where = "the next gate"
    elif ahead:
        where = f"the gates out of {project.stage}"
    else:
        where = f"workflow {wf.name}"
    line = f"no criterion of {where} is called {name!r}; recorded as supporting evidence"
    near = difflib.get_close_matches(name, [c.id for g in ahead for c in g.criteria if c.kind == "evidence"] or known,
                                     n=1, cutoff=0.75)
    if near:
        line += (f" (did you mean {near[0]}? to count it for that criterion: cycle evidence add {quote(project.key)} "
                 f"{name} --for {near[0]} --ref <REF>)")
    return line


@dataclass
class Moved:
    project: str
    source: str
    dest: str
    gate: str
    cycle: int
    version: int
    seq: int
    check: GateCheck | None = None
    opened: str | None = None  # the linked project a gate opened (e.g. the decommissioning steps)
    #: A stop into a final stage while contracts run with notice not served: the first of them, still followed.
    contract: contracts.Status | None = None
    #: Every contract such a stop leaves running (the first is `contract`).
    running: list[contracts.Status] = field(default_factory=list)

    def contract_note(self) -> str | None:
        """What happens to each contract left running by a stop, and what to do, in a sentence or two each."""
        found = self.running or ([self.contract] if self.contract else [])
        return "\n".join(self._note(st) for st in found) or None

    def _note(self, st: contracts.Status) -> str:
        what = gates.contract_named(st.contract)
        whose = "" if st.holder == self.project else f" (of {st.holder})"
        if st.state == "incomplete":
            next_step = (f"record its end date and notice period with: cycle contract set {st.address()} "
                         f"--end YYYY-MM-DD --notice '6 months'")
        else:
            next_step = (f"serve notice and record it with: cycle contract notice {st.address('--contract')} "
                         f"--served-on YYYY-MM-DD --ref REF, or if it was ended early, record its end with: cycle "
                         f"contract set {st.address()} --end YYYY-MM-DD --if-no-notice ends")
        return (f"{what}{whose} still runs, and notice has not been served: {st.consequence} cycle goes on "
                f"following it (cycle contracts due, and the notice reminders); {next_step}"
                + gates.termination_costs(st.contract))


@dataclass
class Recorded:
    """A decision recorded: the row, the move it made (recycle and stop), and the authority it was recorded under
    ("approver for ...", "acting for chair, deputy since 2027-07-20"), as its audit entry says."""

    decision: Decision
    moved: Moved | None
    authority: str

    def __iter__(self) -> Iterator[Decision | Moved | None]:
        """(decision, moved): `decision, moved = record_decision(...)` reads as it always has."""
        return iter((self.decision, self.moved))


def record_decision(store: Store, key: str, *, actor: str, gate: str, outcome: str, body: str, ref: str,
                    recycle_to: str | None = None, decided_on: str | None = None, note: str | None = None,
                    expect_version: int | None = None) -> Recorded:
    """Record a body's decision on the gate out of the current stage.

    go and hold are recorded for the gate check (advance moves the project); recycle and stop are
    the body's instruction and move the project at once, in the same transaction. A decision the
    actor may not record (see authority.decision_authority) is refused, and the refusal is audited.
    """
    if (outcome == "recycle") != (recycle_to is not None):
        raise BadInput("--to STAGE goes with --outcome recycle, and recycle needs it "
                       "(the earlier stage the body sends the project back to)")
    body_text = one_line(body, "--body") or ""
    ref_text = one_line(ref, "--ref") or ""
    decided = iso_date(decided_on, "--date")
    today = clock.london_today().isoformat()  # the body met in England: its calendar, as for the stage's entry
    if decided is not None and decided > today:
        raise BadInput(f"--date {decided} is in the future; --date is the day the body decided, so record "
                       f"the decision once it has met, e.g. --date {today}")
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key, expect_version)
        seen = row_of(ProjectRow, project)  # as read, for the checks
        wf = registry.pinned(store, s, seen)
        if outcome not in wf.outcomes():
            raise BadInput(f"outcome {outcome!r} is not one of: {', '.join(wf.outcomes())}")
        ways_out = wf.gates_from(project.stage)
        the_gate = next((g for g in ways_out if g.id == gate), None)
        if the_gate is None:
            open_ids = ", ".join(g.id for g in ways_out) or "none (the project is closed)"
            raise BadInput(f"{key} is at {project.stage}; the gates a decision can be recorded for are: {open_ids}")
        needed = list(dict.fromkeys(b for c in the_gate.criteria if c.kind == "decision"
                                    for b in required_bodies(seen, c)))
        if not needed:  # no decision criterion: the gate's body (by default the accountable body) decides it
            needed = [project.accountable_body if the_gate.body == ACCOUNTABLE else the_gate.body]
        if None in needed:  # the gate is the accountable body's, and the project names none
            raise BadInput(f"{key} has no accountable body to decide gate {gate}; set one with: "
                           f"cycle project set {key} --accountable-body <BODY>")
        if needed and body_text not in needed:
            several = any(len(required_bodies(seen, c)) > 1 for c in the_gate.criteria if c.kind == "decision")
            who = (f"each of {', '.join(str(b) for b in needed)} (each records its own decision)" if several
                   else " or ".join(str(b) for b in needed))
            raise BadInput(f"gate {gate} is decided by {who}, not {body_text}")
        entered = history.entered_stage_on(sql_of(s), seen, creation=False) if decided is not None else None
        if decided is not None and entered is not None and decided < entered.isoformat():
            raise BadInput(f"--date {decided} is before {key} entered {project.stage} on {entered.isoformat()}, and a "
                           f"decision counts only from then; give the day the body decided, e.g. "
                           f"--date {entered.isoformat()}")
        dest = None
        if outcome == "recycle":
            allowed = wf.earlier_stages(project.stage)
            if recycle_to not in allowed:
                raise BadInput(f"recycle goes back to an earlier stage; from {project.stage} that is: "
                               f"{', '.join(allowed) or 'none'}")
            dest = _move(wf, project.stage, f"recycle_to_{recycle_to}")
        elif outcome == "stop":
            dest = _move(wf, project.stage, "stop")
        refusal, authority_text = authority.decision_authority(s, seen, gate, body_text, actor)
        if refusal:  # committed on its own: a refused attempt is part of the record
            chain.append(s, actor=actor, action="decision.refused", project=key,
                         payload={"gate": gate, "outcome": outcome, "body": body_text, "ref": ref_text,
                                  "cycle": project.cycle, "stage": project.stage, "why": refusal})
        else:
            decision = Decision(project_id=row_id(project), cycle=project.cycle, visit=project.visit, gate=gate,
                                outcome=outcome, body=body_text, ref=ref_text, recycle_to=recycle_to,
                                decided_on=decided, note=one_line(note, "--note", False), recorded_by=actor,
                                recorded_at=clock.utc_now())
            s.add(decision)
            s.flush()
            source = project.stage
            left = _left_running(s, seen, wf, dest) if outcome == "stop" else []
            running = left[0] if left else None
            if dest is not None:
                project.stage, project.visit = dest, project.visit + 1
            entry = record_change(s, project, actor=actor, action="decision.record",
                                  from_stage=source if dest else None, to_stage=dest, payload={
                                      "decision_id": decision.id, "gate": gate, "outcome": outcome,
                                      "body": body_text, "ref": ref_text, "recycle_to": recycle_to,
                                      "decided_on": decided, "note": decision.note, "cycle": project.cycle,
                                      "stage": source, "authority": authority_text, "workflow": wf.name,
                                      "workflow_version": wf.version, "workflow_sha256": wf.sha256,
                                      **({"contract_running": {"contract_of": running.holder, "status": running.state,
                                                               "notice_deadline": running.as_dict()["notice_deadline"]},
                                         "contracts_running": [_running(st) for st in left]}
                                         if running else {})})
            moved = (Moved(key, source, dest, gate, project.cycle, project.version, entry.seq, contract=running,
                           running=left) if dest is not None else None)
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    return Recorded(decision, moved, authority_text)


def _running(st: contracts.Status) -> dict[str, Any]:
    """A contract left running by a stop, as the decision's audit entry names it."""
    return {"contract_of": st.holder, "contract_ref": st.contract.ref, "status": st.state,
            "notice_deadline": st.as_dict()["notice_deadline"]}


def _left_running(s: Session, project: ProjectRow, wf: Workflow, dest: str | None) -> list[contracts.Status]:
    """The contracts a stop into a final stage leaves running with notice not served (none: an empty list). A stop
    is the body's instruction, so it is not refused for it (a gate is: gates.CONTRACT_NOTICE); the contract stays
    followed, and the decision says so."""
    if dest is None or not wf.stage(dest).final:
        return []
    return [st for st in contracts.statuses_of(sql_of(s), project, clock.london_today())
            if st.state in gates.UNSERVED]


def advance(store: Store, key: str, *, actor: str, to: str | None = None,
            expect_version: int | None = None, new_key: str | None = None) -> Moved:
    """Pass the gate out of the current stage if its must criteria are met.

    Read the project (outside the write lock: that version is the one the manager acts on), check the
    gate, and write the move and its audit entry, only if the project is still at that version: two
    managers advancing at once get one winner and one StaleProject (exit 4). A refused attempt is
    recorded as one `advance.refused` audit entry and changes nothing else. It all runs in plain SQL
    on one connection (cycle.db.sql.Sql): an advance is the hot path of the engine.
    """
    with store.pinned() as raw:
        glance = store.glance(raw)
        project = rows.project(glance, key)
        if expect_version is not None and project.version != expect_version:
            raise StaleProject(key, expect_version, project.version)
        wf = registry.pinned(store, glance, project)  # parsed once per store: no query after the first
        asking = (f"cycle project advance {quote(key)}" + (f" --new-key {quote(new_key)}" if new_key else "")
                  + (f" --expect-version {expect_version}" if expect_version is not None else ""))
        gate = gates.choose(wf, project, to, asking)
        return commit_advance(store, wf, gate, project, actor=actor, new_key=new_key, raw=raw)


def commit_advance(store: Store, wf: Workflow, gate: Gate, project: ProjectRow, *, actor: str,
                   new_key: str | None = None, raw: Any = None) -> Moved:
    """The write half of `advance`: under the write lock, check `gate` and move `project` through it,
    or record the refusal, if the project is still at the version it was read at (on `raw`, a
    connection from Store.pinned(), when given)."""
    actor = store.actor(actor)
    with store.writing(orm=gate.opens is not None, raw=raw) as sql:
        check = gates.check(sql, wf, gate, project)
        if not check.open:
            _still_at(sql, project.key, project.version)
            chain.append(sql, actor=actor, action="advance.refused", project=project.key, from_stage=check.source,
                         payload={**_snapshot(wf, gate, check), "to": gate.dest, "version": project.version,
                                  "unmet": [c.id for c in check.unmet_must]})
        else:
            moved = _move_through(store, sql, wf, gate, check, project, actor, new_key)
    if not check.open:
        raise GateNotMet(project.key, check)
    return moved


def _snapshot(wf: Workflow, gate: Gate, check: GateCheck) -> dict[str, Any]:
    """The gate as checked, for the audit entry of the move or of its refusal: with `rules`, the engine's own rules
    it was checked against, when any applied (audit verify re-checks those)."""
    rules = gates.rules_for(wf, gate)
    return {"gate": gate.id, "gate_title": gate.title, "workflow": wf.name, "workflow_version": wf.version,
            "workflow_sha256": wf.sha256, "cycle": check.cycle, **({"rules": rules} if rules else {}),
            "criteria": [{"id": c.id, "kind": c.kind, "must": c.must, "met": c.met, "reason": c.reason,
                          "applies": c.applies, "waived": c.waived, "waiver_id": c.waiver_id,
                          "evidence_ids": c.evidence_ids, "decision_ids": c.decision_ids} for c in check.criteria]}


_MOVE = ("UPDATE project SET stage = :dest, visit = visit + 1, cycle = :cycle, version = version + 1, "
         "updated_at = :now WHERE id = :id AND version = :version")


def _move_through(store: Store, sql: Sql, wf: Workflow, gate: Gate, check: GateCheck, project: ProjectRow,
                  actor: str, new_key: str | None) -> Moved:
    """Write the move through an open gate (the project row, only if still at the version read) and its entry."""
    key, version = project.key, project.version
    dest = _move(wf, check.source, gate.id)
    cycle = check.cycle + 1 if gate.new_cycle else check.cycle
    # A project the gate opens comes first, with its own project.create entry, so that the move's image goes
    # into the advance's entry (cycle.audit.moves checks the gate there).
    opened = (_open_linked(sql, project, registry.get(store, sql, gate.opens), new_key, actor)
              if gate.opens else None)
    now = clock.utc_now()  # the project's updated_at is its audit entry's time
    if sql.run(_MOVE, dest=dest, cycle=cycle, now=now, id=project.id, version=version) != 1:
        _still_at(sql, key, version)
    # The row as _MOVE left it: as read (its version is unchanged, so is every other column), and what it set.
    found = project._asdict()
    images.note(sql.info, "project", project.id, {
        **found, "stage": dest, "visit": project.visit + 1, "cycle": cycle, "version": version + 1,
        "updated_at": now}, found)
    entry = chain.append(sql, actor=actor, action="advance", project=key, from_stage=check.source, to_stage=dest,
                         payload={**_snapshot(wf, gate, check), "new_cycle": cycle if gate.new_cycle else None,
                                  "version": [version, version + 1], "warnings": [c.id for c in check.warnings],
                                  "opened": opened},
                         at=now)
    return Moved(key, check.source, dest, gate.id, cycle, version + 1, entry.seq, check, opened)


def _still_at(sql: Sql, key: str, version: int) -> None:
    """Refuse (StaleProject) unless the project is still at the version its gate check read."""
    current = sql.one("SELECT version FROM project WHERE key = :key" + sql.for_update, key=key)
    if current is None:
        raise ProjectNotFound(key)
    if current.version != version:
        raise StaleProject(key, version, current.version)


def _open_linked(sql: Sql, parent: ProjectRow, wf: Workflow, new_key: str | None, actor: str) -> str:
    """Open the linked project a gate calls for (review -> decommission opens the decommissioning steps), on
    the newest installed version of its workflow, `wf`; `parent` is the project passing the gate, as read."""
    key = new_key or f"{parent.key}-{wf.name}"
    if not programmes.KEY.match(key):
        raise BadInput(f"key {key!r} must be lower-case letters, digits and '-'; choose one with --new-key")
    if rows.key_taken(sql, key):
        raise BadInput(f"a project with key {key!r} already exists; choose another with --new-key")
    s = sql.session()
    now = clock.utc_now()
    child = Project(key=key, title=f"{parent.title} ({wf.name})", workflow=wf.name, workflow_version=wf.version,
                    stage=wf.initial,
                    lead_commissioner=parent.lead_commissioner, model=parent.model,
                    accountable_body=parent.accountable_body, owner=parent.owner, programme=parent.programme,
                    hub_role=parent.hub_role, created_at=now, updated_at=now)
    s.add(child)
    s.flush()
    chain.append(sql, actor=actor, action="project.create", project=key, to_stage=wf.initial,
                 payload={"workflow": wf.name, "workflow_version": wf.version, "workflow_sha256": wf.sha256,
                          "title": child.title,
                          "opened_by": parent.key, "lead_commissioner": child.lead_commissioner, "model": child.model,
                          "accountable_body": child.accountable_body, "owner": child.owner,
                          **({"programme": child.programme} if child.programme else {}),
                          **({"hub_role": child.hub_role} if child.hub_role else {})})
    now = clock.utc_now()
    s.add(Link(project_id=row_id(child), kind="decommissions", other_id=parent.id, created_at=now))
    s.add(Link(project_id=parent.id, kind="decommissioned-by", other_id=row_id(child), created_at=now))
    s.flush()
    return key


# --- contracts -----------------------------------------------------------------------------------

def set_contract(store: Store, key: str, terms: dict[str, str | None], *, actor: str,
                 expect_version: int | None = None, contract: str | None = None,
                 mode: str = "set") -> contracts.Status:
    """Record or change one contract of project `key` (contracts.MODES): `contract` names it by its reference
    (needed when the project holds several; with several, a `ref` in `terms` names it too). mode 'add' adds a
    contract by a new reference, 'upsert' changes the one with `terms['ref']` or adds it (for importers)."""
    clean = contracts.clean_terms(terms)
    if not clean:
        raise BadInput(f"nothing to set; e.g.: cycle contract set {key} --provider NAME --start 2025-04-01 "
                       f"--end 2028-03-31 --notice '6 months' --run-on '12 months'")
    which = one_line(contract, "--contract") if contract is not None else None
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key, expect_version)
        if mode == "upsert":  # the same terms again (a re-import) write nothing, not even the project's version
            _, holder, found = rows.contract_holder(sql_of(s), project.id or 0, project.key)
            same = [c for c in found if c.ref == clean.get("ref")
                    and all(getattr(c, name) == value for name, value in clean.items())]
            if same:
                return contracts.status(holder, same[0], clock.london_today(), several=len(found) > 1)
        _touch(s, project, project.version)  # before the entry, which carries the project's new image too
        row, notice = contracts.set_terms(s, project, clean, actor, which, mode)
        _, holder, found = rows.contract_holder(sql_of(s), project.id or 0, project.key)
        st = contracts.status(holder, row_of(ContractRow, row), clock.london_today(), several=len(found) > 1)
        st.change_notice = notice
        return st


def fund_contract(store: Store, key: str, split: funding.Funding | None, *, actor: str,
                  contract: str | None = None) -> tuple[contracts.Status, funding.Funding | None]:
    """Replace who pays for one contract of project `key` (funding.parse; None clears it), as one audited change:
    refused, with nothing written, unless shares add up to 100% or amounts to the contract's value. Returns the
    contract as it stands and the split it had before."""
    which = one_line(contract, "--ref") if contract is not None else None
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key)
        _, holder, row = contracts.holder_of(s, project, which)
        if row is None:
            raise BadInput(f"{key} has no contract to fund; record it first with: cycle contract set {quote(key)} "
                           f"--provider NAME --value £...")
        address = quote(holder) + (f" --ref {quote(row.ref)}" if which is not None and row.ref else "")
        if split is not None:
            funding.check(split, row.value_total, address)
        old_rows, before = _funders(s, row)
        if not funding.same(before, split) or split is None:  # the same split again changes nothing, records nothing
            _touch(s, project, project.version)  # before the entry, which carries the project's new image too
            _fund(s, row, split, old_rows, before, actor=actor, project=project.key, holder=holder)
        _, holder, found = rows.contract_holder(sql_of(s), project.id or 0, project.key)
        st = contracts.status(holder, row_of(ContractRow, row), clock.london_today(), several=len(found) > 1)
        st.funding = split
        return st, before


def _funders(s: Session, contract: Contract) -> tuple[list[ContractFunder], funding.Funding | None]:
    """The contract's funder rows, in order, and the split they make (None: nobody recorded)."""
    query = select(ContractFunder).where(ContractFunder.contract_id == row_id(contract))  # type: ignore[arg-type]
    ordered = query.order_by(ContractFunder.position, ContractFunder.id)  # type: ignore[arg-type]
    old_rows = list(s.exec(ordered).scalars())  # type: ignore[call-overload]
    return old_rows, funding.of_rows([row_of(rows.FunderRow, r) for r in old_rows])


def _fund(s: Session, contract: Contract, split: funding.Funding | None, old_rows: list[ContractFunder],
          before: funding.Funding | None, *, actor: str, project: str, holder: str) -> None:
    """Replace the contract's split (None: clear it; `old_rows` and `before` as _funders read them) by deleting
    its rows and adding the new ones, and append its audit entry (contract.fund, with the old and the new split)."""
    contract_id = row_id(contract)
    if split is None and before is None:
        which = f"{holder}'s contract" + (f" {contract.ref}" if contract.ref else "")
        raise BadInput(f"{which} has no funders recorded; nothing to clear")
    for r in old_rows:
        s.delete(r)
    now = clock.utc_now()
    for n, part in enumerate(funding.stored(split) if split else [], start=1):
        s.add(ContractFunder(contract_id=contract_id, position=n, funder=part["funder"] or "", share=part["share"],
                             amount=part["amount"], pool=part["pool"], recorded_by=actor, recorded_at=now))
    s.flush()
    chain.append(s, actor=actor, action="contract.fund", project=project,
                 payload={"contract_of": holder, **({"contract_ref": contract.ref} if contract.ref else {}),
                          "old": funding.recorded(before, contract.value_total),
                          "new": funding.recorded(split, contract.value_total)})


def serve_notice(store: Store, key: str, served_on: str, ref: str, *, actor: str,
                 contract: str | None = None) -> contracts.Status:
    ref_text = one_line(ref, "--ref") or ""
    which = one_line(contract, "--contract") if contract is not None else None
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key)
        _touch(s, project, project.version)  # before the entry, which carries the project's new image too
        result = contracts.serve_notice(s, project, served_on, ref_text, actor, clock.london_today(), which)
        return result
