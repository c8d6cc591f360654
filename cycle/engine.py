"""The engine: projects move through a workflow's gates on a `transitions` state machine.

Every state-changing call runs in one write transaction: the row change, its project version bump
and its audit entry commit together or not at all. The state machine only decides whether a move
is allowed; nothing is written until the transaction commits, so a failure anywhere leaves the
database as it was.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from . import audit, authority, contracts
from .errors import BadInput, GateNotMet, NotPermitted, ProjectNotFound, StaleProject
from .gates import Facts, GateCheck, evaluate, required_body
from .models import Decision, Evidence, Link, Project
from .schema import Upgrade
from .store import Store
from .workflow import CORE_FIELDS, LINKS, Gate, Workflow, load

MODELS = ("integrated", "co-ordinated", "joint", "national")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


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


def _move(wf: Workflow, stage: str, trigger: str) -> str:
    """Where `trigger` takes a project at `stage`; the machine refuses moves the workflow does not have."""
    from transitions import MachineError

    m, token = machine(wf)
    with _machine_lock:
        m.set_state(stage, model=token)
        try:
            token.trigger(trigger)  # type: ignore[attr-defined]
        except MachineError as exc:
            raise BadInput(f"Workflow {wf.name} does not allow {trigger} from {stage}") from exc
        return token.state


# --- reading -------------------------------------------------------------------------------------

def get_project(session: Session, key: str, for_update: bool = False) -> Project:
    """The project with this key; `for_update` locks its row until the transaction ends (PostgreSQL)."""
    query = select(Project).where(Project.key == key)  # type: ignore[arg-type]
    if for_update:  # SQLite has no row locks: BEGIN IMMEDIATE already holds the whole database
        query = query.with_for_update()
    project = session.exec(query).scalars().first()  # type: ignore[call-overload]
    if project is None:
        raise ProjectNotFound(key)
    return project


def list_projects(store: Store, stage: str | None = None, workflow: str | None = None) -> list[Project]:
    with store.read() as s:
        query = select(Project).order_by(Project.key)  # type: ignore[arg-type]
        if stage:
            query = query.where(Project.stage == stage)
        if workflow:
            query = query.where(Project.workflow == workflow)
        return list(s.exec(query).scalars())  # type: ignore[call-overload]


def evidence_of(session: Session, project: Project) -> list[Evidence]:
    q = select(Evidence).where(Evidence.project_id == project.id).order_by(Evidence.id)  # type: ignore[arg-type]
    return list(session.exec(q).scalars())  # type: ignore[call-overload]


def decisions_of(session: Session, project: Project) -> list[Decision]:
    q = select(Decision).where(Decision.project_id == project.id).order_by(Decision.id)  # type: ignore[arg-type]
    return list(session.exec(q).scalars())  # type: ignore[call-overload]


def links_of(session: Session, project: Project) -> list[tuple[str, str, str]]:
    """(kind, other project's key, its stage) for every link from this project."""
    q = (select(Link.kind, Project.key, Project.stage).join(Project, Link.other_id == Project.id)  # type: ignore[arg-type]
         .where(Link.project_id == project.id).order_by(Link.id))
    return [(k, key, stage) for k, key, stage in session.exec(q).all()]  # type: ignore[call-overload]


def contract_status(session: Session, project: Project, today: date) -> contracts.Status | None:
    holder, contract = contracts.holder_of(session, project)
    return contracts.status(holder.key, contract, today) if contract else None


def facts_for(session: Session, project: Project, today: date | None = None,
              kinds: set[str] | None = None) -> Facts:
    """What gates may look at beyond the project's rows; `kinds` limits it to what those criteria need."""
    today = today or date.today()
    st = contract_status(session, project, today) if kinds is None or "date" in kinds else None
    return Facts(today=today, dates=st.key_dates() if st else {}, has_contract=st is not None,
                 run_on_to=contracts.run_on_date(st.contract) if st else None,
                 links=links_of(session, project) if kinds is None or "link" in kinds else [],
                 waivers=authority.waivers_of(session, project))


def _check(session: Session, wf: Workflow, gate: Gate, project: Project, today: date | None = None) -> GateCheck:
    kinds = {c.kind for c in gate.criteria}
    return evaluate(wf, gate, project, evidence_of(session, project), decisions_of(session, project),
                    facts_for(session, project, today, kinds))


@dataclass
class ProjectView:
    project: Project
    workflow: Workflow
    evidence: list[Evidence]
    decisions: list[Decision]
    checks: list[GateCheck]
    links: list[tuple[str, str, str]]
    contract: contracts.Status | None

    def as_dict(self) -> dict[str, Any]:
        p = self.project
        return {
            "key": p.key, "title": p.title, "workflow": p.workflow, "stage": p.stage, "cycle": p.cycle,
            "version": p.version, "lead_commissioner": p.lead_commissioner, "model": p.model,
            "accountable_body": p.accountable_body, "owner": p.owner, "sro": p.sro, "lead": p.lead,
            "governance_lead": p.governance_lead, "start_date": p.start_date, "end_date": p.end_date, "aim": p.aim,
            "scope": p.scope, "benefits": p.benefits, "metrics": p.metrics, "attrs": json.loads(p.attrs or "{}"),
            "created_at": p.created_at, "updated_at": p.updated_at,
            "evidence": [{"id": e.id, "cycle": e.cycle, "name": e.name, "ref": e.ref, "note": e.note,
                          "recorded_by": e.recorded_by, "recorded_at": e.recorded_at} for e in self.evidence],
            "decisions": [{"id": d.id, "cycle": d.cycle, "gate": d.gate, "outcome": d.outcome, "body": d.body,
                           "ref": d.ref, "recycle_to": d.recycle_to, "decided_on": d.decided_on,
                           "recorded_by": d.recorded_by, "recorded_at": d.recorded_at}
                          for d in self.decisions],
            "next": [{"gate": c.gate, "to": c.to, "open": c.open,
                      "unmet": [u.id for u in c.unmet_must]} for c in self.checks],
            "links": [{"kind": k, "project": other, "stage": stage} for k, other, stage in self.links],
            "contract": self.contract.as_dict() if self.contract else None,
        }


def show_project(store: Store, key: str, as_of: date | None = None) -> ProjectView:
    with store.read() as s:
        project = get_project(s, key)
        wf = _workflow_for(project)
        ev, dec = evidence_of(s, project), decisions_of(s, project)
        facts = facts_for(s, project, as_of)
        checks = [evaluate(wf, g, project, ev, dec, facts) for g in wf.gates_from(project.stage)]
        return ProjectView(project, wf, ev, dec, checks, facts.links, contract_status(s, project, facts.today))


def _workflow_for(project: Project) -> Workflow:
    wf = load(project.workflow)
    if not wf.has_stage(project.stage):
        raise BadInput(f"{project.key} is at stage {project.stage!r}, which workflow {wf.name} ({wf.path}) "
                       f"no longer defines; restore the stage in the workflow file")
    return wf


def _choose_gate(wf: Workflow, project: Project, to: str | None) -> Gate:
    """The gate named by --to (a gate id, or a destination stage), or the only default way out."""
    gates = wf.gates_from(project.stage)
    if not gates:
        raise BadInput(f"{project.key} is {project.stage}: there is no gate out of a final stage")
    defaults = wf.gates_from(project.stage, explicit=False)
    if to is None:
        if len(defaults) == 1:
            return defaults[0]
        choices = ", ".join(g.dest for g in defaults)
        raise BadInput(f"{project.key} is at {project.stage}, which has {len(defaults)} ways out ({choices}); "
                       f"choose one with --to, e.g.: cycle project advance {project.key} --to {defaults[0].dest}")
    by_id = [g for g in gates if g.id == to]
    by_dest = [g for g in defaults if g.dest == to]
    if by_id or len(by_dest) == 1:
        return (by_id or by_dest)[0]
    if by_dest:
        raise BadInput(f"{project.key} can go from {project.stage} to {to} through {len(by_dest)} gates "
                       f"({', '.join(g.id for g in by_dest)}); name one with --to, e.g.: "
                       f"cycle project advance {project.key} --to {by_dest[0].id}")
    choices = ", ".join(g.dest for g in gates)
    raise BadInput(f"{project.key} cannot go from {project.stage} to {to!r}; from {project.stage} it can go to: "
                   f"{choices}")


def check_gate(store: Store, key: str, to: str | None = None, as_of: date | None = None) -> GateCheck:
    with store.read() as s:
        project = get_project(s, key)
        wf = _workflow_for(project)
        return _check(s, wf, _choose_gate(wf, project, to), project, as_of)


# --- writing -------------------------------------------------------------------------------------

_EXAMPLES = {"--ref": '"minutes 2026-10-14 item 5"', "--body": "\"Children's Trust Board\"",
             "--reason": '"covered by the 2026 JSNA engagement"', "title": None}


def _text(value: str | None, what: str, required: bool = True) -> str | None:
    if value is None or not value.strip():
        if required:
            example = _EXAMPLES.get(what)
            raise BadInput(f"{what} must not be empty" + (f"; e.g. {what} {example}" if example else ""))
        return None
    if any(ord(ch) < 32 and ch not in "\t" for ch in value):
        raise BadInput(f"{what} must be a single line of text (no control characters)")
    return value.strip()


def _iso_date(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise BadInput(f"{what} {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-10-14") from None


def _checked_model(model: str | None) -> str | None:
    if model is not None and model not in MODELS:
        raise BadInput(f"model {model!r} is not one of: {', '.join(MODELS)}")
    return model


def _load_for_write(s: Session, key: str, expect_version: int | None) -> Project:
    project = get_project(s, key, for_update=True)
    if expect_version is not None and project.version != expect_version:
        raise StaleProject(key, expect_version, project.version)
    return project


def _touch(s: Session, project: Project, expected_version: int) -> None:
    """Write the project row (bumping its version) only if nobody else changed it meanwhile."""
    project.updated_at = audit.utc_now()
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
    return audit.append(s, actor=actor, action=action, project=project.key, from_stage=from_stage,
                        to_stage=to_stage, payload={**payload, "version": [version, project.version]})


def init(store: Store, actor: str) -> Upgrade:
    """Create the database or upgrade its schema; the change is audited in the same transaction."""
    return store.init(store.actor(actor))


def create_project(store: Store, *, actor: str, key: str, title: str, workflow: str,
                   lead_commissioner: str | None = None, model: str | None = None,
                   accountable_body: str | None = None, owner: str | None = None,
                   attrs: dict[str, str] | None = None, replaces: str | None = None) -> Project:
    if not _KEY.match(key):
        raise BadInput(f"key {key!r} must be lower-case letters, digits and '-', e.g. camhs or school-nursing")
    wf = load(workflow)
    fields = {"title": _text(title, "title"), "lead_commissioner": _text(lead_commissioner, "lead commissioner", False),
              "model": _checked_model(model), "accountable_body": _text(accountable_body, "accountable body", False),
              "owner": _text(owner, "owner", False)}
    extra = _checked_attrs(wf, attrs or {})
    now = audit.utc_now()
    actor = store.actor(actor)
    with store.write() as s:
        if s.exec(select(Project.id).where(Project.key == key)).first() is not None:  # type: ignore[call-overload]
            raise BadInput(f"a project with key {key!r} already exists; see it with: cycle project show {key}")
        old = get_project(s, replaces, for_update=True) if replaces else None
        project = Project(key=key, workflow=wf.name, stage=wf.initial, attrs=json.dumps(extra, sort_keys=True),
                          created_at=now, updated_at=now, **fields)
        s.add(project)
        s.flush()
        audit.append(s, actor=actor, action="project.create", project=key, to_stage=wf.initial,
                     payload={"workflow": wf.name, "workflow_sha256": wf.sha256, **fields, "attrs": extra,
                              "replaces": replaces})
        if old is not None:
            _link(s, project, "replaces", old, actor)
    return project


def _link(s: Session, project: Project, kind: str, other: Project, actor: str) -> None:
    """Link two projects both ways, with an audit entry on the other project so either log shows it."""
    now = audit.utc_now()
    s.add(Link(project_id=project.id, kind=kind, other_id=other.id, created_at=now))
    s.add(Link(project_id=other.id, kind=LINKS[kind], other_id=project.id, created_at=now))
    record_change(s, other, actor=actor, action="project.link", payload={"kind": LINKS[kind], "other": project.key})


def _checked_attrs(wf: Workflow, attrs: dict[str, str]) -> dict[str, str]:
    out = {}
    known = wf.custom_fields()
    for name, value in attrs.items():
        if name not in known:
            raise BadInput(f"workflow {wf.name} has no project attribute {name!r}; "
                           f"it knows: {', '.join(known) or 'none'}")
        out[name] = _text(value, name) or ""
        choices = wf.choices(name)
        if choices and out[name] not in choices:
            raise BadInput(f"{name} {out[name]!r} is not one of: {', '.join(choices)}")
    return out


def set_project(store: Store, key: str, *, actor: str, changes: dict[str, str | None],
                attrs: dict[str, str] | None = None, expect_version: int | None = None) -> Project:
    """Change a project's attributes: the core ones (CORE_FIELDS) and its workflow's own."""
    if "model" in changes:
        _checked_model(changes["model"])
    clean = {k: _text(v, k.replace("_", " ")) for k, v in changes.items() if k in CORE_FIELDS}
    for name in ("start_date", "end_date"):
        if clean.get(name):
            clean[name] = _iso_date(clean[name], f"--{name.replace('_', '-')}")
    if not clean and not attrs:
        raise BadInput(f"nothing to change; e.g.: cycle project set {key} --owner alice")
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, expect_version)
        wf = _workflow_for(project)
        extra = _checked_attrs(wf, attrs or {})
        diff: dict[str, list[Any]] = {}
        for name, value in clean.items():
            if getattr(project, name) != value:
                diff[name] = [getattr(project, name), value]
                setattr(project, name, value)
        current = json.loads(project.attrs or "{}")
        for name, value in extra.items():
            if current.get(name) != value:
                diff[name] = [current.get(name), value]
                current[name] = value
        if not diff:
            return project
        project.attrs = json.dumps(current, sort_keys=True)
        record_change(s, project, actor=actor, action="project.set", payload={"changes": diff})
    return project


def add_evidence(store: Store, key: str, name: str, ref: str, *, actor: str, note: str | None = None,
                 expect_version: int | None = None) -> Evidence:
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, expect_version)
        wf = _workflow_for(project)
        known = wf.evidence_names()
        if name not in known:
            raise BadInput(f"workflow {wf.name} has no evidence called {name!r}; it knows: {', '.join(known)}")
        item = Evidence(project_id=project.id, cycle=project.cycle, name=name, ref=_text(ref, "--ref") or "",
                        note=_text(note, "--note", False), recorded_by=actor, recorded_at=audit.utc_now())
        s.add(item)
        s.flush()
        record_change(s, project, actor=actor, action="evidence.add", payload={
            "evidence_id": item.id, "name": name, "ref": item.ref, "note": item.note, "cycle": project.cycle,
            "stage": project.stage})
    return item


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


