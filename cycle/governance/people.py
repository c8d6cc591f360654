"""People and their roles: who gets reminders, who may decide for which body, who may waive, who may grant.

Granting or removing a role is for an admin. While nobody holds the admin role (a new database),
anyone may grant roles, so a team can start: the first grant should make someone admin. A governance
lead may not grant roles: they waive criteria, and one person who could also appoint approvers could
both set aside a gate's evidence and choose who decides it.

Anyone may add a person with no role, so that reminders reach them. A known person's email decides
where their reminders go, so only they themselves or an admin may change it.

A person is named by their canonical login (cycle.governance.identity): "Chair" and "chair" are one person.
Once anyone is registered, the people a project names (owner, SRO, lead, governance lead) must be
registered too, so that a name nobody logs in as cannot stand in for someone who does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from cycle import inputs
from cycle.audit import chain
from cycle.calendar import clock
from cycle.db.models import Person, PersonRole, row_id
from cycle.db.sql import sql_of
from cycle.db.store import Store
from cycle.errors import BadInput, NotPermitted
from cycle.shell import quote

from . import identity
from .roster import PersonView

ROLES = ("manager", "governance-lead", "approver", "admin", "provider")
#: A provider's contact (a contract's --provider-contact) holds this role: someone outside the team, who gets the
#: provider's reminders but does not use cycle (no command in their emails; governance is not set up by it).
PROVIDER = "provider"
# The project fields that name a person, and the option that sets each.
PERSON_FIELDS = {"owner": "--owner", "sro": "--sro", "lead": "--lead", "governance_lead": "--governance-lead"}


def check_email(email: str) -> str:
    """An address as email-validator normalises it (the domain lower-cased, Unicode in NFC); an internationalised
    one (zoë@...) is accepted, and sent where the mail server offers SMTPUTF8 (cycle.notifications.send).
    The text rule (cycle.inputs) comes first: no control or invisible characters, at most its length. Then
    email-validator alone, so that what it takes (o'neill@..., RFC 5322) is taken; it refuses a display name,
    quoting, a comment, an IP address or a domain with no dot: the address alone, one that can be sent to."""
    from email_validator import EmailNotValidError, validate_email

    email = inputs.text(email, "--email", "email")
    try:
        return str(validate_email(email, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise BadInput(f"--email {email!r} is not an email address: {exc} (e.g. alice@council.gov.uk)") from None


def check_name(name: str) -> str:
    """A person's name as CYCLE_USER (or the login) gives it, as their canonical login (cycle.governance.identity)."""
    if not identity.PATTERN.fullmatch(identity.canonical((name or "").strip())):
        raise BadInput(f"name {name!r} must be the person's user name as CYCLE_USER says it ({identity.RULE})")
    return identity.login(name)  # one alphabet, or it says which it mixes


def find(session: Session, name: str) -> Person | None:
    """The person `name` means: stored under its canonical login, or (in a database an older cycle
    wrote) under another spelling of it, which is kept as it was written."""
    exact = session.scalars(select(Person).where(col(Person.name) == name)).first()
    if exact is not None:
        return exact
    mine = identity.canonical(name)
    for person in session.scalars(select(Person).order_by(col(Person.id))):
        if identity.canonical(person.name) == mine:
            return person
    return None


def anyone_registered(session: Session) -> bool:
    return session.exec(select(Person.id).limit(1)).first() is not None  # type: ignore[call-overload]


def anyone_holds_a_role(session: Session) -> bool:
    """Whether governance is set up: someone holds a role, other than a provider's (before that, nothing can be
    checked)."""
    return session.exec(select(PersonRole.id).where(PersonRole.role != PROVIDER)  # type: ignore[call-overload]
                        .limit(1)).first() is not None


def named_person(session: Session, value: str, flag: str) -> str:
    """What a project stores for a person-naming option (--owner, --sro, ...): the canonical login,
    which must be a registered person's once anyone is registered (BadInput otherwise)."""
    name = identity.login(value, flag)
    if anyone_registered(session) and find(session, name) is None:
        raise not_registered(name, flag)
    return name


def not_registered(name: str, flag: str) -> BadInput:
    """The refusal of a person-naming option that names nobody registered."""
    return BadInput(f"{flag} {name} is not a registered person (see: cycle people list); register them first with: "
                    f"cycle people add {quote(name)} --email ADDRESS")


def _check_role(role: str, body: str | None) -> str:
    if role not in ROLES:
        raise BadInput(f"--role {role!r} is not one of: {', '.join(ROLES)}")
    if (role == "approver") != bool(body and body.strip()):
        raise BadInput("--body goes with --role approver, and an approver needs it (the body they decide for)")
    return inputs.text(body, "--body", "body", False) or ""


def grant_command(name: str, role: str, body: str = "", *, email: str | None = None) -> str:
    """The command that grants the role; `email` for someone cycle does not know yet (it needs one)."""
    email = f" --email {quote(email)}" if email else ""
    return f"cycle people add {quote(name)}{email} --role {role}" + (f" --body {quote(body)}" if body else "")


def ask_admin(session: Session, command: str) -> str:
    """The next step for someone who needs a role: an admin runs the command (never themselves)."""
    admins = holders(session, "admin")
    if admins:
        return f"ask an admin ({', '.join(admins)}) to run: {command}"
    return f"ask your team's cycle administrator to run: {command}"


def _grant_refusal(session: Session, actor: str, what: str, command: str) -> str | None:
    """Why `actor` may not grant or remove a role, or None: admins may, and anyone while nobody is admin."""
    admins = holders(session, "admin")
    if not admins or identity.among(actor, admins):
        return None
    return (f"only an admin may {what} (admins: {', '.join(admins)}), and {actor} is not one; "
            f"ask one of them to run: {command}")


def add(store: Store, name: str, email: str | None, role: str | None, body: str | None, *,
        actor: str) -> tuple[PersonView, str | None]:
    """Add a person, or a role (or a new email) to one already known: (the person, a note for the user).

    Granting a role is for an admin, and changing a known person's email for them or an admin (see the
    module's docstring); a refusal is one `person.refused` audit entry and changes nothing else.
    """
    name = check_name(name)
    body_text = _check_role(role, body) if role is not None else ""
    new_email = check_email(email) if email else None
    actor = store.actor(actor)
    refusal = None
    with store.write() as s:
        person = find(s, name)
        name = person.name if person is not None else name  # an older spelling stays as it was written
        if person is None and new_email is None:
            raise BadInput(f"{name} is new: give an email, e.g.: cycle people add {quote(name)} "
                           f"--email {name}@council.gov.uk")
        grant = role is not None and (person is None or s.exec(select(PersonRole.id).where(  # type: ignore[call-overload]
            PersonRole.person_id == person.id, PersonRole.role == role, PersonRole.body == body_text)).first() is None)
        email_change = person is not None and new_email is not None and new_email != person.email
        if person is not None and not grant and not email_change:
            raise BadInput(f"{name} already has that; see: cycle people list")
        if grant:
            refusal = _grant_refusal(s, actor, "grant a role", grant_command(
                name, role or "", body_text, email=new_email if person is None else None))
        elif email_change and not identity.same(actor, name):
            admins = holders(s, "admin")
            if admins and not identity.among(actor, admins):
                refusal = (f"only {name} or an admin ({', '.join(admins)}) may change {name}'s email, which "
                           f"decides where their reminders go; ask one of them to run: "
                           f"cycle people add {quote(name)} --email <ADDRESS>")
        if refusal:  # committed on its own: a refused attempt is part of the record
            chain.append(s, actor=actor, action="person.refused", payload={
                "name": name, "role": role, "body": body_text or None, "email": new_email, "why": refusal})
        else:
            changes = _apply(s, person, name, new_email, role if grant else None, body_text)
            chain.append(s, actor=actor, action="person.add", payload={"name": name, **changes})
            view = get(s, name)
            unguarded = grant and not holders(s, "admin")
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    note = ("Nobody holds the admin role yet, so anyone may grant roles; make someone admin: "
            "cycle people add NAME --role admin") if unguarded else None
    return view, note  # type: ignore[return-value]


def _apply(s: Session, person: Person | None, name: str, email: str | None, role: str | None,
           body: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if person is None:
        assert email is not None  # add() refuses a new person without one
        person = Person(name=name, email=email, created_at=clock.utc_now())
        s.add(person)
        s.flush()
        changes["email"] = person.email
    elif email is not None and email != person.email:
        changes["email"] = [person.email, email]
        person.email = email
        s.add(person)
    if role is not None:
        s.add(PersonRole(person_id=row_id(person), role=role, body=body))
        changes["role"] = {"role": role, "body": body or None}
    s.flush()
    return changes


def remove_role(store: Store, name: str, role: str, body: str | None, *, actor: str) -> PersonView:
    """Take a role away (an admin only, as granting it); a refusal is one `person.refused` audit entry."""
    name = check_name(name)
    body_text = _check_role(role, body)
    actor = store.actor(actor)
    refusal = None
    with store.write() as s:
        person = find(s, name)
        name = person.name if person is not None else name
        view = get(s, name)
        if person is None or view is None or not view.has(role, body_text):
            held = ", ".join(f"{r} for {b}" if b else r for r, b in view.roles) if view and view.roles else "none"
            raise BadInput(f"{name} does not hold {role}{' for ' + body_text if body_text else ''} "
                           f"(roles: {held}); see: cycle people list")
        command = f"cycle people remove-role {quote(name)} --role {role}" + (
            f" --body {quote(body_text)}" if body_text else "")
        refusal = _grant_refusal(s, actor, "remove a role", command)
        if refusal:
            chain.append(s, actor=actor, action="person.refused", payload={
                "name": name, "remove_role": role, "body": body_text or None, "why": refusal})
        else:
            if role == "admin" and [identity.canonical(a) for a in holders(s, "admin")] == [identity.canonical(name)]:
                raise BadInput(f"{name} is the only admin, and without one anyone may grant roles; make someone "
                               f"else admin first: cycle people add NAME --role admin")
            if role == PROVIDER:
                _refuse_a_provider_contact(s, name)
            held = s.exec(select(PersonRole).where(  # type: ignore[call-overload]
                PersonRole.person_id == person.id, PersonRole.role == role,  # type: ignore[arg-type]
                PersonRole.body == body_text)).scalars()  # type: ignore[arg-type]
            for granted in held:  # one by one, so that each row's removal reaches the audit entry (cycle.audit.images)
                s.delete(granted)
            chain.append(s, actor=actor, action="person.remove-role", payload={
                "name": name, "role": {"role": role, "body": body_text or None}})
            view = get(s, name)
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    return view  # type: ignore[return-value]


_CONTACT_OF = ("SELECT c.ref, p.key FROM contract c JOIN project p ON p.id = c.project_id "
               "WHERE c.provider_contact = :name ORDER BY c.id")


def _refuse_a_provider_contact(session: Session, name: str) -> None:
    """BadInput when `name` is a contract's provider contact: the provider role is what `contract set
    --provider-contact` asks of them, and the return reminders would go on to someone without it."""
    found = sql_of(session).rows(_CONTACT_OF, name=name)
    if not found:
        return
    first = found[0]
    more = f" (and {len(found) - 1} more contract{'s' if len(found) > 2 else ''})" if len(found) > 1 else ""
    option = f" --contract {quote(first.ref)}" if first.ref else ""
    raise BadInput(f"{name} is the provider contact of {first.key}'s contract{' ' + first.ref if first.ref else ''}"
                   f"{more} and gets {'their' if more else 'its'} return reminders; name another (or none, with '') "
                   f"first: cycle contract set {quote(first.key)}{option} --provider-contact NAME")


def get(session: Session, name: str) -> PersonView | None:
    """The person `name` means (in any spelling of their login), with their roles."""
    person = find(session, name)
    if person is None:
        return None
    roles = session.exec(select(PersonRole.role, PersonRole.body).where(  # type: ignore[call-overload]
        PersonRole.person_id == person.id).order_by(PersonRole.id)).all()
    return PersonView(person.name, person.email, [(r, b) for r, b in roles])


def holders(session: Session, role: str, body: str = "") -> list[str]:
    """The names holding `role` (for `body`, for an approver), sorted."""
    rows = session.exec(select(Person.name).join(PersonRole, PersonRole.person_id == Person.id)  # type: ignore[call-overload]
                        .where(PersonRole.role == role, PersonRole.body == body).order_by(Person.name)).all()
    return [n for (n,) in rows]


def approvers_of(session: Session, body: str) -> list[str]:
    return holders(session, "approver", body)


def with_a_role(store: Store) -> set[str]:
    """The names of everyone holding any role but a provider's: the people who use cycle (a reminder shows them its
    command)."""
    with store.read() as s:
        rows = s.exec(select(Person.name).join(PersonRole, PersonRole.person_id == Person.id)  # type: ignore[call-overload]
                      .where(PersonRole.role != PROVIDER)).all()
        return {n for (n,) in rows}
