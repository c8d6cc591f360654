"""Corrections: a date recorded wrongly (a notice served on 0206-09-15, a decision's meeting day, a milestone's
dates) put right by a governance lead, with a reason, as an audit entry of its own holding the old and the new
value. Nothing is edited in place without one; anyone else is refused, and the refusal is on the record too.

A correction changes only the date: a decision's outcome, body and order stay as recorded (gates read the
latest decision by the order decisions were recorded, never by date, so a corrected date cannot turn a
refused gate into a passed one).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from cycle.audit import chain
from cycle.calendar import clock
from cycle.db.models import Decision, Milestone, Project
from cycle.db.sql import sql_of
from cycle.db.store import Store
from cycle.errors import BadInput, NotPermitted
from cycle.inputs import iso_date, one_line
from cycle.projects import history
from cycle.projects.engine import load_for_write, record_change
from cycle.shell import quote

from . import people


def _date(value: str, what: str, *, future: bool = False) -> str:
    """`value` as an ISO date cycle takes (cycle.inputs.day: 1990 to 2100), not after today unless `future`."""
    text = iso_date(value, what) or ""
    today = clock.london_today().isoformat()
    if not future and text > today:
        raise BadInput(f"{what} {text} is in the future; it is the day it happened, so on or before {today}")
    return text


def _reason(reason: str) -> str:
    text = (one_line(reason, "--reason") or "").strip()
    if not text:
        raise BadInput("--reason is empty: say why the record is wrong, e.g. --reason \"typo: the year was 2026\"")
    return text


def _refusal(session: Session, actor: str, what: str, command: str) -> str | None:
    """Why `actor` may not correct the record, or None: only a governance lead may, and there must be one."""
    leads = people.holders(session, "governance-lead")
    if actor in leads:
        return None
    if leads:
        return f"only a governance lead may {what} ({', '.join(leads)}), and {actor} is not one; ask one to run: " \
               f"{command}"
    return (f"only a governance lead may {what}, and nobody is one yet; "
            f"{people.ask_admin(session, 'cycle people add <NAME> --role governance-lead')}")


def _refused(store: Store, key: str, actor: str, why: str, payload: dict[str, Any]) -> None:
    """Put the refused correction on the record (committed on its own, nothing else changed), then refuse."""
    with store.write() as s:
        chain.append(s, actor=actor, action="correction.refused", project=key, payload={**payload, "why": why})
    raise NotPermitted(f"{why}. The refused attempt is recorded in the audit log.")


def correct_notice(store: Store, key: str, *, served_on: str, reason: str, actor: str,
                   contract: str | None = None) -> tuple[str, str]:
    """Correct the day notice was served on `key`'s contract (the one `contract` names, by its reference, when it
    has several). (old, new)."""
    from cycle.contracts import holder_of

    new = _date(served_on, "--notice-served-on")
    why = _reason(reason)
    actor = store.actor(actor)
    command = f"cycle contract correct {quote(key)} --notice-served-on {new} --reason \"WHY\""
    with store.write() as s:
        project = load_for_write(s, key)
        refusal = _refusal(s, actor, "correct the record", command)
        if refusal is None:
            _, holder, found = holder_of(s, project, one_line(contract, "--ref") if contract is not None else None)
            if found is None or not found.notice_served_on:
                raise BadInput(f"no notice is recorded as served on {holder}'s contract, so there is nothing to "
                               f"correct; record it with: cycle contract notice {quote(holder)} --served-on DATE "
                               f"--ref REF")
            old = found.notice_served_on
            _changed(old, new, "notice was served on", key)
            if found.start and new < found.start:
                raise BadInput(f"--notice-served-on {new} is before the contract starts ({found.start})")
            found.notice_served_on = new
            found.updated_at = clock.utc_now()
            s.add(found)
            s.flush()
            record_change(s, project, actor=actor, action="contract.correct", payload={
                "contract_of": holder, **({"contract_ref": found.ref} if found.ref else {}),
                "changes": {"notice_served_on": [old, new]}, "reason": why})
            return old, new
    _refused(store, key, actor, refusal, {"correct": "contract", "changes": {"notice_served_on": [None, new]},
                                          "reason": why})
    raise AssertionError("unreachable")


def correct_decision(store: Store, decision_id: int, *, decided_on: str, reason: str,
                     actor: str) -> tuple[Decision, str | None, str]:
    """Correct the day a body made decision `decision_id`. (the decision, old date, new date)."""
    new = _date(decided_on, "--date")
    why = _reason(reason)
    actor = store.actor(actor)
    with store.write() as s:
        decision = s.get(Decision, decision_id) if 0 < decision_id < 2**63 else None
        project = s.get(Project, decision.project_id) if decision is not None else None
        if decision is None or project is None:
            raise BadInput(f"there is no decision #{decision_id}; see the decisions and their numbers with: "
                           f"cycle report gate-audit KEY")
        key = project.key
        project = load_for_write(s, key)
        refusal = _refusal(s, actor, "correct the record",
                           f"cycle decision correct {decision_id} --date {new} --reason \"WHY\"")
        if refusal is None:
            old = decision.decided_on
            _changed(old, new, f"decision #{decision_id} was made on", key)
            entered = history.entered_when_decided(sql_of(s), key, decision_id)
            if entered is not None and new < entered[1].isoformat():  # as `decision record --date` refuses
                stage, day = entered[0], entered[1].isoformat()
                raise BadInput(f"--date {new} is before {key} entered {stage} on {day}, and a decision counts only "
                               f"from then; give the day the body decided, e.g. --date {day}")
            decision.decided_on = new
            s.add(decision)
            s.flush()
            record_change(s, project, actor=actor, action="decision.correct", payload={
                "decision_id": decision_id, "gate": decision.gate, "outcome": decision.outcome,
                "changes": {"decided_on": [old, new]}, "reason": why})
            return decision, old, new
    _refused(store, key, actor, refusal, {"correct": "decision", "decision_id": decision_id,
                                          "changes": {"decided_on": [None, new]}, "reason": why})
    raise AssertionError("unreachable")


def correct_milestone(store: Store, key: str, milestone_id: int, *, due: str | None, done_on: str | None,
                      reason: str, actor: str) -> tuple[Milestone, dict[str, list[str | None]]]:
    """Correct a milestone's due date and/or the day it was done. (the milestone, {field: [old, new]})."""
    if due is None and done_on is None:
        raise BadInput(f"nothing to correct; give --due DATE and/or --done-on DATE, e.g. cycle milestone correct "
                       f"{quote(key)} {milestone_id} --due 2027-01-31 --reason \"WHY\"")
    given = {"due": _date(due, "--due", future=True) if due is not None else None,
             "done_on": _date(done_on, "--done-on") if done_on is not None else None}
    why = _reason(reason)
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key)
        m = s.get(Milestone, milestone_id) if 0 < milestone_id < 2**63 else None
        if m is None or m.project_id != project.id:
            raise BadInput(f"{key} has no milestone #{milestone_id}; see them with: cycle milestone list {quote(key)}")
        refusal = _refusal(s, actor, "correct the record",
                           f"cycle milestone correct {quote(key)} {milestone_id} ... --reason \"WHY\"")
        if refusal is None:
            if given["done_on"] is not None and not m.done_on:
                raise BadInput(f"milestone #{milestone_id} is not done, so it has no done date to correct; mark it "
                               f"done with: cycle milestone done {quote(key)} {milestone_id} --on DATE")
            changes: dict[str, list[str | None]] = {}
            for name, value in given.items():
                if value is not None and getattr(m, name) != value:
                    changes[name] = [getattr(m, name), value]
                    setattr(m, name, value)
            if not changes:
                raise BadInput(f"milestone #{milestone_id} already has those dates, so nothing changed; see it with: "
                               f"cycle milestone list {quote(key)}")
            s.add(m)
            s.flush()
            record_change(s, project, actor=actor, action="milestone.correct", payload={
                "milestone_id": milestone_id, "title": m.title, "changes": changes, "reason": why})
            return m, changes
    _refused(store, key, actor, refusal, {"correct": "milestone", "milestone_id": milestone_id,
                                          "changes": {k: [None, v] for k, v in given.items() if v}, "reason": why})
    raise AssertionError("unreachable")


def _changed(old: str | None, new: str, what: str, key: str) -> None:
    if old == new:
        raise BadInput(f"{what} {new} already, so nothing changed; see the record with: cycle project show {key}")

