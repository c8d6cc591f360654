"""What every command group shares: the options spelled once, the store a command opens, who is acting,
printing JSON, writing --out.

Only click is imported here at module level, so that `cycle --help` stays cheap: the library loads inside
the commands that use it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from cycle.inputs import json_safe

if TYPE_CHECKING:
    from cycle.db.store import Store


class Checked(click.ParamType[Any]):
    """A parameter checked by one of the library's rules (cycle.inputs) as it is parsed: a refusal is the library's
    own BadInput, so the line is the same whichever way the value came in (exit 2)."""

    def __init__(self, name: str, check: Callable[[str, str], Any]):
        self.name = name
        self.check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        what = (param.opts[0] if isinstance(param, click.Option) else param.human_readable_name) if param else "value"
        return self.check(value, what)


def _date(value: Any, what: str) -> str:
    from cycle.inputs import day

    return day(value, what).isoformat()


def _period(value: Any, what: str) -> str:
    from cycle.calendar.dates import parse_period

    parse_period(value, what)
    return str(value).strip()


def _quarter(value: Any, what: str) -> str:
    from cycle.calendar.quarters import parse_quarter

    return str(parse_quarter(value, what))


def _money(value: Any, what: str) -> str:
    from cycle.inputs import money

    return money(value, what)


def _whole(low: int, high: int | None, unit: str) -> Callable[[Any, str], int]:
    def check(value: Any, what: str) -> int:
        from cycle.inputs import MAX_ID, whole

        return whole(value, what, low, MAX_ID if high is None else high, unit)
    return check


def _id(value: Any, what: str) -> int:
    from cycle.inputs import row_id

    return row_id(value, what)


#: Every date option and argument: YYYY-MM-DD from 1990-01-01 to 2100-12-31, shown as DATE in --help.
DATE = Checked("date", _date)
#: A period such as '6 months', '90 days', '60 working days', 26w, 1y: at most 100 years.
PERIOD = Checked("period", _period)
#: A financial quarter, YEAR-QN, from 1989-Q4 (January-March 1990) to 2100-Q3.
QUARTER = Checked("year-qn", _quarter)
#: An amount in pounds, at most £1,000,000,000,000.
MONEY = Checked("amount", _money)
#: A row id (a milestone, an outbox row): 1 to 2147483647.
ID = Checked("id", _id)
#: A version number, 1 or more (within a database integer).
VERSION = Checked("n", _whole(1, None, "(a version number)"))
#: Minutes between sends: 1 minute to a day.
MINUTES = Checked("min", _whole(1, 1440, "minutes"))

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
csv_option = click.option("--csv", "as_csv", is_flag=True,
                          help="Print CSV for a spreadsheet instead of text (docs/csv.md).")
as_of_option = click.option("--as-of", type=DATE, help="Treat DATE (YYYY-MM-DD) as today.")
london_as_of_option = click.option("--as-of", type=DATE, help="Treat DATE (YYYY-MM-DD) as today (London date).")
to_option = click.option("--to", metavar="STAGE|GATE",
                         help="The stage to go to when there are several ways out, or a gate by id (an explicit "
                              "gate is taken only when named).")
expect_version_option = click.option("--expect-version", type=Checked("n", _whole(0, None, "(a version number)")),
                                     metavar="N",
                                     help="Refuse (exit 4) unless the project is still at version N (from project "
                                          "show).")


def complete_keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of a project KEY: the keys starting with what is typed (docs/completion.md)."""
    from click.shell_completion import CompletionItem

    try:
        from cycle.db.store import open_store
        from cycle.projects.views import keys

        store = open_store()
        try:
            return [CompletionItem(k) for k in keys(store, incomplete)]
        finally:
            store.dispose()
    except Exception:  # a shell's Tab must never print an error or a traceback: offer nothing instead
        return []


def completing_keys(group: click.Group) -> None:
    """Give every existing-project KEY argument of `group`'s commands completion of project keys (not `project
    new`, whose KEY is a new one)."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            completing_keys(command)
            continue
        for param in command.params:
            if isinstance(param, click.Argument) and param.name in ("key", "project_key") and name != "new":
                param._custom_shell_complete = complete_keys


def json_write(command: Callable[..., Any]) -> Callable[..., Any]:
    """--json for a command that writes: instead of its text, print what it wrote, as the audit entries it
    appended (each with the rows it wrote, column by column, in `payload.rows`; docs/json.md)."""

    @functools.wraps(command)
    def with_json(*args: Any, as_json: bool, **kwargs: Any) -> Any:
        if not as_json:
            return command(*args, **kwargs)
        import contextlib
        import io

        from cycle.audit import chain

        from . import output

        store = ready_store()
        before, _ = chain.current_head(store)
        with chain.noting() as noted, contextlib.redirect_stdout(io.StringIO()):  # the text it would have printed
            result = command(*args, **kwargs)
        mine = {(n.seq, n.hash) for n in noted}  # not another process's entries, even under the same name
        with contextlib.closing(chain.stream_log(store, after=before)) as entries:
            written = [output.entry_dict(e) for e in entries if (e.seq, e.hash) in mine]
        emit({"project": next((e["project"] for e in written if e["project"]), None), "entries": written})
        return result

    # Listed last in --help, after the command's own options (click lists them in reverse order of this list).
    with_json.__click_params__ = [  # type: ignore[attr-defined]
        click.Option(["--json", "as_json"], is_flag=True,
                     help="Print what was written (the audit entries, with the rows) as JSON instead of text."),
        *getattr(command, "__click_params__", [])]
    return with_json


def emit(data: Any) -> None:
    """Print `data` as a command's --json output."""
    click.echo(json_safe(json.dumps(data, indent=2, ensure_ascii=False)))


