"""`cycle kpi` and `cycle performance`: a contract's indicators, their quarterly values and status, and the
portfolio's at a glance (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from ._common import (
    CONTEXT,
    QUARTER,
    Checked,
    _whole,
    actor,
    as_of_option,
    as_of_or_today,
    csv_option,
    echo_each,
    emit,
    emit_csv,
    emit_each,
    json_option,
    json_write,
    one_format,
    ready_store,
)

contract_option = click.option("--contract", metavar="REF",
                               help="The contract's ref, when the project holds several contracts.")
QUARTERS = Checked("n", _whole(1, 40, "quarters"))


@click.group(context_settings=CONTEXT)
def kpi() -> None:
    """A contract's performance indicators: targets, quarterly values, status and trend."""


@kpi.command("add")
@json_write
@click.argument("key")
@click.argument("kpi_id", metavar="ID")
@click.option("--title", required=True, help="What is measured, e.g. \"Referral to treatment within 4 weeks\".")
@click.option("--unit", help="Its unit, e.g. % or days.")
@click.option("--better", required=True, type=click.Choice(["higher", "lower", "band"]),
              help="Which way is better: higher, lower, or inside a band (--low and --high).")
@click.option("--target", help="The target (with --better higher or lower).")
@click.option("--low", help="The band's lowest value that is met (with --better band).")
@click.option("--high", help="The band's highest value that is met (with --better band).")
@click.option("--tolerance", help="How far short of target is still near, in the unit (default 0).")
@click.option("--over", help="How far better than target is still met; more is over (default: no limit).")
@click.option("--source", help="Where the value comes from, e.g. \"provider quarterly return\".")
@contract_option
def kpi_add(key: str, kpi_id: str, **given: Any) -> None:
    """Add a SMART indicator to a project's contract; its target holds from the start until changed with kpi set.

    \b
    Example:
      cycle kpi add camhs rtt-4wk --title "Referral to treatment within 4 weeks" --unit % \\
        --target 92 --better higher --tolerance 5 --over 10 --source "provider quarterly return"
    """
    from cycle.performance import indicators

    kpi_key = kpi_id
    added = indicators.add(ready_store(), key, kpi_key, actor=actor(), **given)
    click.echo(f"Added indicator {added.key} to {key}'s contract{_ref(added.contract)}: "
               f"{added.rule.describe(given.get('unit'))}.")


def _ref(ref: str | None) -> str:
    return f" {ref}" if ref else ""


@kpi.command("set")
@json_write
@click.argument("key")
@click.argument("kpi_id", metavar="ID")
@click.option("--from", "from_quarter", required=True, type=QUARTER,
              help="The first quarter the new terms judge, e.g. 2027-Q1; earlier quarters keep theirs.")
@click.option("--target", help="The new target (--better higher or lower).")
@click.option("--low", help="The band's new low (--better band).")
@click.option("--high", help="The band's new high (--better band).")
@click.option("--tolerance", help="The new tolerance, in the unit.")
@click.option("--over", help="The new over-performance margin, in the unit.")
@contract_option
def kpi_set(key: str, kpi_id: str, **given: Any) -> None:
    """Change an indicator's target, band, tolerance or margin from a quarter on (the history is kept).

    \b
    Example:
      cycle kpi set camhs rtt-4wk --from 2027-Q1 --target 95
    """
    from cycle.performance import indicators

    changed = indicators.set_target(ready_store(), key, kpi_id, actor=actor(), **given)
    was = f" (was {changed.before.describe()})" if changed.before else ""
    until = ""
    if changed.until is not None:
        then = changed.then.describe() if changed.then else "terms that cannot be read"
        until = f" It holds until {changed.until}, from which the change already set holds: {then}."
    click.echo(f"Indicator {changed.key} of {key} from {changed.from_quarter}: {changed.rule.describe()}{was}.{until}")


@kpi.command("list")
@click.argument("key", required=False)
@as_of_option
@json_option
@csv_option
def kpi_list(key: str | None, as_of: str | None, as_json: bool, as_csv: bool) -> None:
    """List the indicators (of one project), each with the target in force this quarter; then each contract let
    under the Procurement Act 2023 with fewer than 3 KPIs (s.52) or an assessment due (s.71), on stderr with --json
    or --csv (with --json, also in each of its indicators' flags).

    \b
    Example:
      cycle kpi list camhs
    """
    from cycle.performance import indicators, pa2023

    from . import output

    one_format(as_json, as_csv)
    day = as_of_or_today(as_of)
    found = indicators.listing(ready_store(), key, day)
    flagged = pa2023.flagged(ready_store(), key, day)
    if as_json:
        flags = {st.contract.id: list(st.flags) for st in flagged}
        emit_each({**k.as_dict(), "flags": flags.get(k.contract_id, [])} for k in found)
    elif as_csv:
        emit_csv(indicators.CSV_HEADER, ([k.as_dict()[h] for h in indicators.CSV_HEADER] for k in found))
    else:
        width = max((len(k.project) for k in found), default=0)
        echo_each((output.safe(f"{k.project:<{width}}  {k.key:<12} {k.title} ({_terms(k)})"
                               + (f" [contract {k.contract}]" if k.contract else "")) for k in found),
                  empty="No indicators. Add one with: cycle kpi add KEY ID --title TEXT --target N --better higher")
    for st in flagged:
        for flag in st.flags:
            click.echo(output.safe(f"{st.holder} {st.contract.ref or '(no reference)'}: {flag}"),
                       err=as_json or as_csv)


