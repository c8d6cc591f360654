"""`cycle demo`: the scripted walk round the cycle (cycle.demo) on a throwaway database."""

from __future__ import annotations

import sys

import click

from ._common import CONTEXT


@click.command(context_settings=CONTEXT)
@click.option("--home", type=click.Path(file_okay=False), help="Keep the demo's data here (default: a temp folder).")
def demo(home: str | None) -> None:
    """Walk a project round the cycle on a throwaway database and verify the audit chain.

    \b
    Example:
      cycle demo
      cycle demo --home /tmp/cycle-demo
    """
    from cycle import demo as script

    root = click.get_current_context().find_root().command  # the `cycle` group the demo's commands go to
    ok = script.run(root, home, click.echo)
    sys.exit(0 if ok else 1)
