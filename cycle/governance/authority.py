"""Who may decide and what has been waived: checks the engine makes inside its write transactions.

Names are compared as canonical logins (cycle.governance.identity): whoever owns a project as "Chair" is chair.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cycle.calendar import clock
from cycle.calendar.clock import LONDON, parse_utc
from cycle.db import rows
from cycle.db.models import GateRequest, Waiver
from cycle.db.rows import ProjectRow
from cycle.db.sql import sql_of
from cycle.projects import history
from cycle.shell import quote
from cycle.workflow.definition import CORE_FIELDS, Workflow

from . import deputies, identity, people

# The project field every gate's authority depends on: the accountable body names who decides its
# gates (body "accountable"), so whoever could rename it could send a gate to a body of their
# choosing, say one with no approvers on record, and decide it themselves.
ACCOUNTABLE_BODY = "accountable_body"


def authority_fields(wf: Workflow) -> tuple[str, ...]:
    """The project fields a gate's authority depends on in `wf`: the accountable body, and any field
    a decision criterion's `when` reads (changing it could make the decision not required)."""
    conditions = [c.when.field for g in wf.gates for c in g.criteria if c.kind == "decision" and c.when]
    return tuple(dict.fromkeys([ACCOUNTABLE_BODY, *conditions]))


def requesters(session: Session, project: ProjectRow, gate: str) -> list[str]:
    """Who asked for this gate since the project entered its current stage."""
    rows = session.exec(select(GateRequest.requested_by).where(  # type: ignore[call-overload]
        GateRequest.project_id == project.id, GateRequest.gate == gate, GateRequest.visit == project.visit)).all()
    return sorted({r for (r,) in rows})


def owners_this_stage(session: Session, project: ProjectRow) -> dict[str, str | None]:
    """Everyone who has owned the project since it entered its current stage: canonical login -> until
    when (an audit time), or None for the owner now. Read from the `project.set` entries since then."""
    entry = history.stage_entry(sql_of(session), project.key)
    rows = sql_of(session).rows("SELECT at, payload FROM audit_entry WHERE project = :key AND action = 'project.set' "
                                "AND seq > :since ORDER BY seq", key=project.key, since=entry.seq if entry else 0)
    owners: dict[str, str | None] = {}
    for row in rows:
        change = json.loads(row.payload).get("changes", {}).get("owner")
        if change and isinstance(change[0], str) and change[0]:
            owners[identity.canonical(change[0])] = row.at
    if project.owner:
        owners[identity.canonical(project.owner)] = None
    return owners


def owner_refusal(session: Session, project: ProjectRow, actor: str, what: str,
                  instead: str) -> str | None:
    """Why `actor` may not `what` (separation of duties: they own the project, or owned it during
    this stage), or None."""
    owners = owners_this_stage(session, project)
    if identity.canonical(actor) not in owners:
        return None
    until = owners[identity.canonical(actor)]
    if until is None:
        return f"separation of duties: {actor} owns {project.key} and may not {what}; {instead}"
    when = parse_utc(until).astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    return (f"separation of duties: {actor} owned {project.key} during this stage (until {when}) and may not "
            f"{what}; {instead}")


def waived_by(session: Session, project: ProjectRow, gate: str, actor: str) -> list[str]:
    """The criteria of `gate` that `actor` waived in the project's current visit to its stage."""
    rows = session.exec(select(Waiver.criterion, Waiver.waived_by).where(  # type: ignore[call-overload]
        Waiver.project_id == project.id, Waiver.gate == gate, Waiver.visit == project.visit).order_by(Waiver.id)).all()
    return [criterion for criterion, by in rows if identity.same(by, actor)]


def _barred(session: Session, project: ProjectRow, gate: str, body: str, actor: str,
           approvers: list[str]) -> str | None:
    """Why `actor` may not decide `gate` for `body` in the project's current visit to its stage, whoever they are
    (separation of duties), or None. Whoever waived a criterion of the gate may not: one person would both set
    aside its evidence and pass it. Where `body` has `approvers` on record, nor may whoever has owned the project
    since it entered its current stage, or asked for the gate. decision_authority asks it of the one deciding; the
    gate-request email (cycle.governance.requests) of each approver and deputy, to leave out those barred."""
    waived = waived_by(session, project, gate, actor)
    if waived:
        instead = f"another approver for {body} must record it" if approvers else "someone else must record it"
        return (f"separation of duties: {actor} waived {', '.join(waived)} of gate {gate} and may not decide it; "
                f"{instead}")
    if not approvers:
        return None
    refusal = owner_refusal(session, project, actor, "decide its gates",
                            f"another approver for {body} must record it")
    if refusal:
        return refusal
    if identity.among(actor, requesters(session, project, gate)):
        return (f"separation of duties: {actor} asked for gate {gate} and may not decide it; "
                f"another approver for {body} must record it")
    return None


