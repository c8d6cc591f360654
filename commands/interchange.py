"""`cycle import register`: a council's contract register (CSV) through a mapping (TOML); cli.py puts it in the
`import` group (commands/imports.py)."""

from __future__ import annotations

from typing import Any

import click

from ._common import CONTEXT, actor, emit, ready_store


@click.command("register", context_settings=CONTEXT)
@click.argument("file")
@click.option("--map", "map_name", required=True, metavar="MAP.toml",
              help="The mapping: which column holds each field, how dates and money are written, and the project "
                   "a row belongs to (docs/import.md); or the name of one cycle ships: lgtc-2015, norfolk, birmingham, "
                   "nhsbsa.")
@click.option("--dry-run", is_flag=True, help="Say what each row would create or change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome (and with --dry-run each row) as JSON.")
def import_register(file: str, map_name: str, dry_run: bool, as_json: bool) -> None:
    """Import a contract register (CSV): every row is checked first, then all are written in one transaction,
    or none. A row whose project does not exist creates it; a changed row updates its contract (audited, old
    and new values); a row that matches changes nothing.

    \b
    Example:
      cycle import register contracts.csv --map council.toml --dry-run
      cycle import register contracts.csv --map council.toml
    """
    from cycle.interchange import register

    from . import output

    rows: list[dict[str, Any]] = []

    def each(planned: register.Planned) -> None:
        if as_json:
            if dry_run:
                rows.append({"line": planned.line, "what": planned.what, "project": planned.key,
                             "ref": planned.ref, "changes": planned.changes, "stage": planned.stage})
        elif dry_run:
            click.echo(output.planned_row(planned))

    done = register.import_register(ready_store(), file, map_name, actor=actor(), dry_run=dry_run, each=each)
    if as_json:
        emit({**done.as_dict(), **({"each": rows} if dry_run else {})})
    else:
        click.echo(output.imported(done))
