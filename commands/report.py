"""`cycle report`: the gate-audit and quarterly reports (data from cycle.reporting, rendered by cycle.reports)."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import TYPE_CHECKING, Any

import click

from ._common import CONTEXT, QUARTER, out_option, ready_store, write_out
from .pipe import watching
from .progress import clear_progress, progress

if TYPE_CHECKING:
    from cycle.db.store import Store


@click.group(context_settings=CONTEXT)
def report() -> None:
    """Reports for governance leads and boards: gate audit, quarterly portfolio."""


def _verification_failed(verified: dict[str, Any]) -> None:
    """After a report is written: exit 1 when its verification failed, as `audit verify` does."""
    if verified["ok"]:
        return
    if not verified["chain_ok"]:
        click.echo(f"Audit chain FAILED at entry {verified['bad_seq']}: {verified['problem']}. The report says so; "
                   f"see: cycle audit verify", err=True)
    else:
        n = len(verified["records"]["discrepancies"])
        click.echo(f"Records FAILED: {n} {'does' if n == 1 else 'do'} not match the audit log. The report says so; "
                   f"see: cycle audit verify", err=True)
    sys.exit(1)


def _deliver(store: Store, report: dict[str, Any], fmt: str, out: str | None, force: bool, what: str,
             titled: bool) -> None:
    """Print a report or write it to --out, in `fmt` (an HTML one with its workflows drawn; Markdown without its
    title when `titled`: printed already); then exit 1 if its verification failed."""
    from cycle import reporting as data
    from cycle.reports.render import render

    from . import output

    report = output.report_json(report)  # generated_on beside generated (docs/json.md)
    drawn = data.workflows_in(store, report) if fmt == "html" else None
    write_out(render(report, fmt, drawn, titled=titled), out, what, force)
    _verification_failed(report["chain"])


def _watching(out: str | None) -> AbstractContextManager[None]:
    """Stop the report when the reader of stdout goes (commands/pipe.py), wiping its progress line first; never
    with --out, whose file write must not be killed halfway. Entered once every input is checked: a bad one is
    its own error line and exit 2 whatever became of stdout's reader."""
    return watching(before_exit=clear_progress) if out is None else nullcontext()


def _title(heading: dict[str, Any]) -> None:
    """Print a Markdown report's title at once (cycle.headings checked its input), before the long check of the
    record and the rest of the report, which follows as it is made (docs/reports.md)."""
    from cycle.reports.text import title

    click.echo(title(heading), nl=False)  # echo flushes: the line is out before the check begins


format_option = click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default="md",
                             show_default=True, help="Output format.")
checkpoint_option = click.option("--checkpoint", metavar="SEQ:HASH",
                                 help="Check the chain against a head kept outside the database (from "
                                      "`cycle audit checkpoint`; an empty one is refused).")


@report.command("gate-audit")
@click.argument("key", required=False)
@format_option
@out_option
@checkpoint_option
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def report_gate_audit(key: str | None, fmt: str, out: str | None, force: bool, checkpoint: str | None,
                      as_json: bool) -> None:
    """Every gate passed and every decision and request, with criteria, evidence, waivers and refusals; at the
    top, the check `cycle audit verify` runs (exit 1, after writing the report, when it fails).

    \b
    Example:
      cycle report gate-audit camhs --format html --out camhs-gates.html --checkpoint 42:3f1c...
    """
    from cycle import headings

    store = ready_store()
    fmt = "json" if as_json else fmt
    titled = fmt == "md" and out is None
    heading = headings.gate_audit(store, key, checkpoint)  # every input, before a line is printed or watched
    with ExitStack() as reading, _watching(out):
        if titled:
            _title(heading)
        from cycle import reporting as data

        with progress() as told:
            report = reading.enter_context(data.gate_audit(store, key, checkpoint, told, checked=True))
        _deliver(store, report, fmt, out, force, "gate-audit report", titled)


@report.command("quarterly")
@click.option("--quarter", required=True, type=QUARTER, help="Financial quarter, e.g. 2026-Q3 (October-December 2026).")
@format_option
@out_option
@checkpoint_option
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def report_quarterly(quarter: str, fmt: str, out: str | None, force: bool, checkpoint: str | None,
                     as_json: bool) -> None:
    """The portfolio in a quarter: stages, moves, decisions, waivers, reviews, deadlines, slipped milestones;
    at the top, the check `cycle audit verify` runs (exit 1, after writing the report, when it fails).

    \b
    Example:
      cycle report quarterly --quarter 2026-Q3 --format html --out board-2026-Q3.html
    """
    from cycle import headings

    store = ready_store()
    fmt = "json" if as_json else fmt
    titled = fmt == "md" and out is None
    heading = headings.quarterly(quarter, checkpoint)  # every input, before a line is printed or watched
    with ExitStack() as reading, _watching(out):
        if titled:
            _title(heading)
        from cycle import reporting as data

        with progress() as told:
            report = reading.enter_context(data.quarterly(store, quarter, checkpoint=checkpoint, progress=told,
                                                          checked=True))
        _deliver(store, report, fmt, out, force, "quarterly report", titled)
