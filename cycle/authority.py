"""Who may decide and what has been waived: checks the engine makes inside its write transactions."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from . import people
from .models import GateRequest, Project


def requesters(session: Session, project: Project, gate: str) -> list[str]:
    """Who asked for this gate since the project entered its current stage."""
    rows = session.exec(select(GateRequest.requested_by).where(  # type: ignore[call-overload]
        GateRequest.project_id == project.id, GateRequest.gate == gate, GateRequest.visit == project.visit)).all()
    return sorted({r for (r,) in rows})


def decision_authority(session: Session, project: Project, gate: str, body: str, actor: str) -> tuple[str | None, str]:
    """(why the actor may not decide, or None; the authority to record with the decision).

    A body with approvers on record accepts decisions only from them, and never from the project's
    owner or from whoever asked for the gate. A body with no approvers on record cannot be checked:
    the decision is accepted and marked unverified, and reports show it.
    """
    approvers = people.approvers_of(session, body)
    if not approvers:
        return None, f"unverified: no approvers registered for {body}"
    if actor not in approvers:
        return (f"{actor} is not an approver for {body} (approvers: {', '.join(approvers)}); "
                f"only they can record its decisions"), ""
    if actor == project.owner:
        return (f"separation of duties: {actor} owns {project.key} and may not decide its gates; "
                f"another approver for {body} must record it"), ""
    if actor in requesters(session, project, gate):
        return (f"separation of duties: {actor} asked for gate {gate} and may not decide it; "
                f"another approver for {body} must record it"), ""
    return None, f"approver for {body}"


