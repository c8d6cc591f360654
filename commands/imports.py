"""`cycle import`: contracts from other systems' files (an OCDS release or record package, a contract register)."""

from __future__ import annotations

import click

from ._common import CONTEXT


@click.group("import", context_settings=CONTEXT)
def import_() -> None:
    """Contracts from other systems' files: OCDS release or record packages, a contract register (CSV)."""