def _terms(k: Any) -> str:
    return str(k.rule.describe(k.unit)) if k.rule else "its target cannot be read: see cycle audit verify"


@kpi.command("assess")
@json_write
@click.argument("key")
@click.option("--ref", "--contract", "contract", metavar="REF",
              help="The contract's reference, when the project holds several contracts.")
@click.option("--rating", required=True, metavar="|".join(("good", "approaching-target", "requires-improvement",
                                                          "inadequate", "other")),
              help="The rating, as the Procurement Regulations 2024 reg 39(5) word them.")
@click.option("--period", required=True, metavar="FROM..TO",
              help="The period assessed, e.g. 2026-04-01..2027-03-31; it must have ended.")
@click.option("--note", help="A note, e.g. where the assessment is published.")
def kpi_assess(key: str, contract: str | None, rating: str, period: str, note: str | None) -> None:
    """Record an assessment of a contract's performance against its KPIs (Procurement Act 2023 s.71(2): at least
    once in every 12 months of its life, and on termination).

    \b
    Example:
      cycle kpi assess camhs --rating good --period 2026-04-01..2027-03-31 --note "published 2027-04-20"
    """
    from cycle.performance import pa2023

    done = pa2023.assess(ready_store(), key, rating=rating, period=period, note=note, contract=contract,
                         actor=actor())
    nxt = f" The next is due by {done.next_due}." if done.next_due else ""
    click.echo(f"Recorded the assessment of {key}'s contract{_ref(done.contract)} for {done.period_from} to "
               f"{done.period_to}: {done.rating}.{nxt}")


@kpi.command("record")
@json_write
@click.argument("key")
@click.argument("kpi_id", metavar="ID")
@click.option("--quarter", required=True, type=QUARTER, help="The financial quarter, e.g. 2026-Q3.")
@click.option("--value", required=True, help="The quarter's actual, in the indicator's unit, e.g. 87.5.")
@click.option("--note", help="A note on the value (kept with it).")
@click.option("--replace", is_flag=True, help="Replace a different value already recorded (audited with the old one).")
@click.option("--back-fill", "back_fill", is_flag=True,
              help="Record a quarter before the indicator was added, on a contract with no start date (refused "
                   "otherwise, as a mistyped quarter: every quarter after it would be owed).")
@contract_option
def kpi_record(key: str, kpi_id: str, quarter: str, value: str, note: str | None, replace: bool, back_fill: bool,
               contract: str | None) -> None:
    """Record one quarter's value of an indicator.

    \b
    Example:
      cycle kpi record camhs rtt-4wk --quarter 2026-Q3 --value 87.5
    """
    from cycle.performance import indicators

    r = indicators.record(ready_store(), key, kpi_id, quarter=quarter, value=value, note=note, replace=replace,
                          contract=contract, actor=actor(), back_fill=back_fill)
    if r.outcome == "unchanged":
        click.echo(f"{r.key} of {key} for {r.quarter} is already recorded as {r.value}; nothing changed.")
    elif r.outcome == "replaced":
        click.echo(f"Replaced {r.key} of {key} for {r.quarter}: {r.value} (was {r.was}).")
    else:
        click.echo(f"Recorded {r.key} of {key} for {r.quarter}: {r.value}.")


@kpi.command("import")
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--dry-run", is_flag=True, help="Check the file and say what it would do; write nothing.")
@click.option("--replace", is_flag=True, help="Replace values that differ from those recorded (audited).")
@click.option("--back-fill", "back_fill", is_flag=True,
              help="Accept quarters before an indicator was added, on a contract with no start date (refused "
                   "otherwise, as a mistyped quarter: every quarter after it would be owed).")
