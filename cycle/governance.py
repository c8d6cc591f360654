"""Governance actions: asking for a gate, waiving a criterion, programme-card milestones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from . import audit, authority, people, quarters, views
from .engine import _iso_date, _load_for_write, _text, get_project, record_change
from .errors import BadInput, NotPermitted
from .gates import quote
from .models import GateRequest, Milestone, Waiver
from .store import Store


def request_gate(store: Store, key: str, *, actor: str, to: str | None = None, note: str | None = None) -> GateRequest:
    """Ask the gate's body to decide; the asker is then barred from deciding it."""
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, None)
        wf = views.workflow_for(store, s, project)
        asking = f"cycle gate request {quote(key)}" + (f" --note {quote(note)}" if note else "")
        gate = views.choose_gate(wf, project, to, asking)
        request = GateRequest(project_id=project.id, gate=gate.id, visit=project.visit, requested_by=actor,
                              requested_at=audit.utc_now(), note=_text(note, "--note", False))
        s.add(request)
        record_change(s, project, actor=actor, action="gate.request", payload={
            "gate": gate.id, "cycle": project.cycle, "stage": project.stage, "note": request.note})
    return request


def waive(store: Store, key: str, criterion: str, reason: str, *, actor: str, to: str | None = None) -> Waiver:
    """Waive one unmet must criterion of the next gate. Only a governance lead may; a refusal is audited."""
    why = _text(reason, "--reason") or ""
    refusal = None
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, None)
        wf = views.workflow_for(store, s, project)
        asking = f"cycle gate waive {quote(key)} {quote(criterion)} --reason {quote(why)}"
        gate = views.choose_gate(wf, project, to, asking)
        check = views.check(s, wf, gate, project)
        result = next((c for c in check.criteria if c.id == criterion), None)
        if result is None:
            raise BadInput(f"gate {gate.id} has no criterion {criterion!r}; it has: "
                           f"{', '.join(c.id for c in check.criteria)}")
        if not result.must:
            raise BadInput(f"{criterion} is a should criterion: it warns but does not block, "
                           f"so there is nothing to waive")
        if result.kind == "decision":
            raise BadInput("a decision cannot be waived: the gate's body must decide")
        if result.met:
            raise BadInput(f"{criterion} is already met ({result.reason}); there is nothing to waive")
        person = people.get(s, actor)
        if person is None or not person.has("governance-lead"):
            leads = people.holders(s, "governance-lead")
            if leads:
                refusal = (f"only a governance lead may waive a criterion, and {actor} is not one; "
                           f"ask a governance lead ({', '.join(leads)}) to consider it")
            else:
                refusal = (f"only a governance lead may waive a criterion, and nobody is one yet; "
                           f"{people.ask_admin(s, 'cycle people add <NAME> --role governance-lead')}")
        else:
            refusal = authority.owner_refusal(s, project, actor, "waive its criteria",
                                              "another governance lead must waive it")
        if refusal:  # committed on its own: a refused attempt is part of the record
            audit.append(s, actor=actor, action="waiver.refused", project=key, payload={
                "gate": gate.id, "criterion": criterion, "reason": why, "why": refusal})
        else:
            waiver = Waiver(project_id=project.id, cycle=project.cycle, visit=project.visit, gate=gate.id,
                            criterion=criterion, reason=why, waived_by=actor, waived_at=audit.utc_now())
            s.add(waiver)
            s.flush()
            record_change(s, project, actor=actor, action="waiver.add", payload={
                "waiver_id": waiver.id, "gate": gate.id, "criterion": criterion, "reason": why,
                "was": result.reason, "cycle": project.cycle, "stage": project.stage})
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    return waiver


@dataclass
class MilestoneView:
    id: int
    title: str
    due: str
    done_on: str | None

    def slipped(self, on: date) -> bool:
        """Not done by its due date (as seen on `on`)."""
        due = date.fromisoformat(self.due)
        if self.done_on:
            return date.fromisoformat(self.done_on) > due
        return on > due

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "due": self.due, "done_on": self.done_on}


def add_milestone(store: Store, key: str, title: str, due: str, *, actor: str) -> Milestone:
    text = _text(title, "milestone title") or ""
    when = _iso_date(due, "--due") or ""
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, None)
        m = Milestone(project_id=project.id, title=text, due=when, created_by=actor, created_at=audit.utc_now())
        s.add(m)
        s.flush()
        record_change(s, project, actor=actor, action="milestone.add", payload={
            "milestone_id": m.id, "title": text, "due": when})
    return m


def complete_milestone(store: Store, key: str, milestone_id: int, *, actor: str, on: str | None = None) -> Milestone:
    today = quarters.london_today()
    when = _iso_date(on, "--on") or today.isoformat()
    if date.fromisoformat(when) > today:
        raise BadInput(f"--on {when} is in the future; mark a milestone done once it is done")
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, None)
        m = s.get(Milestone, milestone_id)
        if m is None or m.project_id != project.id:
            raise BadInput(f"{key} has no milestone #{milestone_id}; see them with: cycle project show {key}")
        if m.done_on:
            raise BadInput(f"milestone #{milestone_id} was already done on {m.done_on}")
        m.done_on = when
        s.add(m)
        record_change(s, project, actor=actor, action="milestone.done", payload={
            "milestone_id": m.id, "title": m.title, "due": m.due, "done_on": when})
    return m


def milestones(store: Store, key: str) -> list[MilestoneView]:
    with store.read() as s:
        project = get_project(s, key)
        rows = s.exec(select(Milestone).where(Milestone.project_id == project.id)  # type: ignore[call-overload]
                      .order_by(Milestone.due, Milestone.id)).scalars()
        return [MilestoneView(m.id, m.title, m.due, m.done_on) for m in rows]  # type: ignore[arg-type]