def record_decision(store: Store, key: str, *, actor: str, gate: str, outcome: str, body: str, ref: str,
                    recycle_to: str | None = None, decided_on: str | None = None, note: str | None = None,
                    expect_version: int | None = None) -> tuple[Decision, Moved | None]:
    """Record a body's decision on the gate out of the current stage.

    go and hold are recorded for the gate check (advance moves the project); recycle and stop are
    the body's instruction and move the project at once, in the same transaction. A decision the
    actor may not record (see authority.decision_authority) is refused, and the refusal is audited.
    """
    if (outcome == "recycle") != (recycle_to is not None):
        raise BadInput("--to STAGE goes with --outcome recycle, and recycle needs it "
                       "(the earlier stage the body sends the project back to)")
    body_text = _text(body, "--body") or ""
    ref_text = _text(ref, "--ref") or ""
    decided = _iso_date(decided_on, "--date")
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, expect_version)
        wf = _workflow_for(project)
        if outcome not in wf.outcomes():
            raise BadInput(f"outcome {outcome!r} is not one of: {', '.join(wf.outcomes())}")
        gates = wf.gates_from(project.stage)
        the_gate = next((g for g in gates if g.id == gate), None)
        if the_gate is None:
            open_ids = ", ".join(g.id for g in gates) or "none (the project is closed)"
            raise BadInput(f"{key} is at {project.stage}; the gates a decision can be recorded for are: {open_ids}")
        needed = [required_body(project, c) for c in the_gate.criteria if c.kind == "decision"]
        if None in needed:  # the gate is the accountable body's, and the project names none
            raise BadInput(f"{key} has no accountable body to decide gate {gate}; set one with: "
                           f"cycle project set {key} --accountable-body <BODY>")
        if needed and body_text not in needed:
            raise BadInput(f"gate {gate} is decided by {' or '.join(str(b) for b in needed)}, not {body_text}")
        dest = None
        if outcome == "recycle":
            allowed = wf.earlier_stages(project.stage)
            if recycle_to not in allowed:
                raise BadInput(f"recycle goes back to an earlier stage; from {project.stage} that is: "
                               f"{', '.join(allowed) or 'none'}")
            dest = _move(wf, project.stage, f"recycle_to_{recycle_to}")
        elif outcome == "stop":
            dest = _move(wf, project.stage, "stop")
        refusal, authority_text = authority.decision_authority(s, project, gate, body_text, actor)
        if refusal:  # committed on its own: a refused attempt is part of the record
            audit.append(s, actor=actor, action="decision.refused", project=key,
                         payload={"gate": gate, "outcome": outcome, "body": body_text, "ref": ref_text,
                                  "cycle": project.cycle, "stage": project.stage, "why": refusal})
        else:
            decision = Decision(project_id=project.id, cycle=project.cycle, visit=project.visit, gate=gate,
                                outcome=outcome, body=body_text, ref=ref_text, recycle_to=recycle_to,
                                decided_on=decided, note=_text(note, "--note", False), recorded_by=actor,
                                recorded_at=audit.utc_now())
            s.add(decision)
            s.flush()
            source = project.stage
            if dest is not None:
                project.stage, project.visit = dest, project.visit + 1
            entry = record_change(s, project, actor=actor, action="decision.record",
                                  from_stage=source if dest else None, to_stage=dest, payload={
                                      "decision_id": decision.id, "gate": gate, "outcome": outcome,
                                      "body": body_text, "ref": ref_text, "recycle_to": recycle_to,
                                      "decided_on": decided, "note": decision.note, "cycle": project.cycle,
                                      "stage": source, "authority": authority_text})
            moved = (Moved(key, source, dest, gate, project.cycle, project.version, entry.seq)
                     if dest is not None else None)
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    return decision, moved


