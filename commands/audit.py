"""`cycle audit`: read and verify the hash-chained audit log."""

from __future__ import annotations

import os
import sys
from contextlib import closing
from typing import Any

import click

from ._common import (
    CONTEXT,
    actor,
    echo_each,
    emit,
    emit_each,
    json_option,
    out_option,
    ready_store,
    write_out,
)


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
@click.option("--checkpoint", metavar="SEQ:HASH|FILE",
              help="A head printed earlier by `cycle audit checkpoint`, or a signed checkpoint file "
                   "(with --public-key).")
@click.option("--public-key", "public_key", metavar="FILE",
              help="The public key (PEM or base64) a signed --checkpoint FILE must be signed with.")
@click.option("--chain-only", is_flag=True,
              help="Walk the hash chain only; skip comparing the records gates read with it.")
@click.option("--bundle", metavar="DIR",
              help="Check a bundle written by `cycle audit export --bundle` (with --public-key), with no database.")
@json_option
def audit_verify(checkpoint: str | None, public_key: str | None, chain_only: bool, bundle: str | None,
                 as_json: bool) -> None:
    """Walk the hash chain, then compare the records gates read with it; exit 1 naming what is wrong.

    The records are every row of every table a gate, reminder or report reads (projects, evidence,
    decisions, waivers, contracts, people, the outbox ...): each must match, column by column, the
    latest image of it the log holds (docs/records.md).

    --checkpoint takes SEQ:HASH, or the path of a signed checkpoint file (`cycle audit checkpoint --sign`):
    its signature is checked against --public-key first, then the chain must hold its head.

    --bundle checks a bundle instead of the database, on any machine (no database is opened or needed):
    its manifest, the checkpoint's signature against --public-key, the chain up to the signed head, and each
    record against its entry (docs/audit.md says what that proves).

    \b
    Example:
      cycle audit verify
      cycle audit verify --checkpoint 42:3f1c...
      cycle audit verify --checkpoint checkpoint.txt --public-key cycle-signing.pub
      cycle audit verify --bundle audit-2027-03-31 --public-key cycle-signing.pub
    """
    if bundle is not None:
        _verify_bundle(bundle, public_key, checkpoint, chain_only, as_json)
        return
    signed = None
    if checkpoint is not None and _is_file_checkpoint(checkpoint, public_key):
        signed = _signed_checkpoint(checkpoint, public_key, as_json)
        checkpoint = f"{signed.seq}:{signed.hash}"
    elif public_key is not None:
        from cycle.errors import BadInput

        raise BadInput("--public-key goes with a signed checkpoint file: --checkpoint FILE --public-key FILE")
    from cycle.audit.verify import verify_all

    from . import output
    from .progress import progress

    with progress() as told:  # a damaged file is a failed verification: cli.py says so, for every command
        result = verify_all(ready_store(), checkpoint, chain_only, told)
    chain, records = result.chain, result.records
    if as_json:
        emit({**result.as_dict(), **({"signed": signed.as_dict()} if signed else {})})
    elif chain.ok:
        against = f", matches checkpoint {chain.checkpoint}" if chain.checkpoint else ""
        if signed is not None:
            against += f" (signed by key {signed.key} at {signed.at})"
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


def _verify_bundle(folder: str, public_key: str | None, checkpoint: str | None, chain_only: bool,
                   as_json: bool) -> None:
    """`audit verify --bundle`: no store, no database, no SQLAlchemy on this path (cycle.audit.bundle)."""
    from cycle.errors import BadInput

    if checkpoint is not None or chain_only:
        raise BadInput("--bundle is checked against the signed checkpoint it holds: leave out "
                       f"{'--checkpoint' if checkpoint is not None else '--chain-only'}")
    if public_key is None:
        raise BadInput("--bundle needs the public key it must be signed with: --public-key FILE (the key published "
                       "with its fingerprint, never one from the bundle's folder)")
    from cycle.audit import bundle

    checked = bundle.verify(folder, _read(public_key, "--public-key"), public_key)
    if as_json:
        emit({**checked.as_dict(), "bundle": folder})
    elif checked.ok:
        click.echo(_proved(checked))
    else:
        click.echo(f"Bundle FAILED: {checked.failure}.", err=True)
    sys.exit(0 if checked.ok else 1)


def _proved(checked: Any) -> str:
    """What a bundle that verified proves, in a sentence or two."""
    signed = checked.signed
    day = str(signed["at"])[:10]
    whose = (f" (project {checked.project}'s bundle: {checked.project_entries:,} of the entries its own)"
             if checked.project else "")
    said = (f"Bundle verified: entries {checked.first:,} to {signed['seq']:,}{whose}, signed by key {signed['key']} "
            f"on {day}; {checked.records:,} records in {checked.tables} tables match the entries.")
    if checked.last > signed["seq"]:
        after = (f"Entry {checked.last:,} comes" if checked.last == signed["seq"] + 1
                 else f"Entries {signed['seq'] + 1:,} to {checked.last:,} come")
        one = checked.last == signed["seq"] + 1
        said += (f" {after} after the checkpoint: {'it hangs' if one else 'they hang'} together, but no signature "
                 f"covers {'it' if one else 'them'}")
        n = checked.records_after
        said += f" (nor the {n:,} record{'s' if n != 1 else ''} they last wrote)." if n else "."
    if checked.project and checked.first > 1:
        said += f" Entries before {checked.first:,} are not in the bundle: it vouches for none of them."
    return said


