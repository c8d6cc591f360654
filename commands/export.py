"""`cycle export`: cycle's records as files for other tools (the audit log for an auditor's spreadsheet)."""

from __future__ import annotations

import click

from ._common import CONTEXT, QUARTER, actor, file_out_option, ready_store


@click.group(context_settings=CONTEXT)
def export() -> None:
    """Cycle's records as files for other tools: the audit log for an auditor, the Transparency Code's data."""


@export.command("audit")
@click.argument("project_key", required=False)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), required=True,
              help="csv for a spreadsheet (docs/csv.md), jsonl for tools: one JSON object a line.")
@file_out_option
def export_audit(project_key: str | None, fmt: str, out: str, force: bool) -> None:
    """Write the audit log (all, or one project's entries) to a file, its first line naming the chain head it
    was taken at; the export is itself recorded in the log, with the file's SHA-256.

    \b
    Example:
      cycle export audit --format csv --out audit.csv
      cycle export audit camhs --format jsonl --out camhs-audit.jsonl
    """
    from cycle.audit import export as exporting

    from . import output

    done = exporting.export_log(ready_store(), out, fmt, actor=actor(), project=project_key, force=force,
                                as_dict=output.entry_dict)
    click.echo(output.safe(
        f"Exported {output.counted(done.entries, 'audit entry', 'audit entries')} (chain head {done.head_seq}:"
        f"{done.head_hash}) to {out}, SHA-256 {done.sha256}; recorded as audit entry {done.seq}."))


@export.command("transparency")
@click.option("--quarter", required=True, type=QUARTER,
              help="The financial quarter, e.g. 2026-Q3 (October to December 2026).")
@file_out_option
def export_transparency(quarter: str, out: str, force: bool) -> None:
    """Write the Local Government Transparency Code 2015's contracts data for a quarter: every contract over
    £5,000 in force in it, with the Code's details in its order (docs/import.md). The export is recorded in the
    audit log, with the file's SHA-256.

    \b
    Example:
      cycle export transparency --quarter 2026-Q3 --out contracts-2026-Q3.csv
    """
    from cycle.interchange import transparency

    from . import output

    done = transparency.export(ready_store(), quarter, out, actor=actor(), force=force)
    click.echo(output.safe(
        f"Exported {output.counted(done.contracts, 'contract')} over £5,000 in force in {done.quarter} to {out}, "
        f"SHA-256 {done.sha256}; recorded as audit entry {done.seq}."))
