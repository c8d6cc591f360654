"""`cycle people`: the people cycle knows, and their roles."""

from __future__ import annotations

from typing import Any

import click

from ._common import CONTEXT, actor, echo_each, emit_each, json_option, json_write, ready_store


@click.group(context_settings=CONTEXT)
def people() -> None:
    """The people cycle knows: emails for reminders, and roles (manager, governance lead, approver, admin, provider)."""


@people.command("add")
@json_write
@click.argument("name")
@click.option("--email", help="Email address (needed the first time).")
@click.option("--role", type=click.Choice(["manager", "governance-lead", "approver", "admin", "provider"]),
              help="A role to grant (an admin only, once anyone is admin).")
@click.option("--body", help="With --role approver: the body they decide for.")
def people_add(name: str, email: str | None, role: str | None, body: str | None) -> None:
    """Add a person (NAME is their CYCLE_USER or login name), or grant one a role.

    Only an admin may grant a role, once anyone holds the admin role; only the person or an admin
    may change a known person's email.

    \b
    Example:
      cycle people add alice --email alice@council.gov.uk --role manager
      cycle people add chair --email chair@council.gov.uk --role approver --body "Children's Trust Board"
      cycle people add jsmith --email j.smith@trustx.nhs.uk --role provider   # a provider's contract lead
    """
    from cycle.governance import people as directory

    person, note = directory.add(ready_store(), name, email, role, body, actor=actor())
    click.echo(f"{person.name} <{person.email}>: {_roles(person)}")
    if note:
        click.echo(note)


@people.command("remove-role")
@json_write
@click.argument("name")
@click.option("--role", required=True,
              type=click.Choice(["manager", "governance-lead", "approver", "admin", "provider"]),
              help="The role to take away.")
@click.option("--body", help="With --role approver: the body they no longer decide for.")
def people_remove_role(name: str, role: str, body: str | None) -> None:
    """Take a role away from a person (an admin only); the audit log keeps what they did with it.

    \b
    Example:
      cycle people remove-role chair --role approver --body "Children's Trust Board"
    """
    from cycle.governance import people as directory

    person = directory.remove_role(ready_store(), name, role, body, actor=actor())
    click.echo(f"{person.name} <{person.email}>: {_roles(person)}")


def _roles(person: Any) -> str:
    return ", ".join(f"{r} for {b}" if b else r for r, b in person.roles) or "no roles"


@people.command("list")
@json_option
def people_list(as_json: bool) -> None:
    """List people and their roles.

    \b
    Example:
      cycle people list --json
    """
    from cycle.governance import roster

    from .output import safe

    with roster.everyone(ready_store()) as everyone:
        if as_json:
            emit_each(p.as_dict() for p in everyone)
        else:
            echo_each((safe(f"{p.name:<16} {p.email:<32} {_roles(p)}") for p in everyone),
                      empty="Nobody yet. Start with an admin, who grants the other roles: "
                            "cycle people add NAME --email ADDRESS --role admin")
