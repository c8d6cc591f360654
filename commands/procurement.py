"""`cycle procurement`: a project's procurement under the Provider Selection Regime or the Procurement Act 2023,
its steps and the statutory clocks between them (docs/procurement.md)."""

from __future__ import annotations

import click

from ._common import CONTEXT, emit, json_option


@click.group(context_settings=CONTEXT)
def procurement() -> None:
    """Procurement under the PSR or the Procurement Act 2023: routes, steps, statutory clocks."""


@procurement.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def procurement_check(file: str, as_json: bool) -> None:
    """Validate a regimes file (the format of cycle's own regimes.toml; exit 2 naming the bad entry).

    \b
    Example:
      cycle procurement check my-regimes.toml
    """
    from pathlib import Path

    from cycle.procurement import regimes

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
