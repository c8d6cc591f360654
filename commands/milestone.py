"""`cycle milestone`: programme-card milestones."""

from __future__ import annotations

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
def milestone() -> None:
    """Programme-card milestones with due dates."""


@milestone.command("add")
@json_write
@click.argument("key")
@click.argument("title")
@click.option("--due", required=True, type=DATE, help="Due date, YYYY-MM-DD.")
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
@json_write
@click.argument("key")
@click.argument("milestone_id", type=ID)
@click.option("--on", type=DATE, help="The day it was done, YYYY-MM-DD (default today).")
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


@milestone.command("correct")
@click.argument("key")
@click.argument("milestone_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--due", type=DATE, help="The right due date, YYYY-MM-DD.")
@click.option("--done-on", type=DATE, help="The day it was really done, YYYY-MM-DD (not in the future).")
@click.option("--reason", required=True, help="Why the record was wrong; kept in the audit entry.")
def milestone_correct(key: str, milestone_id: int, due: str | None, done_on: str | None, reason: str) -> None:
    """Correct a milestone's due date or the day it was done (a governance lead only): an audit entry of its
    own holds the old and the new dates and the reason.

    \b
    Example:
      cycle milestone correct camhs 3 --done-on 2026-10-28 --reason "done on the 28th; recorded a day late"
    """
    from cycle.governance import corrections

    m, changes = corrections.correct_milestone(ready_store(), key, milestone_id, due=due, done_on=done_on,
                                               reason=reason, actor=actor())
    said = "; ".join(f"{name.replace('_', ' ')} {new} (was {old or 'none'})" for name, (old, new) in changes.items())
    click.echo(f"Corrected milestone #{m.id} of {key}: {said}.")


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
    from cycle.governance import milestones

    from . import output

    on = as_of_or_today(as_of)
    with milestones.listing(ready_store(), key) as rows:
        if as_json:
            emit_each({**output.milestone_json(m.as_dict()), "slipped": m.slipped(on)} for m in rows)
        else:
            echo_each((output.safe(f"#{m.id:<4} due {m.due}  {_state(m):<16} {'SLIPPED ' if m.slipped(on) else ''}"
                                   f"{m.title}") for m in rows),
                      empty=f"No milestones. Add one with: cycle milestone add {key} TITLE --due YYYY-MM-DD")


def _state(m: Any) -> str:
    return f"done {m.done_on}" if m.done_on else "open"