def _is_file_checkpoint(value: str, public_key: str | None) -> bool:
    """--checkpoint names a file (a signed checkpoint) rather than SEQ:HASH: digits, a colon and 64 hex digits are
    SEQ:HASH (a file named so is given as ./42:...); anything else is a file when one is there or --public-key is
    given, and otherwise refused as not SEQ:HASH."""
    import re

    if re.fullmatch(r"\s*\d+:[0-9a-f]{64}\s*", value) is not None or not value.strip():
        return False
    return public_key is not None or os.path.lexists(value)


def _signed_checkpoint(path: str, public_key: str | None, as_json: bool) -> Any:
    """The signed checkpoint at `path`, once it verifies against --public-key; exit 1 naming why it does not."""
    from cycle.audit import signing
    from cycle.errors import BadInput

    if public_key is None:
        raise BadInput(f"--checkpoint {path} is a file, so it is a signed checkpoint: give the public key it must be "
                       f"signed with: --public-key FILE (or give SEQ:HASH, e.g. 42:3f1c...)")
    document, key = _read(path, "--checkpoint"), _read(public_key, "--public-key")
    try:
        return signing.check(document, path, key, public_key)
    except signing.BadSignature as exc:
        if as_json:
            emit({"ok": False, "chain_ok": None, "problem": str(exc), "signed": None})
        else:
            click.echo(f"Audit FAILED: {exc}.", err=True)
        sys.exit(1)


def _read(path: str, option: str) -> bytes:
    from cycle.audit import signing
    from cycle.errors import BadInput

    try:
        return signing.read_small(path, option)
    except FileNotFoundError:
        raise BadInput(f"{option} {path}: no such file (for a checkpoint, give SEQ:HASH or a signed "
                       f"checkpoint file)") from None
    except OSError as exc:
        raise BadInput(f"cannot read {option} {path}: {exc.strerror or exc}") from None


@audit.command("checkpoint")
@click.option("--sign", is_flag=True, help="Sign the head with the key from `cycle audit keygen` and keep it.")
@out_option
@json_option
def audit_checkpoint(sign: bool, out: str | None, force: bool, as_json: bool) -> None:
    """Print the chain's head as SEQ:HASH, to keep outside the database.

    With --sign: a signed checkpoint (sequence, hash, time UTC, the key's fingerprint and an Ed25519
    signature), kept in the log as an audit.checkpoint entry; send it somewhere the database's
    administrators cannot reach.

    \b
    Example:
      cycle audit checkpoint >> ~/cycle-checkpoints.txt
      cycle audit checkpoint --sign --out checkpoint-2027-03-31.txt
    """
    from cycle.audit import chain

    if not sign:
        if out is not None:
            from cycle.errors import BadInput

            raise BadInput("--out goes with --sign: cycle audit checkpoint --sign --out FILE")
        seq, digest = chain.current_head(ready_store())
        emit({"seq": seq, "hash": digest}) if as_json else click.echo(f"{seq}:{digest}")
        return
    from cycle.audit import signing

    signing.private_key()  # no key: say so before the database is opened
    signed, entry = signing.sign_head(ready_store(), actor=actor())
    if as_json:
        if out is not None:
            from cycle import outfile

            outfile.write(out, signed.document, force)
        emit({**signed.as_dict(), "entry": entry, "document": signed.document, "out": out})
        return
    write_out(signed.document, out, "signed checkpoint", force)


@audit.command("export")
@click.argument("project_key", required=False)
@click.option("--bundle", "folder", required=True, metavar="DIR",
              help="The new folder to write the bundle to (written whole, or not at all).")
@click.option("--force", is_flag=True, help="Replace an earlier bundle in DIR (never a folder holding other files).")
@json_option
def audit_export(project_key: str | None, folder: str, force: bool, as_json: bool) -> None:
    """Write the record to a folder an auditor can check with no database: a bundle.

    The bundle holds the audit entries (JSON Lines), the records they vouch for (evidence, decisions, waivers
    and every other table `audit verify` checks) as row images, the latest signed checkpoint and a manifest of
    SHA-256 sums. With PROJECT_KEY, that project's records and the entries from its first one on (the chain is
    global). Sign a checkpoint first (`cycle audit checkpoint --sign`); check the bundle anywhere with
    `cycle audit verify --bundle DIR --public-key FILE`.

    \b
    Example:
      cycle audit export --bundle audit-2027-03-31
      cycle audit export camhs --bundle camhs-audit
    """
    from cycle.audit.export import export_bundle

    from . import output

    done = export_bundle(ready_store(), folder, actor=actor(), project=project_key, force=force)
    if as_json:
        emit(done.as_dict())
        return
    click.echo(f"Wrote the bundle to {done.path}: entries {done.first:,} to {done.last:,} and "
               f"{output.counted(done.records, 'record', 'records')}, with the checkpoint of entry "
               f"{done.checkpoint['seq']:,} signed by key {done.checkpoint['key']}.")
    click.echo(f"Check it with: cycle audit verify --bundle {done.path} --public-key FILE")


@audit.command("keygen")
@click.option("--force", is_flag=True, help="Replace the signing key that is there (old checkpoints still verify "
                                           "against the old public key only).")
def audit_keygen(force: bool) -> None:
    """Create the Ed25519 key pair that signs checkpoints, in $CYCLE_HOME/keys/; print the public key to publish.

    The private key stays in that folder (0700), in a file only its owner can read (0600).

    \b
    Example:
      cycle audit keygen
    """
    from cycle.audit import signing

    made = signing.keygen(force)
    click.echo(f"Created a signing key in {made.private_path} (keep it private; back it up safely).")
    click.echo(f"Public key (also in {made.public_path}); publish it with its fingerprint {made.fingerprint}:")
    click.echo(made.public_pem, nl=False)