@json_option
def kpi_import(file: str, dry_run: bool, replace: bool, back_fill: bool, as_json: bool) -> None:
    """Import a provider's quarterly return: a CSV of project,kpi,quarter,value (and note, contract), all rows or
    none (docs/performance.md).

    \b
    Example:
      cycle kpi import returns-2026-q3.csv --dry-run
    """
    from cycle.performance import returns

    done = returns.import_file(ready_store(), file, replace=replace, dry_run=dry_run, actor=actor(),
                               back_fill=back_fill)
    if as_json:
        emit(done.as_dict())
        return
    verb = "Would import" if dry_run else "Imported"
    click.echo(f"{verb} {file}: {done.rows} rows, {done.recorded} new, {done.replaced} replaced, "
               f"{done.unchanged} already recorded.")


@kpi.command("show")
@click.argument("key")
@click.option("--quarters", "count", type=QUARTERS, default=8, show_default=True,
              help="How many quarters, up to the current one (or --last).")
@click.option("--last", type=QUARTER, help="The last quarter to show (default: the one today is in).")
@click.option("--kpi", "kpi_key", metavar="ID", help="Only this indicator.")
@contract_option
@as_of_option
@json_option
def kpi_show(key: str, count: int, last: str | None, kpi_key: str | None, contract: str | None,
             as_of: str | None, as_json: bool) -> None:
    """Each indicator of a project per quarter: value, target then, status and trend.

    \b
    Example:
      cycle kpi show camhs --quarters 4
    """
    from cycle.calendar.quarters import parse_quarter
    from cycle.performance import indicators

    from . import output

    on = as_of_or_today(as_of)
    found = indicators.show(ready_store(), key, as_of=on, last=parse_quarter(last) if last else None, count=count,
                            contract=contract, kpi_key=kpi_key)
    if as_json:
        emit_each(v.as_dict() for v in found)
        return
    if not found:
        click.echo(f"{key} has no indicators. Add one with: cycle kpi add {key} ID --title TEXT --target N "
                   f"--better higher")
        return
    out = []
    for v in found:
        out.append(f"{v.key}  {v.title}" + (f"  [contract {v.contract}]" if v.contract else ""))
        for q in v.quarters:
            target = q.rule.describe(v.unit).split(",")[0] if q.rule else "-"
            out.append(f"  {q.quarter}  {q.value or '-':>10}  {q.status or '-':<9}  {q.trend or '':<6}  {target}")
    click.echo(output.lines_of(out))


@click.command("performance", context_settings=CONTEXT)
@click.option("--quarter", required=True, type=QUARTER, help="The financial quarter, e.g. 2026-Q3.")
@as_of_option
@json_option
@csv_option
def performance(quarter: str, as_of: str | None, as_json: bool, as_csv: bool) -> None:
    """Every live contract's indicators in a quarter: value, target, status and trend.

    \b
    Example:
      cycle performance --quarter 2026-Q3
    """
    from cycle.calendar.quarters import parse_quarter
    from cycle.performance import portfolio

    from . import output

    one_format(as_json, as_csv)
    q = parse_quarter(quarter)
    on = as_of_or_today(as_of)
    with portfolio.board(ready_store(), q, on) as lines:
        if as_json:
            emit_each(line.as_dict() for line in lines)
        elif as_csv:
            emit_csv(portfolio.HEADER, (line.record() for line in lines))
        else:
            echo_each((output.safe(text) for text in _board(lines, q, on)),
                      empty=f"No live contract has indicators in {q}. Add one with: cycle kpi add KEY ID ...")


def _board(lines: Iterator[Any], q: Any, on: Any) -> Iterator[str]:
    """`cycle performance` as a table, a line at a time as read: a heading, an indicator a line (the trend as an arrow
    and its word), then how many of each status."""
    from collections import Counter

    from cycle.performance.chart import target_text, trend_shown, value_text
    from cycle.performance.portfolio import COUNTED

    counts: Counter[str] = Counter()
    for line in lines:
        if not counts:
            yield f"Contract performance, {q} (returns judged as of {on})"
            yield (f"{'project':<16} {'contract':<10} {'indicator':<14} {'target':<18} {'value':>12}  {'status':<9}  "
                   f"{'trend':<8}  title")
        d = line.as_dict()
        counts[line.status or "not judged"] += 1
        yield (f"{line.project:<16} {line.contract or '-':<10} {line.kpi:<14} "
               f"{target_text(line.better, d['target'], d['low'], d['high'], line.unit):<18} "
               f"{value_text(line.value, line.unit):>12}  {line.status or 'not judged':<9}  "
               f"{trend_shown(line.trend):<8}  {line.title}")
    if counts:
        total = sum(counts.values())
        each = ", ".join(f"{counts[s]} {s}" for s in (*COUNTED, "not judged") if counts[s])
        yield f"{total} indicator{'' if total == 1 else 's'}: {each}"