def advance(store: Store, key: str, *, actor: str, to: str | None = None,
            expect_version: int | None = None, new_key: str | None = None) -> Moved:
    """Pass the gate out of the current stage if its must criteria are met.

    Reads and checks the gate first, then writes under the write lock only if the project is still
    at the version that was read: two managers advancing at once get one winner and one StaleProject.
    A refused attempt is recorded as one `advance.refused` audit entry and changes nothing else.
    """
    with store.read() as s:
        project = get_project(s, key)
        if expect_version is not None and project.version != expect_version:
            raise StaleProject(key, expect_version, project.version)
        wf = _workflow_for(project)
        gate = _choose_gate(wf, project, to)
        check = _check(s, wf, gate, project)
        read_version = project.version
    return commit_advance(store, wf, gate, check, read_version, actor=actor, new_key=new_key)


def commit_advance(store: Store, wf: Workflow, gate: Gate, check: GateCheck, read_version: int, *,
                   actor: str, new_key: str | None = None) -> Moved:
    """The write half of `advance`: apply a gate check made at `read_version`, or refuse it."""
    snapshot = {"gate": gate.id, "gate_title": gate.title, "workflow": wf.name, "workflow_sha256": wf.sha256,
                "cycle": check.cycle,
                "criteria": [{"id": c.id, "kind": c.kind, "must": c.must, "met": c.met, "reason": c.reason,
                              "applies": c.applies, "waived": c.waived, "waiver_id": c.waiver_id,
                              "evidence_ids": c.evidence_ids, "decision_ids": c.decision_ids}
                             for c in check.criteria]}
    opened_wf = load(gate.opens) if gate.opens else None
    actor = store.actor(actor)
    with store.write() as s:
        project = get_project(s, check.project, for_update=True)
        if project.version != read_version:
            raise StaleProject(project.key, read_version, project.version)
        if not check.open:
            audit.append(s, actor=actor, action="advance.refused", project=project.key, from_stage=project.stage,
                         payload={**snapshot, "to": gate.dest, "version": read_version,
                                  "unmet": [c.id for c in check.unmet_must]})
            refused = True
        else:
            refused = False
            dest = _move(wf, project.stage, gate.id)
            source = project.stage
            project.stage, project.visit = dest, project.visit + 1
            if gate.new_cycle:
                project.cycle += 1
            _touch(s, project, read_version)
            opened = _open_linked(s, project, opened_wf, new_key, actor) if opened_wf else None
            entry = audit.append(s, actor=actor, action="advance", project=project.key, from_stage=source,
                                 to_stage=dest, payload={**snapshot, "new_cycle": project.cycle if gate.new_cycle
                                                         else None, "version": [read_version, project.version],
                                                         "warnings": [c.id for c in check.warnings],
                                                         "opened": opened.key if opened else None})
            moved = Moved(project.key, source, dest, gate.id, project.cycle, project.version, entry.seq, check,
                          opened.key if opened else None)
    if refused:
        raise GateNotMet(check.project, check)
    return moved


