"""`cycle audit`: read and verify the hash-chained audit log."""

from __future__ import annotations

import sys
from contextlib import closing

import click

from ._common import CONTEXT, any_store, echo_each, emit, emit_each, json_option, ready_store


@click.group(context_settings=CONTEXT)
def audit() -> None:
    """Read and verify the hash-chained audit log."""


@audit.command("log")
@click.argument("project_key", required=False)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the newest N entries (oldest first).")
@json_option
def audit_log(project_key: str | None, limit: int | None, as_json: bool) -> None:
    """List audit entries, all or one project's, oldest first.

    \b
    Example:
      cycle audit log camhs
      cycle audit log --limit 20      # the 20 newest entries
    """
    from cycle.audit import chain

    from . import output

    with closing(chain.stream_log(ready_store(), project_key, limit)) as entries:
        if as_json:
            emit_each(map(output.entry_dict, entries))
        else:
            echo_each(map(output.audit_line, entries), empty=output.NO_AUDIT_ENTRIES)


@audit.command("verify")
@click.option("--checkpoint", metavar="SEQ:HASH", help="A head printed earlier by `cycle audit checkpoint`.")
@click.option("--chain-only", is_flag=True,
              help="Walk the hash chain only; skip comparing the records gates read with it.")
@json_option
def audit_verify(checkpoint: str | None, chain_only: bool, as_json: bool) -> None:
    """Walk the hash chain, then compare the records gates read with it; exit 1 naming what is wrong.

    The records are every row of every table a gate, reminder or report reads (projects, evidence,
    decisions, waivers, contracts, people, the outbox ...): each must match, column by column, the
    latest image of it the log holds (docs/records.md).

    \b
    Example:
      cycle audit verify
      cycle audit verify --checkpoint 42:3f1c...
    """
    from cycle.audit.verify import damaged, verify_all

    from . import output
    from .progress import progress

    try:
        with progress() as told:
            result = verify_all(ready_store(), checkpoint, chain_only, told)
    except Exception as exc:  # a database error of any layer: only a damaged file is a failed verification
        reason = damaged(exc)
        if reason is None:
            raise
        click.echo(f"Audit FAILED: the database at {any_store().describe()} is damaged ({reason}), so nothing in it "
                   f"can be vouched for. Restore it from a backup and verify again.", err=True)
        sys.exit(1)
    chain, records = result.chain, result.records
    if as_json:
        emit(result.as_dict())
    elif chain.ok:
        against = f", matches checkpoint {chain.checkpoint}" if chain.checkpoint else ""
        click.echo(f"Audit chain verified: {output.counted(chain.entries, 'entry', 'entries')}, head "
                   f"{chain.head_seq}:{chain.head_hash}{against}.")
        if records is not None:
            click.echo(output.records(records), err=not records.ok)
    elif chain.untrusted:
        click.echo(f"Audit chain FAILED at entry {chain.bad_seq}: {chain.problem}. To find where it was "
                   f"rewritten, check against an earlier checkpoint: cycle audit verify --checkpoint SEQ:HASH",
                   err=True)
    else:
        click.echo(f"Audit chain FAILED at entry {chain.bad_seq}: {chain.problem}. "
                   f"{output.counted(chain.entries, 'entry', 'entries')} before it verified.", err=True)
    sys.exit(0 if result.ok else 1)


@audit.command("checkpoint")
@json_option
def audit_checkpoint(as_json: bool) -> None:
    """Print the chain's head as SEQ:HASH, to keep outside the database.

    \b
    Example:
      cycle audit checkpoint >> ~/cycle-checkpoints.txt
    """
    from cycle.audit import chain

    seq, digest = chain.current_head(ready_store())
    emit({"seq": seq, "hash": digest}) if as_json else click.echo(f"{seq}:{digest}")
