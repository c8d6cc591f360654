"""`cycle programme`: the programmes projects are grouped under (seed 002: commissioning intentions)."""

from __future__ import annotations

import click

from ._common import CONTEXT, actor, emit_each, json_option, json_write, ready_store


@click.group(context_settings=CONTEXT)
def programme() -> None:
    """Programmes (commissioning intentions) that projects belong to."""


@programme.command("add")
@json_write
@click.argument("programme_key", metavar="KEY")
@click.option("--title", required=True, help="The programme's name, e.g. \"Emotional health and wellbeing\".")
def programme_add(programme_key: str, title: str) -> None:
    """Add a programme; projects join it with --programme KEY (project new, project set).

    \b
    Example:
      cycle programme add emotional-health --title "Emotional health and wellbeing"
    """
    from cycle.projects import programmes

    p = programmes.add(ready_store(), programme_key, title, actor=actor())
    click.echo(f"Added programme {p.key} ({p.title}). Put a project in it with: cycle project set KEY "
               f"--programme {p.key}")


@programme.command("list")
@json_option
def programme_list(as_json: bool) -> None:
    """List the programmes, with how many projects each has.

    \b
    Example:
      cycle programme list --json
    """
    from cycle.projects import programmes

    from .output import counted, safe

    found = programmes.listing(ready_store())
    if as_json:
        emit_each(p.as_dict() for p in found)
    elif not found:
        click.echo("No programmes yet. Add one with: cycle programme add KEY --title TITLE")
    else:
        width = max(len(p.key) for p in found)
        for p in found:
            click.echo(safe(f"{p.key:<{width}}  {counted(p.projects, 'project'):<12} {p.title}"))