def _open_linked(s: Session, parent: Project, wf: Workflow, new_key: str | None, actor: str) -> Project:
    """Open the linked project a gate calls for (review -> decommission opens the decommissioning steps)."""
    key = new_key or f"{parent.key}-{wf.name}"
    if not _KEY.match(key):
        raise BadInput(f"key {key!r} must be lower-case letters, digits and '-'; choose one with --new-key")
    if s.exec(select(Project.id).where(Project.key == key)).first() is not None:  # type: ignore[call-overload]
        raise BadInput(f"a project with key {key!r} already exists; choose another with --new-key")
    now = audit.utc_now()
    child = Project(key=key, title=f"{parent.title} ({wf.name})", workflow=wf.name, stage=wf.initial,
                    lead_commissioner=parent.lead_commissioner, model=parent.model,
                    accountable_body=parent.accountable_body, owner=parent.owner, created_at=now, updated_at=now)
    s.add(child)
    s.flush()
    audit.append(s, actor=actor, action="project.create", project=key, to_stage=wf.initial,
                 payload={"workflow": wf.name, "workflow_sha256": wf.sha256, "title": child.title,
                          "opened_by": parent.key, "lead_commissioner": child.lead_commissioner, "model": child.model,
                          "accountable_body": child.accountable_body, "owner": child.owner})
    now = audit.utc_now()
    s.add(Link(project_id=child.id, kind="decommissions", other_id=parent.id, created_at=now))
    s.add(Link(project_id=parent.id, kind="decommissioned-by", other_id=child.id, created_at=now))
    return child


