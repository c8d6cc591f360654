"""`cycle gate`: check the next gate, ask its body for a decision, waive a criterion."""

from __future__ import annotations

import click

from ._common import CONTEXT, actor, as_of_date, as_of_option, emit, json_option, json_write, ready_store, to_option


@click.group(context_settings=CONTEXT)
def gate() -> None:
    """Check the gate out of a project's current stage."""


@gate.command("check")
@click.argument("key")
@to_option
@as_of_option
@json_option
def gate_check(key: str, to: str | None, as_of: str | None, as_json: bool) -> None:
    """Every criterion of the next gate: met or not, why, and the command that records it.

    \b
    Example:
      cycle gate check camhs
      cycle gate check camhs --json
    """
    from cycle.projects import views

    from . import output

    check = views.check_gate(ready_store(), key, to, as_of_date(as_of))
    emit(check.as_dict()) if as_json else click.echo(output.gate_check(check))


@gate.command("request")
@json_write
@click.argument("key")
@to_option
@click.option("--note", help="What the body is asked to decide.")
def gate_request(key: str, to: str | None, note: str | None) -> None:
    """Ask the gate's body for a decision (you may then not decide it yourself).

    The body's approvers are emailed (once per gate and stage) what the gate waits on; the email goes
    with the next `cycle outbox send` or `cycle remind run`.

    \b
    Example:
      cycle gate request camhs --note "for the 14 October board"
    """
    from cycle.governance import requests
    from cycle.shell import quote

    from .output import safe

    r = requests.request_gate(ready_store(), key, actor=actor(), to=to, note=note)
    click.echo(f"Requested a decision on gate {r.gate} for {key} (asked by {r.requested_by}).")
    if r.queued:
        who = ", ".join(f"{name} <{email}>" + (f" ({as_deputy})" if as_deputy else "")
                        for name, email, as_deputy in r.queued)
        click.echo(f"Emailing the approvers: {who}. It goes with the next: cycle outbox send (or cycle remind run, "
                   f"or the scheduler)")
    if r.already:
        click.echo(f"Already emailed about this gate at this stage: {', '.join(r.already)} (not emailed again).")
    if r.waiting:
        click.echo(f"Already queued about this gate at this stage, not sent yet: {', '.join(r.waiting)} (not queued "
                   f"again); it goes with the next: cycle outbox send")
    for name, row, why in r.failed:
        click.echo(safe(f"The email to {name} about this gate could not be delivered ({why}); send it again with: "
                        f"cycle outbox retry {row} (if the address is wrong, first: cycle people add {name} --email "
                        f"ADDRESS)"), err=True)
    for body in r.nobody:
        click.echo(f"Nobody was emailed for {body}: no approver of it is in the people list (other than you); "
                   f"register one with: cycle people add NAME --email ADDRESS --role approver --body {quote(body)}",
                   err=True)
    for body, names in r.barred:
        click.echo(safe(f"Nobody was emailed for {body}: {', '.join(names)} may not decide this gate (separation of "
                        f"duties: they asked for it, own or owned {key} at this stage, or waived one of its criteria); "
                        f"register another approver with: cycle people add NAME --email ADDRESS --role approver --body "
                        f"{quote(body)}"), err=True)


@gate.command("waive")
@json_write
@click.argument("key")
@click.argument("criterion")
@click.option("--reason", required=True, help="Why the criterion is waived; shown in every report.")
@to_option
def gate_waive(key: str, criterion: str, reason: str, to: str | None) -> None:
    """Waive an unmet must criterion of the next gate (governance leads only; exit 6 otherwise).

    \b
    Example:
      cycle gate waive camhs consultation --reason "Statutory consultation covered by the 2026 JSNA engagement"
    """
    from cycle.governance import waivers

    w = waivers.waive(ready_store(), key, criterion, reason, actor=actor(), to=to)
    click.echo(f"Waived {w.criterion} of gate {w.gate} for {key} (waiver #{w.id}, by {w.waived_by}).")
