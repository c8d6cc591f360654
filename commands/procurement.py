"""`cycle procurement`: a project's procurement under the Provider Selection Regime or the Procurement Act 2023,
its steps and the statutory clocks between them (docs/procurement.md)."""

from __future__ import annotations

from datetime import timedelta

import click

from ._common import (
    CONTEXT,
    DATE,
    MONEY,
    actor,
    as_of_option,
    as_of_or_today,
    emit,
    json_option,
    json_write,
    ready_store,
)


@click.group(context_settings=CONTEXT)
def procurement() -> None:
    """Procurement under the PSR or the Procurement Act 2023: routes, steps, statutory clocks."""


@procurement.command("check")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@json_option
def procurement_check(file: str | None, as_json: bool) -> None:
    """Validate a regimes file (the format of cycle's own regimes.toml; exit 2 naming the bad entry); without
    FILE, the regimes this cycle ships.

    \b
    Example:
      cycle procurement check my-regimes.toml
    """
    from pathlib import Path

    from cycle.procurement import regimes

    file = file if file is not None else str(regimes.BUILT_IN)
    found = regimes.load(Path(file))
    routes = sum(len(r.routes) for r in found.regimes)
    clocks = sum(len(x.clocks) for r in found.regimes for x in r.routes)
    if as_json:
        emit({"ok": True, "file": file, "regimes": [r.id for r in found.regimes], "routes": routes, "clocks": clocks})
        return
    from .output import counted

    click.echo(f"OK: {file} defines {counted(len(found.regimes), 'regime')} "
               f"({', '.join(r.id for r in found.regimes)}): {counted(routes, 'route')}, "
               f"{counted(clocks, 'clock')}.")


@procurement.command("start")
@json_write
@click.argument("key")
@click.option("--regime", required=True, type=click.Choice(["psr", "pa2023"]),
              help="psr: the Provider Selection Regime (SI 2023/1348); pa2023: the Procurement Act 2023.")
@click.option("--process", help="The PSR process: direct-award-a, direct-award-b, direct-award-c, "
                                "most-suitable-provider or competitive.")
@click.option("--procedure", help="The Procurement Act 2023 procedure: open or competitive-flexible.")
@click.option("--light-touch", is_flag=True, help="A light touch contract (PA 2023 s.9): no mandatory standstill, "
                                                  "120 days for the contract details notice.")
@click.option("--value", type=MONEY, help="The estimated value, e.g. £6m (over £5m: KPIs and a copy of the contract "
                                          "are published, PA 2023 ss.52-53).")
def procurement_start(key: str, regime: str, process: str | None, procedure: str | None, light_touch: bool,
                      value: str | None) -> None:
    """Record the regime and route a project's procurement follows.

    \b
    Example:
      cycle procurement start camhs --regime psr --process direct-award-c
      cycle procurement start sn --regime pa2023 --procedure open --light-touch
    """
    from cycle.errors import BadInput
    from cycle.procurement import record

    if regime == "psr" and procedure is not None:
        raise BadInput("--procedure is for --regime pa2023; a PSR route is a --process (e.g. direct-award-c)")
    if regime == "pa2023" and process is not None:
        raise BadInput("--process is for --regime psr; a Procurement Act 2023 route is a --procedure (e.g. open)")
    route = process if regime == "psr" else procedure
    if route is None:
        raise BadInput("--process is required with --regime psr (e.g. direct-award-c)" if regime == "psr" else
                       "--procedure is required with --regime pa2023 (open or competitive-flexible)")
    held = record.start(ready_store(), key, regime=regime, route=route, light_touch=light_touch, value=value,
                        actor=actor())
    light = " (light touch contract)" if held.light_touch else ""
    click.echo(f"{key} follows {held.regime.title}: {held.route.title}{light} ({held.route.cite}).")
    first = held.next_steps(as_of_or_today(None))
    if first:
        click.echo(f"Next: {first[0].step.id} ({first[0].step.title}; {first[0].step.cite}). Record it with: "
                   f"cycle procurement step {key} {first[0].step.id} --on DATE")


@procurement.command("step")
@json_write
@click.argument("key")
@click.argument("step")
@click.option("--on", "on", required=True, type=DATE, help="The day it was done (not in the future).")
@click.option("--ref", help="Its reference, e.g. the notice's on the central digital platform.")
@click.option("--note", help="A note, e.g. who made representations.")
@click.option("--decided-by", help="Who decided: the individuals, a committee or job titles (PSR reg 24(d)).")
@click.option("--criteria", help="How the key criteria were taken into account and the basic selection criteria "
                                 "assessed (PSR reg 24(e)-(f)).")