# --- contracts -----------------------------------------------------------------------------------

def set_contract(store: Store, key: str, terms: dict[str, str | None], *, actor: str,
                 expect_version: int | None = None) -> contracts.Status:
    clean = contracts.clean_terms(terms)
    if not clean:
        raise BadInput(f"nothing to set; e.g.: cycle contract set {key} --provider NAME --start 2025-04-01 "
                       f"--end 2028-03-31 --notice '6 months' --run-on '12 months'")
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, expect_version)
        contract = contracts.set_terms(s, project, clean, actor)
        _touch(s, project, project.version)
        holder, _ = contracts.holder_of(s, project)
        return contracts.status(holder.key, contract, date.today())


def show_contract(store: Store, key: str, as_of: date | None = None) -> contracts.Status:
    with store.read() as s:
        project = get_project(s, key)
        st = contract_status(s, project, as_of or date.today())
        if st is None:
            raise BadInput(f"{key} has no contract; record one with: cycle contract set {key} --provider NAME "
                           f"--start YYYY-MM-DD --end YYYY-MM-DD --notice '6 months'")
        return st


def serve_notice(store: Store, key: str, served_on: str, ref: str, *, actor: str) -> contracts.Status:
    ref_text = _text(ref, "--ref") or ""
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, None)
        result = contracts.serve_notice(s, project, served_on, ref_text, actor, date.today())
        _touch(s, project, project.version)
        return result


def contracts_due(store: Store, as_of: date | None = None, within: str = "180d") -> list[Any]:
    with store.read() as s:
        return contracts.due(s, as_of or date.today(), within)