def emit_each(items: Iterable[Any]) -> None:
    """Print `items` as a --json list, one at a time as they come (what emit(list(items)) prints, without
    holding them all)."""
    first = True
    pieces = []
    for item in items:
        shown = json_safe(json.dumps(item, indent=2, ensure_ascii=False))  # JSON has no raw newline inside a string
        pieces.append(("[\n  " if first else ",\n  ") + shown.replace("\n", "\n  "))
        first = False
        if len(pieces) == _BATCH:
            click.echo("".join(pieces), nl=False)
            pieces.clear()
    pieces.append("[]\n" if first else "\n]\n")
    click.echo("".join(pieces), nl=False)


def one_format(as_json: bool, as_csv: bool) -> None:
    """--json and --csv are one choice, not two."""
    if as_json and as_csv:
        from cycle.errors import BadInput

        raise BadInput("--json and --csv ask for two formats at once: choose one")


def emit_csv(header: list[str], records: Iterable[Any]) -> None:
    """Print `records` (each a sequence of values, in `header`'s order) as CSV (cycle.csvout), as they come."""
    from cycle import csvout

    for piece in csvout.lines(header, records):
        click.echo(piece, nl=False)


def echo_each(lines: Iterable[str], empty: str | None = None) -> None:
    """Print `lines` as they come, a batch at a time; `empty` when there are none."""
    batch: list[str] = []
    seen = False
    for line in lines:
        batch.append(line)
        if len(batch) == _BATCH:
            click.echo("\n".join(batch))
            batch.clear()
            seen = True
    if batch:
        click.echo("\n".join(batch))
    elif not seen and empty is not None:
        click.echo(empty)


_BATCH = 200  # lines or items written at once: few writes, and the first batch comes at once


def any_store() -> Store:
    """This command's store, opened once and closed when the command ends; the database may not exist yet."""
    ctx = click.get_current_context()
    store: Store | None = ctx.meta.get("cycle.store")
    if store is None:
        from cycle.db.store import open_store

        store = ctx.meta["cycle.store"] = open_store()
        ctx.call_on_close(store.dispose)
    return store


def ready_store() -> Store:
    """This command's store, once its database is set up at the schema this cycle needs (else exit 2 saying so).
    Checked once a command: --json (json_write) and the command itself both ask."""
    ctx = click.get_current_context()
    if not ctx.meta.get("cycle.ready"):
        from cycle.db import schema

        schema.require(any_store())
        ctx.meta["cycle.ready"] = True
    return any_store()


def actor() -> str:
    """$CYCLE_USER (or the login name); on PostgreSQL the database's login, whatever $CYCLE_USER says."""
    return any_store().actor()


def as_of_date(value: str | None) -> date | None:
    """--as-of as a date, or None when not given."""
    from cycle.calendar.dates import parse_date

    return parse_date(value, "--as-of") if value else None


def as_of_or_today(value: str | None) -> date:
    """--as-of as a date, or today in London when not given."""
    from cycle.calendar import clock

    return as_of_date(value) or clock.london_today()


def _out_checked(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a bad --out before any work is done, so nothing is written (cycle.outfile says what is bad)."""
    if value is not None:
        from cycle import outfile

        outfile.check(value, bool(ctx.params.get("force")))
    return value


def _file_checked(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """_out_checked, for a command that writes only to a file."""
    from cycle import outfile

    outfile.check(value, bool(ctx.params.get("force")), printable=False)
    return value


def out_option(f: Any, required: bool = False) -> Any:
    """--out FILE, and --force to replace one that exists (--force is read first, whatever the order given);
    `required` for a command that writes only to a file."""
    f = click.option("--out", metavar="FILE", required=required, callback=_file_checked if required else _out_checked,
                     help="Write to FILE (its folder must exist), never cycle's database or its own files.")(f)
    return click.option("--force", is_flag=True, is_eager=True,
                        help="With --out: replace FILE if it exists.")(f)


def file_out_option(f: Any) -> Any:
    """out_option, required: for a command that writes only to a file."""
    return out_option(f, required=True)


def write_out(text: str | Iterable[str], out: str | None, what: str, force: bool = False) -> None:
    """Print `text` (a string or its pieces), or with --out write it to that file, whole or not at all, and say so."""
    if out is None:
        for piece in [text] if isinstance(text, str) else text:
            click.echo(piece, nl=False)
        return
    from cycle import outfile

    outfile.write(out, text, force)
    click.echo(f"Wrote the {what} to {out}")
