"""People and their roles: who gets reminders, who may decide for which body, who may waive."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from . import audit
from .errors import BadInput
from .models import Person, PersonRole

ROLES = ("manager", "governance-lead", "approver", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


@dataclass
class PersonView:
    name: str
    email: str
    roles: list[tuple[str, str]] = field(default_factory=list)  # (role, body)

    def has(self, role: str, body: str | None = None) -> bool:
        return any(r == role and (body is None or b == body) for r, b in self.roles)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email,
                "roles": [{"role": r, "body": b or None} for r, b in self.roles]}


def check_email(email: str) -> str:
    email = (email or "").strip()
    if not _EMAIL.match(email):
        raise BadInput(f"--email {email!r} is not an email address (e.g. alice@council.gov.uk)")
    return email


def add(session: Session, name: str, email: str | None, role: str | None, body: str | None, actor: str) -> PersonView:
    """Add a person, or add a role (or a new email) to one already known."""
    if not _NAME.match(name or ""):
        raise BadInput(f"name {name!r} must be the person's user name as CYCLE_USER says it (letters, digits, . _ @ -)")
    if role is not None and role not in ROLES:
        raise BadInput(f"--role {role!r} is not one of: {', '.join(ROLES)}")
    if (role == "approver") != bool(body and body.strip()):
        raise BadInput("--body goes with --role approver, and an approver needs it (the body they decide for)")
    person = session.exec(select(Person).where(Person.name == name)).scalars().first()  # type: ignore[call-overload]
    changes: dict[str, Any] = {}
    if person is None:
        if not email:
            raise BadInput(f"{name} is new: give an email, e.g.: cycle people add {name} --email {name}@council.gov.uk")
        person = Person(name=name, email=check_email(email), created_at=audit.utc_now())
        session.add(person)
        session.flush()
        changes["email"] = person.email
    elif email and check_email(email) != person.email:
        changes["email"] = [person.email, check_email(email)]
        person.email = check_email(email)
        session.add(person)
    if role is not None:
        exists = session.exec(select(PersonRole.id).where(  # type: ignore[call-overload]
            PersonRole.person_id == person.id, PersonRole.role == role,
            PersonRole.body == (body or "").strip())).first()
        if exists is None:
            session.add(PersonRole(person_id=person.id, role=role, body=(body or "").strip()))
            changes["role"] = {"role": role, "body": (body or "").strip() or None}
    if not changes:
        raise BadInput(f"{name} already has that; see: cycle people list")
    session.flush()
    audit.append(session, actor=actor, action="person.add", payload={"name": name, **changes})
    return get(session, name)  # type: ignore[return-value]


def get(session: Session, name: str) -> PersonView | None:
    person = session.exec(select(Person).where(Person.name == name)).scalars().first()  # type: ignore[call-overload]
    if person is None:
        return None
    roles = session.exec(select(PersonRole.role, PersonRole.body).where(  # type: ignore[call-overload]
        PersonRole.person_id == person.id).order_by(PersonRole.id)).all()
    return PersonView(person.name, person.email, [(r, b) for r, b in roles])


def everyone(session: Session) -> list[PersonView]:
    names = session.exec(select(Person.name).order_by(Person.name)).all()  # type: ignore[call-overload]
    return [p for p in (get(session, n) for (n,) in names) if p is not None]


def approvers_of(session: Session, body: str) -> list[str]:
    rows = session.exec(select(Person.name).join(PersonRole, PersonRole.person_id == Person.id)  # type: ignore[call-overload]
                        .where(PersonRole.role == "approver", PersonRole.body == body).order_by(Person.name)).all()
    return [n for (n,) in rows]
