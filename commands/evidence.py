"""`cycle evidence`: record evidence for a project's current cycle."""

from __future__ import annotations

import click

from ._common import CONTEXT, actor, expect_version_option, json_write, ready_store


@click.group(context_settings=CONTEXT)
def evidence() -> None:
    """Record evidence (a named artefact and its reference) for a project's current cycle."""


@evidence.command("add")
@json_write
@click.argument("key")
@click.argument("name")
@click.option("--ref", required=True, help="Where the artefact is: document title, link or file reference.")
@click.option("--note", help="Optional note.")
@expect_version_option
def evidence_add(key: str, name: str, ref: str, note: str | None, expect_version: int | None) -> None:
    """Record evidence NAME for project KEY in its current cycle.

    \b
    Example:
      cycle evidence add camhs needs-assessment --ref "JSNA 2026 children chapter"
    """
    from cycle.projects import engine

    item = engine.add_evidence(ready_store(), key, name, ref, actor=actor(), note=note, expect_version=expect_version)
    click.echo(f"Recorded evidence #{item.id} {item.name} for {key}, cycle {item.cycle}: {item.ref}")