def decision_authority(session: Session, project: ProjectRow, gate: str, body: str,
                       actor: str) -> tuple[str | None, str]:
    """(why the actor may not decide, or None; the authority to record with the decision).

    A body with approvers on record accepts decisions only from them (or a deputy in their window), and never
    from anyone `_barred`. A body with no approvers on record cannot be checked: the decision is accepted and
    marked unverified, and reports show it, unless its decider waived a criterion of the gate.
    """
    approvers = people.approvers_of(session, body)
    if not approvers or waived_by(session, project, gate, actor):  # a waiver is named before anything else
        refusal = _barred(session, project, gate, body, actor, approvers)
        return (refusal, "") if refusal else (None, f"unverified: no approvers registered for {body}")
    authority_text = f"approver for {body}"
    if not identity.among(actor, approvers):
        today = clock.london_today()
        window = _acting_for(session, body, actor, today, approvers)
        if window is None:
            windows = [deputies.window(r) for r in rows.deputy_windows(sql_of(session), body, deputy=actor)
                       if r.ends_on >= r.starts_on]  # not a cancelled one
            if windows:
                said = ", ".join(f"from {w.starts_on} to {w.ends_on} for {w.approver}" for w in windows)
                return (f"{actor} may decide for {body} only as a deputy ({said}), and today is {today}; "
                        f"an approver ({', '.join(approvers)}) must record it"), ""
            return (f"{actor} is not an approver for {body} (approvers: {', '.join(approvers)}); "
                    f"only they can record its decisions"), ""
        authority_text = f"acting for {window.approver}, deputy since {window.starts_on}"
    refusal = _barred(session, project, gate, body, actor, approvers)
    return (refusal, "") if refusal else (None, authority_text)


def authority_change_refusal(session: Session, project: ProjectRow, actor: str, changes: dict[str, Any]) -> str | None:
    """Why `actor` may not make `changes` (name -> [old, new]) to the fields in authority_fields(), or None.

    Once governance is set up (anyone holds any role) they are a governance lead's to change, and
    not one who has owned the project during this stage (as for waivers). Before then, anyone may,
    as the quick start does.
    """
    if not people.anyone_holds_a_role(session):
        return None
    fields = " and ".join(name.replace("_", " ") for name in changes)
    command = f"cycle project set {quote(project.key)}" + "".join(
        f" --{name.replace('_', '-')} {quote(str(new or ''))}" if name in CORE_FIELDS
        else f" --attr {quote(f'{name}={new}')}" for name, (_, new) in changes.items())
    what = f"only a governance lead may change the {fields} of {project.key}, which decides who may pass its gates"
    person = people.get(session, actor)
    if person is None or not person.has("governance-lead"):
        leads = people.holders(session, "governance-lead")
        if leads:
            return f"{what}, and {actor} is not one; ask a governance lead ({', '.join(leads)}) to run: {command}"
        appoint = people.ask_admin(session, "cycle people add <NAME> --role governance-lead")
        return f"{what}, and nobody is one yet; {appoint}"
    return owner_refusal(session, project, actor, f"change its {fields}",
                         f"another governance lead must run: {command}")


def lead_refusal(session: Session, actor: str, what: str, command: str,
                 admins_too: bool = False) -> tuple[str | None, bool]:
    """(why `actor` may not `what`, or None; whether nobody holds the governance-lead or admin role yet).

    It is for a governance lead (or, with `admins_too`, an admin). While nobody in the database holds
    either role anyone may, so that a new team can start, as anyone may grant roles before there is an
    admin (cycle.governance.people); the caller then says so.
    """
    leads, admins = people.holders(session, "governance-lead"), people.holders(session, "admin")
    if not leads and not admins:
        return None, True
    allowed = sorted(set(leads) | (set(admins) if admins_too else set()))
    if actor in allowed:
        return None, False
    who = "a governance lead or an admin" if admins_too else "a governance lead"
    if allowed:
        return (f"only {who} may {what} ({', '.join(allowed)}), and {actor} is not one; "
                f"ask one of them to run: {command}"), False
    return (f"only {who} may {what}, and nobody is one yet; "
            f"{people.ask_admin(session, 'cycle people add <NAME> --role governance-lead')}"), False


def _acting_for(session: Session, body: str, actor: str, day: date,
                approvers: list[str]) -> deputies.Window | None:
    """The window in which `actor` may decide for `body` on `day`: theirs as deputy of one of its `approvers` now
    (so a deputy's deputy does not count), running that day; None if none."""
    found = rows.deputy_windows(sql_of(session), body, deputy=actor, on=day.isoformat(), approvers=approvers)
    return deputies.window(found[0]) if found else None
