"""`cycle export`: cycle's records as files for other tools (the audit log for an auditor's spreadsheet)."""

from __future__ import annotations

import click

from ._common import CONTEXT, actor, file_out_option, ready_store


@click.group(context_settings=CONTEXT)
def export() -> None:
    """Cycle's records as files for other tools: the audit log for an auditor."""


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
