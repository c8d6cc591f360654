"""`cycle action`: actions raised at contract reviews, with an owner and a due date."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from ._common import (
    CONTEXT,
    DATE,
    ID,
    actor,
    as_of_option,
    as_of_or_today,
    echo_each,
    emit_each,
    json_option,
    json_write,
    ready_store,
)


@click.group(context_settings=CONTEXT)
def action() -> None:
    """Actions (from contract review meetings): owner, due date, done."""


@action.command("add")
@json_write
@click.argument("key")
@click.argument("text")
@click.option("--owner", required=True, help="Who does it (a person's name, or the provider's lead).")
@click.option("--due", required=True, type=DATE, help="Due date, YYYY-MM-DD.")
@click.option("--kpi", "kpi_key", metavar="ID", help="The indicator it is about.")
@click.option("--contract", metavar="REF", help="The contract of --kpi, when the project holds several.")
def action_add(key: str, text: str, owner: str, due: str, kpi_key: str | None, contract: str | None) -> None:
    """Add an action to a project.

    \b
    Example:
      cycle action add camhs "Recovery plan for RTT" --owner alice --due 2027-01-31 --kpi rtt-4wk
    """
    from cycle.performance import actions

    a = actions.add(ready_store(), key, text, owner=owner, due=due, kpi=kpi_key, contract=contract, actor=actor())
    about = f" (about {a.kpi})" if a.kpi else ""
    click.echo(f"Added action #{a.id} to {key}{about}: {a.text}, owner {a.owner}, due {a.due}.")


@action.command("done")
@json_write
@click.argument("key")
@click.argument("action_id", metavar="N", type=ID)
@click.option("--on", type=DATE, help="The day it was done, YYYY-MM-DD (default today).")
@click.option("--note", help="What was done.")
def action_done(key: str, action_id: int, on: str | None, note: str | None) -> None:
    """Mark an action done.

    \b
    Example:
      cycle action done camhs 3 --on 2027-01-20 --note "plan agreed"
    """
    from cycle.performance import actions

    a = actions.done(ready_store(), key, action_id, on=on, note=note, actor=actor())
    late = " (late)" if a.done_on and a.done_on > a.due else ""
    click.echo(f"Action #{a.id} of {key} done on {a.done_on}{late}.")


@action.command("list")
@click.argument("key", required=False)
@click.option("--open", "open_only", is_flag=True, help="Only the actions not done yet.")
@as_of_option
@json_option
def action_list(key: str | None, open_only: bool, as_of: str | None, as_json: bool) -> None:
    """List the actions (of one project), with the overdue ones marked.

    \b
    Example:
      cycle action list camhs --open
    """
    from cycle.performance import actions

    from . import output

    on = as_of_or_today(as_of)
    with actions.listing(ready_store(), key, open_only) as found:
        if as_json:
            emit_each(a.as_dict(on) for a in found)
        else:
            echo_each((output.safe(f"#{a.id:<4} {a.project:<16} due {a.due}  {_state(a, on):<15} "
                                   f"{a.owner:<12} {a.text}" + (f" [{a.kpi}]" if a.kpi else "")) for a in found),
                      empty="No actions. Add one with: cycle action add KEY TEXT --owner NAME --due YYYY-MM-DD")


def _state(a: Any, on: date) -> str:
    return f"done {a.done_on}" if a.done_on else "OVERDUE" if a.overdue(on) else "open"
