"""`cycle people`: the people cycle knows, and their roles."""

from __future__ import annotations

from typing import Any

import click

from ._common import CONTEXT, DATE, actor, echo_each, emit_each, json_option, json_write, ready_store


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


@people.group("deputy", context_settings=CONTEXT)
def deputy() -> None:
    """Deputies: someone who may decide for a body in an approver's place, from one day to another."""


@deputy.command("add")
@json_write
@click.argument("approver")
@click.option("--deputy", "deputy_name", required=True, help="Who stands in (a known person, not the approver).")
@click.option("--body", required=True, help="The body the approver decides for.")
@click.option("--from", "starts_on", required=True, type=DATE, help="The first day they may decide (London date).")
@click.option("--to", "ends_on", required=True, type=DATE, help="The last day they may decide (London date).")
def deputy_add(approver: str, deputy_name: str, body: str, starts_on: str, ends_on: str) -> None:
    """Let a deputy decide for a body in APPROVER's place, from --from to --to (both days included).

    An admin or the approver themself adds a deputy. A deputy's decision and its audit entry say
    "acting for APPROVER, deputy since DATE"; separation of duties applies to them as to anyone, and
    a deputy's deputy does not count. Windows of one approver and body may not overlap.

    \b
    Example:
      cycle people deputy add chair --deputy vice-chair --body "Children's Trust Board" \\
        --from 2027-07-20 --to 2027-08-14
    """
    from cycle.governance import deputies

    w = deputies.add(ready_store(), approver, deputy_name, body, starts_on, ends_on, actor=actor())
    click.echo(f"{w.deputy} may decide for {w.body} in {w.approver}'s place from {w.starts_on} to {w.ends_on}.")


@deputy.command("end")
@json_write
@click.argument("approver")
@click.option("--deputy", "deputy_name", required=True, help="The deputy whose window ends.")
@click.option("--body", required=True, help="The body of the window.")
@click.option("--on", "on", type=DATE, help="The first day they no longer decide (default: today, at once).")
def deputy_end(approver: str, deputy_name: str, body: str, on: str | None) -> None:
    """End a deputy's window early (an admin or the approver): from --on they no longer decide; what they
    decided stands. The change is audited.

    \b
    Example:
      cycle people deputy end chair --deputy vice-chair --body "Children's Trust Board"
    """
    from cycle.governance import deputies

    w, was = deputies.end(ready_store(), approver, deputy_name, body, on, actor=actor())
    if w.cancelled:
        click.echo(f"Cancelled {w.deputy}'s window for {w.body} in {w.approver}'s place (was {w.starts_on} to "
                   f"{was}): they never decide in it.")
    elif w.ends_on < w.starts_on:  # ended on its first day, after they had decided in it
        stands = "the decision they recorded in it stands" if w.decided == 1 else \
            f"the {w.decided} decisions they recorded in it stand"
        click.echo(f"Ended {w.deputy}'s window for {w.body} in {w.approver}'s place (was {w.starts_on} to {was}): "
                   f"they no longer decide; {stands}.")
    else:
        click.echo(f"{w.deputy} decides for {w.body} in {w.approver}'s place until {w.ends_on} (was until {was}).")


@deputy.command("list")
@click.option("--body", help="Only this body's deputies.")
@json_option
def deputy_list(body: str | None, as_json: bool) -> None:
    """List deputy windows: who stands in for whom, for which body, from when to when.

    \b
    Example:
      cycle people deputy list --body "Children's Trust Board" --json
    """
    from cycle.calendar import clock
    from cycle.governance import deputies

    from .output import safe

    today = clock.london_today().isoformat()
    windows = deputies.listing(ready_store(), body)
    if as_json:
        emit_each(w.as_dict(today) for w in windows)
    else:
        echo_each((safe(f"{w.deputy} for {w.approver} ({w.body}): {w.starts_on} to {w.ends_on}, {w.status(today)}")
                   for w in windows),
                  empty="No deputies. Add one with: cycle people deputy add APPROVER --deputy NAME --body BODY "
                        "--from DATE --to DATE")
