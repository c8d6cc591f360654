"""`cycle import ocds` and `cycle export ocds`: contracts from and to OCDS 1.1 (docs/ocds.md). Registered on the
`import` and `export` groups by cli.py."""

from __future__ import annotations

import click

from ._common import CONTEXT, actor, emit, file_out_option, ready_store


@click.command("ocds", context_settings=CONTEXT)
@click.argument("file", type=click.Path(dir_okay=True, allow_dash=False))
@click.option("--dry-run", is_flag=True, help="Say what would be created or changed, and write nothing.")
@click.option("--project", "project_key", metavar="KEY",
              help="Put every new contract in this project (created if there is none), instead of the project "
                   "whose key is made from each contract's ocid.")
@click.option("--workflow", default="commissioning", show_default=True,
              help="The workflow of a project the import creates (cycle workflow list).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON (docs/json.md).")
def import_ocds(file: str, dry_run: bool, project_key: str | None, workflow: str, as_json: bool) -> None:
    """Import the contracts of an OCDS 1.1 release or record package (Find a Tender, Contracts Finder): validated
    against the OCDS schema first; matched on ocid and contract id, so importing a file again changes nothing;
    all of it, or nothing.

    \b
    Example:
      cycle import ocds release-package.json --dry-run
      cycle import ocds release-package.json
    """
    from cycle.interchange import ocds

    from . import output

    done = ocds.import_file(ready_store(), file, actor=actor(), project=project_key, workflow=workflow,
                            dry_run=dry_run)
    if as_json:
        emit(done.as_dict())
        return
    for c in done.changes:
        what = {"created": "would create" if dry_run else "created", "updated": "would update" if dry_run else
                "updated", "unchanged": "unchanged"}[c.what]
        where = f"{c.project} (new project)" if c.new_project else c.project
        changed = "; ".join(f"{name} {old or '(none)'} -> {new}" for name, (old, new) in c.changes.items()
                            if c.what == "updated")
        click.echo(output.safe(f"{what:<12} {where}: {c.found.name}" + (f": {changed}" if changed else "")))
    summary = (f"{done.count('created')} to create, {done.count('updated')} to update, {done.count('unchanged')} "
               f"unchanged; dry run, nothing written." if dry_run else
               f"Imported {done.file} (SHA-256 {done.sha256}): {done.count('created')} created, "
               f"{done.count('updated')} updated, {done.count('unchanged')} unchanged.")
    click.echo(output.safe(summary))


@click.command("ocds", context_settings=CONTEXT)
@click.argument("project_key", required=False)
@click.option("--ocid-prefix", metavar="PREFIX",
              help="Your organisation's registered OCID prefix (e.g. ocds-b5fd17), for contracts with no ocid of "
                   "their own: their ocid is PREFIX-KEY-ID.")
@click.option("--publisher", metavar="NAME",
              help="The package's publisher (default: the buyer, when every contract has the same one).")
@file_out_option
def export_ocds(project_key: str | None, ocid_prefix: str | None, publisher: str | None, out: str,
                force: bool) -> None:
    """Write every contract (or one project's) as an OCDS 1.1 release package, one release per contract,
    validated against the OCDS schema before it is written; the export is recorded in the audit log, with the
    file's SHA-256.

    \b
    Example:
      cycle export ocds --out releases.json
      cycle export ocds camhs --ocid-prefix ocds-b5fd17 --out camhs-ocds.json
    """
    from cycle.interchange import ocds

    from . import output

    done = ocds.export_package(ready_store(), out, actor=actor(), project=project_key, force=force,
                               ocid_prefix=ocid_prefix, publisher=publisher)
    click.echo(output.safe(f"Exported {output.counted(done.releases, 'OCDS release', 'OCDS releases')} to {out}, "
                           f"SHA-256 {done.sha256}; recorded as audit entry {done.seq}."))
