"""Asking a gate's body for a decision: the asker is then barred from deciding it (cycle.governance.authority), and
the body's approvers are emailed, once per gate and visit, with what the gate waits on."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from cycle.calendar import clock
from cycle.db import rows
from cycle.db.models import GateRequest, row_id
from cycle.db.rows import ProjectRow, row_of
from cycle.db.sql import sql_of
from cycle.db.store import Store
from cycle.inputs import one_line
from cycle.projects.engine import load_for_write, record_change
from cycle.reminders import outbox
from cycle.shell import quote
from cycle.workflow import gates, registry
from cycle.workflow.definition import ACCOUNTABLE, Gate, Workflow

from . import authority, identity, people

KIND = "gate-request"


@dataclass
class Request:
    """A request recorded, and whom it emailed."""

    project: str
    gate: str
    requested_by: str
    requested_at: str
    note: str | None
    bodies: list[str]
    #: (name, email, and for a deputy what they stand in as: "deputy for chair to 2027-01-31") of each approver or
    #: deputy emailed by this request (queued in the outbox)
    queued: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: approvers emailed already by an earlier request of this gate in this visit (not emailed again)
    already: list[str] = field(default_factory=list)
    #: approvers whose email of an earlier request is queued but not sent yet (not queued again)
    waiting: list[str] = field(default_factory=list)
    #: (name, outbox id, why) of each approver whose email of an earlier request the server refused for good
    failed: list[tuple[str, int, str]] = field(default_factory=list)
    #: the bodies no approver is registered for: nobody of theirs could be emailed
    nobody: list[str] = field(default_factory=list)
    #: (body, its approvers and deputies barred from deciding the gate) for each body whose every one is barred
    barred: list[tuple[str, list[str]]] = field(default_factory=list)


def deciding_bodies(wf: Workflow, gate: Gate, project: ProjectRow) -> list[str]:
    """The bodies that decide `gate` (its decision criteria's, else the gate's own body, by default the project's
    accountable body); the same rule as decision record."""
    bodies = [b for c in gate.criteria if c.kind == "decision" for b in gates.required_bodies(project, c)]
    if not bodies:
        bodies = [project.accountable_body if gate.body == ACCOUNTABLE else gate.body]
    return list(dict.fromkeys(b for b in bodies if b))


def recipients(session: Session, project: ProjectRow, gate: str,
               body: str) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """(name, email, None for an approver, or what a deputy stands in as: "deputy for chair to 2027-01-31") of whom
    to ask for `body`'s decision of `gate`: its approvers, and the deputies of theirs whose window covers today
    (issue 15 part 7), each once, but none barred from deciding this visit's gate (authority._barred: whoever asked
    for it, now or before, owns or owned the project this stage, or waived one of its criteria); and the names of
    those left out for that."""
    approvers = people.approvers_of(session, body)
    standing: dict[str, list[str]] = {}  # a deputy's canonical name -> "chair to 2027-01-31", for each window today
    for d in rows.deputy_windows(sql_of(session), body, on=clock.london_today().isoformat(), approvers=approvers):
        standing.setdefault(identity.canonical(d.deputy), []).append(f"{d.approver} to {d.ends_on}")
    out: list[tuple[str, str, str | None]] = []
    left_out: list[str] = []
    seen: set[str] = set()
    for name in [*approvers, *standing]:
        person = people.get(session, name)
        if person is None or not person.email or identity.canonical(person.name) in seen:
            continue
        seen.add(identity.canonical(person.name))
        if authority._barred(session, project, gate, body, person.name, approvers):
            left_out.append(person.name)
            continue
        as_deputy = None if identity.among(person.name, approvers) else (
            "deputy for " + " and for ".join(standing[identity.canonical(person.name)]))
        out.append((person.name, person.email, as_deputy))
    return out, left_out


def request_gate(store: Store, key: str, *, actor: str, to: str | None = None,
                 note: str | None = None) -> Request:
    """Ask the gate's body to decide; the asker is then barred from deciding it. The body's approvers are emailed
    (queued in the outbox, in the same transaction) once per gate and visit, with what the gate waits on."""
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key)
        seen = row_of(ProjectRow, project)
        wf = registry.pinned(store, s, seen)
        asking = f"cycle gate request {quote(key)}" + (f" --note {quote(note)}" if note else "")
        gate = gates.choose(wf, seen, to, asking)
        check = gates.check(sql_of(s), wf, gate, seen)
        request = GateRequest(project_id=row_id(project), gate=gate.id, visit=project.visit, requested_by=actor,
                              requested_at=clock.utc_now(), note=one_line(note, "--note", False))
        s.add(request)
        s.flush()  # on record before `recipients` asks who is barred: the asker is
        record_change(s, project, actor=actor, action="gate.request", payload={
            "gate": gate.id, "cycle": project.cycle, "stage": project.stage, "note": request.note})
        done = Request(key, gate.id, actor, request.requested_at, request.note, deciding_bodies(wf, gate, seen))
        context = _context(wf, gate, seen, check, done)
        for body in done.bodies:
            # One request email per gate and visit (and body, for a gate two bodies decide).
            period = f"{gate.id}/c{seen.cycle}v{seen.visit}" + (f"/{body}" if len(done.bodies) > 1 else "")
            found, left_out = recipients(s, seen, gate.id, body)
            if not found and left_out:
                done.barred.append((body, left_out))
            elif not found:
                done.nobody.append(body)
            for name, email, as_deputy in found:
                row = outbox.queue(s, actor=actor, project=key, kind=KIND, period=period, recipient=name, email=email,
                                   due_on=clock.london_today().isoformat(),
                                   context={**context, "period": period, "body": body, "recipient": name,
                                            "role": as_deputy or f"approver for {body}",
                                            "command": _command(key, gate, body)})
                if row is None:
                    _earlier(s, done, key, period, name)
                else:
                    done.queued.append((name, email, as_deputy))
    return done


def _earlier(session: Session, done: Request, key: str, period: str, name: str) -> None:
    """What became of the email an earlier request of this gate queued for `name`: sent, waiting, or failed."""
    row = sql_of(session).one("SELECT id, status, last_error FROM outbox WHERE project = :project AND "
                              "kind = :kind AND period = :period AND recipient = :name",
                              project=key, kind=KIND, period=period, name=name)
    if row is None or row.status == "sent":
        done.already.append(name)
    elif row.status == "failed":
        done.failed.append((name, row.id, row.last_error or "refused"))
    else:
        done.waiting.append(name)


def _context(wf: Workflow, gate: Gate, project: ProjectRow, check: gates.GateCheck, done: Request) -> dict[str, object]:
    """What the request email says: the project, the gate, who asks, and what the gate waits on besides the body."""
    waiting = [{"id": c.id, "title": c.title, "reason": c.reason} for c in check.unmet_must if c.kind != "decision"]
    return {"project": project.key, "title": project.title, "kind": KIND, "stage": project.stage,
            "stage_title": wf.stage(project.stage).title, "to_title": wf.stage(gate.dest).title,
            "gate": {"id": gate.id, "title": gate.title, "to": gate.dest},
            "requested_by": done.requested_by, "requested_on": clock.london_today().isoformat(), "note": done.note,
            "waiting_on": waiting,
            "summary": f"Decision requested on {gate.id} for {project.title} ({project.key})"}


def _command(key: str, gate: Gate, body: str) -> str:
    return f"cycle decision record {quote(key)} --gate {gate.id} --outcome go --body {quote(body)} --ref MINUTES"
