"""`cycle milestone`: programme-card milestones."""

from __future__ import annotations

import click

from ._common import CONTEXT, actor, as_of_date, as_of_option, emit, json_option, ready_store


@click.group(context_settings=CONTEXT)
def milestone() -> None:
    """Programme-card milestones with due dates."""


@milestone.command("add")
@click.argument("key")
@click.argument("title")
@click.option("--due", required=True, help="Due date, YYYY-MM-DD.")
def milestone_add(key: str, title: str, due: str) -> None:
    """Add a milestone to a project's programme card.

    \b
    Example:
      cycle milestone add camhs "Service specification agreed" --due 2027-01-31
    """
    from cycle.governance import milestones

    m = milestones.add_milestone(ready_store(), key, title, due, actor=actor())
    click.echo(f"Added milestone #{m.id} to {key}: {m.title}, due {m.due}.")


@milestone.command("done")
@click.argument("key")
@click.argument("milestone_id", type=int)
@click.option("--on", help="The day it was done, YYYY-MM-DD (default today).")
def milestone_done(key: str, milestone_id: int, on: str | None) -> None:
    """Mark a milestone done.

    \b
    Example:
      cycle milestone done camhs 3 --on 2026-10-28
    """
    from cycle.governance import milestones

    m = milestones.complete_milestone(ready_store(), key, milestone_id, actor=actor(), on=on)
    late = " (late)" if m.done_on and m.done_on > m.due else ""
    click.echo(f"Milestone #{m.id} of {key} done on {m.done_on}{late}.")


@milestone.command("list")
@click.argument("key")
@as_of_option
@json_option
def milestone_list(key: str, as_of: str | None, as_json: bool) -> None:
    """A project's milestones, with those that slipped marked.

    \b
    Example:
      cycle milestone list camhs
    """
    from cycle.calendar import clock
    from cycle.governance import milestones

    on = as_of_date(as_of) or clock.london_today()
    rows = milestones.listing(ready_store(), key)
    if as_json:
        emit([{**m.as_dict(), "slipped": m.slipped(on)} for m in rows])
    elif not rows:
        click.echo(f"No milestones. Add one with: cycle milestone add {key} TITLE --due YYYY-MM-DD")
    else:
        for m in rows:
            state = f"done {m.done_on}" if m.done_on else "open"
            click.echo(f"#{m.id:<4} due {m.due}  {state:<16} {'SLIPPED ' if m.slipped(on) else ''}{m.title}")
