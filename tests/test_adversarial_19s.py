"""Adversarial tests of issue 19 part 2 (signed checkpoints), through the real CLI: someone who controls the
database but not the key, and a careless operator with the key files."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path

import pytest
import time_machine

from cycle.audit.chain import canonical_json
from cycle.calendar.clock import LONDON
from cycle.db.store import Store

from .conftest import Cli, Database
from .reminder_setup import on_day, remind_run
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture
from .test_audit import COLUMNS, rewrite_from, rows
from .test_checkpoint_mail import DAY1, checkpoint_mails, leads, public_key, store, ticks  # noqa: F401
from .test_signed_checkpoints import history, keygen, public_file, signed  # noqa: F401 (history: a fixture)


@contextmanager
def fifo_with_a_writer(path: Path) -> Iterator[Path]:
    """A FIFO at `path` whose writer opens it and closes at once: a reader that waits for a writer gets an empty
    file instead of waiting forever, so the test fails rather than hangs where a FIFO is read."""
    os.mkfifo(path, 0o600)
    writer = threading.Thread(target=lambda: os.close(os.open(path, os.O_WRONLY)), daemon=True)
    writer.start()
    try:
        yield path
    finally:
        release = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer's open return if nobody read
        writer.join()
        os.close(release)
        path.unlink()


def test_a_fifo_given_as_the_checkpoint_or_the_public_key_is_refused_not_waited_on(history: Cli,  # noqa: F811
                                                                                    tmp_path: Path) -> None:
    pem, _ = keygen(history)
    out, key = signed(history, tmp_path), public_file(tmp_path, pem)
    with fifo_with_a_writer(tmp_path / "cp.fifo") as fifo:
        result = history("audit", "verify", "--checkpoint", str(fifo), "--public-key", str(key), expect=2)
    assert result.stderr == (f"Error: --checkpoint {fifo} is not a regular file (a pipe or a device): copy it to a "
                             f"file and give that\n")
    with fifo_with_a_writer(tmp_path / "key.fifo") as fifo:
        result = history("audit", "verify", "--checkpoint", str(out), "--public-key", str(fifo), expect=2)
    assert result.stderr.startswith(f"Error: --public-key {fifo} is not a regular file (a pipe or a device)")


def test_a_private_key_that_is_a_fifo_is_refused_by_signing_and_the_daily_run(ready: Cli, home: Path) -> None:
    keygen(ready)
    key = home / "keys" / "checkpoint-signing.key"
    key.unlink()
    ready("people", "add", "gina", "--email", "gina@council.example", "--role", "governance-lead")
    before = rows(ready.db)
    line = (f"the signing key {key} is not a regular file (a pipe or a device): move it away and run: "
            f"cycle audit keygen")
    with fifo_with_a_writer(key):
        assert ready("audit", "checkpoint", "--sign", expect=2).stderr == f"Error: {line}\n"
    with fifo_with_a_writer(key):
        assert f": {line}\n" in ready("remind", "run", expect=1).stderr
    assert rows(ready.db)[:len(before)] == before and "audit.checkpoint" not in str(rows(ready.db))


def test_a_checkpoint_pasted_with_blank_lines_before_it_still_verifies(history: Cli,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    pem, fp = keygen(history)
    out = signed(history, tmp_path)
    out.write_bytes(b"\r\n \n\t" + out.read_bytes())  # as pasted from an email body
    result = history("audit", "verify", "--checkpoint", str(out), "--public-key", str(public_file(tmp_path, pem)))
    assert f"(signed by key {fp} at " in result.stdout


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give the folder away")
def test_a_keys_folder_owned_by_another_user_is_refused(ready: Cli, home: Path) -> None:
    keygen(ready)
    keys = home / "keys"
    os.chown(keys, 65534, 65534)  # nobody: who could put their own key there
    before = rows(ready.db)
    assert ready("audit", "checkpoint", "--sign", expect=2).stderr == (
        f"Error: the keys folder {keys} belongs to another user (uid 65534), who could replace the key: make it "
        f"yours with: chown 0 {keys}\n")
    assert rows(ready.db) == before


def _forge(db: Database, entry: int, change: str) -> None:
    """Edit the audit.checkpoint entry `entry` as someone with the database would, and re-chain the log."""
    payload = json.loads(rows(db)[entry - 1][COLUMNS.index("payload")])
    fake = "0" * 64
    if change == "fields":  # the entry's fields, not the signed document
        payload["hash"] = fake
    else:  # the document too: its signature no longer matches
        payload["document"] = payload["document"].replace(payload["hash"], fake)
        payload["hash"] = fake
    db.drop_audit_triggers()
    rewrite_from(db, entry, {"payload": canonical_json(payload)})


@pytest.mark.parametrize("attack, why", [
    ("fields", "its fields differ from the document it signed"),
    ("document", "its signature does not verify against this installation's key {fp}"),
    ("rechained", "the log's entry 16 no longer has the hash it signed (the log was rewritten since): check it "
                  "with: cycle audit verify --checkpoint FILE --public-key FILE"),
])
def test_the_reports_do_not_print_a_forged_or_outdated_checkpoint_as_signed(history: Cli,  # noqa: F811
                                                                            tmp_path: Path, db: Database,
                                                                            attack: str, why: str) -> None:
    _, fp = keygen(history)
    signed(history, tmp_path)  # entry 17 keeps the checkpoint of entry 16
    if attack == "rechained":
        db.drop_audit_triggers()
        rewrite_from(db, 8, {"actor": "mallory"})  # the whole log re-hashed: the chain alone verifies
    else:
        _forge(db, 17, attack)
    assert history("audit", "verify", "--chain-only").stdout.startswith("Audit chain verified")
    line = f"Latest signed checkpoint: entry 17 cannot be read (not trusted: {why.format(fp=fp)})."
    report = history("report", "gate-audit", expect=None).stdout
    assert line in report, report


# --- the daily checkpoint: the clock change, the mail server down --------------------------------------------

def test_the_daily_checkpoint_follows_the_london_date_across_the_clock_changes(  # noqa: F811
        leads: Cli, store: Store, smtp: SmtpServer, tmp_path: Path) -> None:  # noqa: F811
    public_key(leads, tmp_path)
    moments = [datetime(2027, 10, 30, 23, 59, tzinfo=LONDON), datetime(2027, 10, 31, 0, 1, tzinfo=LONDON),
               datetime(2027, 10, 31, 1, 30, fold=0, tzinfo=LONDON),  # the hour that comes twice
               datetime(2027, 10, 31, 1, 30, fold=1, tzinfo=LONDON),
               datetime(2028, 3, 26, 0, 59, tzinfo=LONDON), datetime(2028, 3, 26, 2, 1, tzinfo=LONDON),
               datetime(2028, 3, 26, 23, 59, tzinfo=LONDON), datetime(2028, 3, 27, 0, 0, 1, tzinfo=LONDON)]
    with on_day(date(2028, 3, 27)):
        done, lines = ticks(store, moments)
    assert [t.checkpoint.day for t in done] == ["2027-10-30", "2027-10-31", "2027-10-31", "2027-10-31",
                                                "2028-03-26", "2028-03-26", "2028-03-26", "2028-03-27"]
    assert [len(t.checkpoint.queued) for t in done] == [2, 2, 0, 0, 2, 0, 0, 2]
    assert checkpoint_mails(smtp) == [(f"audit-checkpoint {d}", "gina@council.example,hal@council.example")
                                      for d in ("2027-10-30", "2027-10-31", "2028-03-26", "2028-03-27")]


def test_mail_server_down_keeps_the_run_failing_until_the_day_s_checkpoint_is_sent(  # noqa: F811
        leads: Cli, smtp: SmtpServer, tmp_path: Path) -> None:  # noqa: F811
    public_key(leads, tmp_path)
    smtp.stop()
    assert "Error: 2 reminders due could not be delivered" in remind_run(leads, DAY1, expect=1).stderr
    again = remind_run(leads, DAY1, expect=1)  # before the retry is due: still not delivered, and says so
    assert "still waiting #1 to gina <gina@council.example> (audit-checkpoint  " in again.stderr
    assert again.stderr.endswith("Error: 2 reminders due could not be delivered or queued: 2 waiting to retry (not "
                                 "accepted yet; see: cycle outbox list --status pending)\n")
    smtp.start()
    with time_machine.travel(datetime.combine(DAY1, time(13), LONDON), tick=False):
        leads("remind", "run")
        leads("remind", "run")
    assert checkpoint_mails(smtp) == [(f"audit-checkpoint {DAY1}", "gina@council.example,hal@council.example")]
    assert [e["action"] for e in leads.db.audit()].count("audit.checkpoint") == 1  # signed once, sent when it could


def test_signing_refuses_a_log_rewritten_since_the_last_signed_checkpoint(history: Cli,  # noqa: F811
                                                                          tmp_path: Path, db: Database) -> None:
    keygen(history)
    signed(history, tmp_path)
    db.drop_audit_triggers()
    rewrite_from(db, 8, {"actor": "mallory"})  # re-chained: only the signed checkpoint shows it
    before = db.dump()
    result = history("audit", "checkpoint", "--sign", expect=1)  # not a genuine signature on the rewritten log
    assert "the log's entry 16 no longer has the hash" in result.stderr
    db.tamper("DELETE FROM audit_entry WHERE action = 'audit.checkpoint'")  # hiding the checkpoints does not help:
    rewrite_from(db, 8, {"actor": "mallory"})  # the head signed last is kept beside the key, not in the database
    before = db.dump()
    assert "no longer has the hash" in history("audit", "checkpoint", "--sign", expect=1).stderr
    assert db.dump() == before  # nothing signed, nothing written
    last = db.home / "keys" / "last-signed"
    last.rename(last.with_name("last-signed.old"))  # a database restored on purpose: the way out the error names
    history("audit", "checkpoint", "--sign")
