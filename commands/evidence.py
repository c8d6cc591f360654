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
@click.option("--for", "counts_for", metavar="CRITERION",
              help="Count it for this evidence criterion, whatever NAME is (e.g. --for risk-assessment).")
@click.option("--note", help="Optional note.")
@expect_version_option
def evidence_add(key: str, name: str, ref: str, counts_for: str | None, note: str | None,
                 expect_version: int | None) -> None:
    """Record evidence NAME for project KEY in its current cycle.

    A NAME a criterion looks for counts for it. Any other name (lower-case letters, digits, hyphens) is
    recorded as supporting evidence, counting for no criterion (you are warned the first time); --for
    CRITERION counts it for that criterion.

    \b
    Example:
      cycle evidence add camhs needs-assessment --ref "JSNA 2026 children chapter"
      cycle evidence add camhs risk-register --for risk-assessment --ref "Risk register v3"
    """
    from cycle.projects import engine

    notes: list[str] = []
    item = engine.add_evidence(ready_store(), key, name, ref, actor=actor(), note=note, expect_version=expect_version,
                               counts_for=counts_for, notes=notes)
    counted = f" (counts for {item.counts_for})" if item.counts_for else ""
    click.echo(f"Recorded evidence #{item.id} {item.name}{counted} for {key}, cycle {item.cycle}: {item.ref}")
    for line in notes:
        click.echo(f"Warning: {line}", err=True)
