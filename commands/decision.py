"""`cycle decision`: record a body's decision on a gate."""

from __future__ import annotations

import click

from ._common import CONTEXT, DATE, actor, expect_version_option, json_write, ready_store


@click.group(context_settings=CONTEXT)
def decision() -> None:
    """Record a governance body's decision on a gate."""


@decision.command("record")
@json_write
@click.argument("key")
@click.option("--gate", "gate_id", required=True, help="The gate decided, e.g. analyse-plan.")
@click.option("--outcome", required=True, metavar="OUTCOME",
              help="go; hold (stay); recycle (back to --to STAGE); stop (close); or one the workflow names, "
                   "e.g. terminate-immediately.")
@click.option("--body", required=True, help="The deciding body, e.g. \"Children's Trust Board\".")
@click.option("--ref", required=True, help="Minutes reference, e.g. \"minutes 2026-10-14 item 5\".")
@click.option("--to", "recycle_to", help="With --outcome recycle: the earlier stage to go back to.")
@click.option("--date", "decided_on", type=DATE, help="Date of the meeting, YYYY-MM-DD.")
@click.option("--note", help="Optional note.")
@expect_version_option
def decision_record(key: str, gate_id: str, outcome: str, body: str, ref: str, recycle_to: str | None,
                    decided_on: str | None, note: str | None, expect_version: int | None) -> None:
    """Record a decision; recycle and stop move the project at once, go lets it advance.

    \b
    Example:
      cycle decision record camhs --gate analyse-plan --outcome go \\
        --body "Children's Trust Board" --ref "minutes 2026-10-14 item 5"
    """
    from cycle.projects import engine

    recorded = engine.record_decision(ready_store(), key, actor=actor(), gate=gate_id, outcome=outcome, body=body,
                                      ref=ref, recycle_to=recycle_to, decided_on=decided_on, note=note,
                                      expect_version=expect_version)
    d, moved = recorded.decision, recorded.moved
    acting = f", {recorded.authority}" if recorded.authority.startswith("acting for ") else ""
    click.echo(f"Recorded decision #{d.id}: {d.outcome} on {d.gate} by {d.body} ({d.ref}){acting}.")
    if moved:
        click.echo(f"{moved.project} moved {moved.source} -> {moved.dest} (audit entry {moved.seq}).")
        note = moved.contract_note()
        if note:
            click.echo(note)
    elif d.outcome == "go":
        click.echo(f"Next: cycle project advance {key}")


@decision.command("correct")
@click.argument("decision_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--date", "decided_on", required=True, type=DATE,
              help="The day the body really decided, YYYY-MM-DD (not before 1990, not in the future).")
@click.option("--reason", required=True, help="Why the record was wrong; kept in the audit entry.")
def decision_correct(decision_id: int, decided_on: str, reason: str) -> None:
    """Correct the date of a recorded decision (a governance lead only): an audit entry of its own holds the
    old and the new date and the reason. The outcome, the body and the order of decisions do not change.

    \b
    Example:
      cycle decision correct 12 --date 2026-10-14 --reason "minutes dated the 14th, not the 4th"
    """
    from cycle.governance import corrections

    d, old, new = corrections.correct_decision(ready_store(), decision_id, decided_on=decided_on, reason=reason,
                                               actor=actor())
    click.echo(f"Corrected decision #{d.id} ({d.outcome} on gate {d.gate}): decided on {new} "
               f"(was {old or 'not given'}).")