@click.option("--reasons", help="The reasons for the decision (PSR reg 24(g)).")
@click.option("--conflicts", help="Declared conflicts or potential conflicts of interest (PSR reg 24(h)).")
@click.option("--conflicts-managed", help="How they were managed (PSR reg 24(i)).")
def procurement_step(key: str, step: str, on: str, ref: str | None, note: str | None, decided_by: str | None,
                     criteria: str | None, reasons: str | None, conflicts: str | None,
                     conflicts_managed: str | None) -> None:
    """Record a step of the project's route as done on a day; refused if out of order or too early.

    \b
    Example:
      cycle procurement step camhs intention-notice --on 2027-01-11 --ref "FTS 001234-2027"
      cycle procurement step camhs representations --on 2027-01-19 --note "from Provider Y"
    """
    from cycle.procurement import record

    held, row = record.step(ready_store(), key, step, on=on, ref=ref, note=note, decided_by=decided_by,
                            criteria=criteria, reasons=reasons, conflicts=conflicts,
                            conflicts_managed=conflicts_managed, actor=actor())
    ref = f" ({row.ref})" if row.ref else ""
    click.echo(f"Recorded {key}: {step} on {row.done_on.isoformat()}{ref}.")
    today = as_of_or_today(None)
    for c in held.clocks(today):
        if c.clock.start == step or c.clock.representations == step or c.clock.further == step:
            click.echo(f"  {c.sentence(today)}")


@procurement.command("show")
@click.argument("key")
@as_of_option
@json_option
def procurement_show(key: str, as_of: str | None, as_json: bool) -> None:
    """A project's procurement: the route, each step done, the clocks running, the next legal step.

    \b
    Example:
      cycle procurement show camhs
    """
    from cycle.procurement import record

    today = as_of_or_today(as_of)
    held = record.show(ready_store(), key, today)
    if as_json:
        emit(held.as_dict(today))
        return
    light = " (light touch contract)" if held.light_touch else ""
    value = f", estimated value £{held.value}" if held.value else ""
    lines = [f"{key}: {held.regime.title}, {held.route.title}{light} ({held.route.cite}){value}"]
    lines.append("Steps done:" if held.steps else "Steps done: none yet")
    width = max((len(s.step) for s in held.steps), default=0)
    for s in held.steps:
        extra = [f"ref {s.ref}"] if s.ref else []
        extra += [f"{name.replace('_', ' ')}: {v}" for name, v in s.record.items() if v]
        extra += [s.note] if s.note else []
        lines.append(f"  {s.done_on.isoformat()}  {s.step.ljust(width)}  {'; '.join(extra)}".rstrip())
    states = held.clocks(today)
    if states:
        lines.append(f"Clocks on {today.isoformat()}:")
        lines += [f"  {c.sentence(today)}" for c in states]
    nexts = held.next_steps(today)
    lines.append("Next:" if nexts else "Next: nothing the route requires now")
    for n in nexts:
        when = [f"not before {n.not_before.isoformat()}"] if n.not_before else []
        when += [f"by {n.by.isoformat()}"] if n.by else []
        lines.append(f"  {n.step.id}{' ' + ', '.join(when) if when else ''} ({n.step.title}; {n.step.cite})")
    click.echo("\n".join(lines))


@procurement.command("due")
@click.option("--within", default="30d", show_default=True, metavar="PERIOD",
              help="How far ahead to look, e.g. 30d, 8w, 3m.")
@as_of_option
@json_option
def procurement_due(within: str, as_of: str | None, as_json: bool) -> None:
    """Every statutory date coming up or missed across all projects: notices due, standstills ending.

    \b
    Example:
      cycle procurement due --within 30d
    """
    from cycle.calendar import dates
    from cycle.procurement import record

    today = as_of_or_today(as_of)
    days = (dates.window_end(today, within) - today).days
    items = record.due(ready_store(), today, days)
    if as_json:
        emit([i.as_dict() for i in items])
        return
    if not items:
        click.echo(f"Nothing due in procurement by {(today + timedelta(days=days)).isoformat()}.")
        return
    for i in items:
        click.echo(f"{i.day.isoformat() if i.day else '-'.ljust(10)}  {i.key}  {i.status.upper()}  {i.text}")
