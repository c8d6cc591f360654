"""`cycle site build`: the governance site, a folder of plain HTML pages (data from cycle.site, pages from
cycle.reports.site)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._common import CONTEXT, ready_store
from .progress import progress

if TYPE_CHECKING:
    from cycle.db.store import Store


@click.group(context_settings=CONTEXT)
def site() -> None:
    """The governance site: the whole record as static HTML pages to browse without cycle."""


def build_site(store: Store, out: str, force: bool, option: str = "--out") -> tuple[Path, dict[str, Any]]:
    """Build the site into `out` (checked first, swapped in whole; `option` names it in a refusal); the folder and
    the check its pages show. The scheduler calls this after each tick."""
    from cycle import site as data
    from cycle.reports.site import pages

    data.check(out, force, option)  # refused before anything is read
    with progress() as told, data.record(store, told) as record:
        written = data.write(out, pages(record), force, option)
    return written, record.chain


@site.command("build")
@click.option("--out", metavar="DIR", required=True,
              help="The folder to build the site in: new, empty, or a site built before (with --force).")
@click.option("--force", is_flag=True, help="Replace the site already in DIR.")
def site_build(out: str, force: bool) -> None:
    """Build the governance site: a portfolio page, a page per project (gates, criteria, evidence, decisions and
    their authority, waivers, refusals, contracts, milestones, procurement, audit trail) and per governance body,
    each with the chain's check and the latest signed checkpoint. Written beside DIR and swapped in whole; exit 1,
    after writing it, when the check fails.

    \b
    Example:
      cycle site build --out /srv/governance-site --force
    """
    from .report import _verification_failed

    written, verified = build_site(ready_store(), out, force)
    click.echo(f"Wrote the governance site to {written}; open {written / 'index.html'}")
    _verification_failed(verified)
