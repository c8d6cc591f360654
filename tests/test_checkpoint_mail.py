"""The daily signed checkpoint, emailed to the governance leads through the outbox: exactly once a day, across
repeated runs and ticks and after a missed day; nothing (said once, not as an error) without a key. Real SMTP
server (tests/smtpd.py) and the Maildir; the attachment is checked with `cycle audit verify`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import pytest

from cycle.calendar.clock import LONDON
from cycle.db.store import Store, open_store
from cycle.notifications.scheduler import ReminderScheduler, Ticked

from .conftest import ON_POSTGRES, Cli
from .reminder_setup import Y, on_day, remind_run
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

NO_KEY = "no signed checkpoint sent: no signing key (create one with: cycle audit keygen)"
DAY1, DAY2, DAY4 = date(Y, 3, 10), date(Y, 3, 11), date(Y, 3, 13)


@pytest.fixture
def leads(run: Cli) -> Cli:
    run("init")
    run("people", "add", "gina", "--email", "gina@council.example", "--role", "governance-lead")
    run("people", "add", "hal", "--email", "hal@council.example", "--role", "governance-lead")
    run("people", "add", "alice", "--email", "alice@council.example", "--role", "manager")
    return run


def checkpoint_mails(smtp: SmtpServer) -> list[tuple[str, str]]:
    return sorted((m.message["X-Cycle-Reminder"], ",".join(m.rcpt_tos)) for m in smtp.received
                  if "audit-checkpoint" in m.message["X-Cycle-Reminder"])


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    (part,) = [p for p in message.iter_attachments() if p.get_filename().startswith("cycle-checkpoint-")]
    return part.get_filename(), part.get_content() if isinstance(part.get_content(), bytes) else \
        part.get_payload(decode=True)


def public_key(run: Cli, tmp_path: Path) -> Path:
    out = run("audit", "keygen").stdout
    path = tmp_path / "key.pub"
    path.write_text(out[out.index("-----BEGIN PUBLIC KEY-----"):])
    return path


def test_the_daily_checkpoint_goes_to_each_lead_exactly_once_a_day(leads: Cli, smtp: SmtpServer,
                                                                    tmp_path: Path) -> None:
    key = public_key(leads, tmp_path)
    first = remind_run(leads, DAY1)
    assert first.stdout.splitlines()[-1].startswith("Signed checkpoint ")
    assert first.stdout.splitlines()[-1].endswith("queued to gina, hal.")
    # one email to the leads (one outbox row each, as every reminder)
    assert checkpoint_mails(smtp) == [(f"audit-checkpoint {DAY1}", "gina@council.example,hal@council.example")]
    again = remind_run(leads, DAY1)  # the same day: nothing new, nothing said
    assert "checkpoint" not in again.stdout and again.stderr == ""
    assert len(checkpoint_mails(smtp)) == 1
    remind_run(leads, DAY2)
    remind_run(leads, DAY4)  # 12 March missed: 13 March's goes, once; none is made up for the 12th
    assert [m for m, _ in checkpoint_mails(smtp)] == [f"audit-checkpoint {d}" for d in (DAY1, DAY2, DAY4)]
    assert leads.json("outbox", "list", "--status", "sent").__len__() == 6  # a row per lead and day
    signed_entries = [e for e in leads.db.audit() if e["action"] == "audit.checkpoint"]
    assert len(signed_entries) == 3  # signed once a day, not once per lead
    # what a lead receives verifies, byte for byte, against the published key
    message = next(m.message for m in smtp.received if m.message["X-Cycle-Reminder"].endswith(str(DAY4)))
    signed_seq = signed_entries[-1]["seq"] - 1  # the head it signed: the entry before the one keeping it
    assert message["Subject"] == f"Signed audit checkpoint for {DAY4.day} March {Y}: entry {signed_seq}"
    name, data = attachment(message)
    assert name == f"cycle-checkpoint-{DAY4}.txt"
    saved = tmp_path / name
    saved.write_bytes(data)
    with on_day(DAY4):
        result = leads("audit", "verify", "--checkpoint", str(saved), "--public-key", str(key))
    assert "matches checkpoint" in result.stdout and "Records match the log" in result.stdout
    body = message.get_body(("plain",)).get_content()
    assert data.decode() in body.replace("\r\n", "\n")


def test_a_lead_added_later_in_the_day_gets_the_checkpoint_already_signed(leads: Cli, smtp: SmtpServer,
                                                                         tmp_path: Path) -> None:
    public_key(leads, tmp_path)
    remind_run(leads, DAY1)
    leads("people", "add", "ivy", "--email", "ivy@council.example", "--role", "governance-lead")
    later = remind_run(leads, DAY1)
    assert later.stdout.splitlines()[-1] == "Today's signed checkpoint queued to ivy as well."
    documents = {attachment(m.message)[1] for m in smtp.received}
    assert len(documents) == 1 and [m.rcpt_tos for m in smtp.received] == [
        ["gina@council.example", "hal@council.example"], ["ivy@council.example"]]
    assert sum(e["action"] == "audit.checkpoint" for e in leads.db.audit()) == 1


def test_without_a_key_no_email_and_one_line_not_an_error(leads: Cli, smtp: SmtpServer) -> None:
    result = remind_run(leads, DAY1)
    assert result.stdout.splitlines().count(NO_KEY) == 1 and result.stdout.splitlines()[-1] == NO_KEY
    assert result.stderr == ""
    assert smtp.received == []
    assert leads.json("outbox", "list") == []
    assert all(e["action"] != "audit.checkpoint" for e in leads.db.audit())


def test_without_a_governance_lead_it_says_whom_to_grant(run: Cli, smtp: SmtpServer, tmp_path: Path) -> None:
    run("init")
    public_key(run, tmp_path)
    result = remind_run(run, DAY1)
    assert result.stdout.splitlines()[-1] == ("no signed checkpoint sent: nobody holds the governance-lead role; "
                                              "grant it with: cycle people add NAME --role governance-lead")
    assert smtp.received == []


def test_a_key_others_may_read_fails_the_run_and_says_how_to_fix(leads: Cli, smtp: SmtpServer, home: Path,
                                                                 tmp_path: Path) -> None:
    public_key(leads, tmp_path)
    key = home / "keys" / "checkpoint-signing.key"
    key.chmod(0o640)
    result = remind_run(leads, DAY1, expect=1)
    assert (f"Not sent: audit-checkpoint {DAY1}: the keys file {key} may be read by others (mode 640): make it "
            f"private with: chmod 600 {key}") in result.stderr
    assert smtp.received == []


def test_the_maildir_gets_it_when_no_smtp_server_is_set(leads: Cli, home: Path, tmp_path: Path) -> None:
    key = public_key(leads, tmp_path)
    remind_run(leads, DAY1)
    remind_run(leads, DAY1)
    found = sorted((home / "mail" / "new").glob("*"))
    assert len(found) == 1  # the second run sends nothing
    message = BytesParser(policy=default).parsebytes(found[0].read_bytes())
    saved = tmp_path / "from-maildir.txt"
    saved.write_bytes(attachment(message)[1])  # type: ignore[arg-type]
    with on_day(DAY1):
        leads("audit", "verify", "--checkpoint", str(saved), "--public-key", str(key))


# --- the scheduler ------------------------------------------------------------------------------------

@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = open_store()
    yield s
    s.dispose()


def ticks(store: Store, days: list[datetime]) -> tuple[list[Ticked], list[str]]:
    """Tick once at each moment (the scheduler's own clock), holding the lease as a running scheduler does."""
    lines: list[str] = []
    now = [days[0]]
    sched = ReminderScheduler(store, actor="scheduler", clock=lambda: now[0], log=lines.append)
    sched.acquire()
    done = []
    try:
        for moment in days:
            now[0] = moment
            done.append(sched.tick())
    finally:
        sched.lease.release(store, actor="scheduler")
    return done, lines


def test_scheduler_ticks_send_it_once_a_day_and_say_no_key_once(leads: Cli, store: Store, smtp: SmtpServer,
                                                                tmp_path: Path) -> None:
    moments = [datetime(Y, 3, 10, 7, tzinfo=LONDON), datetime(Y, 3, 10, 9, tzinfo=LONDON)]
    with on_day(DAY1):
        _, lines = ticks(store, moments)
    assert [line for line in lines if "checkpoint" in line] == [f"  {NO_KEY}"]
    assert smtp.received == []
    public_key(leads, tmp_path)
    later = [datetime(Y, 3, 11, 7, tzinfo=LONDON), datetime(Y, 3, 11, 12, tzinfo=LONDON),
             datetime(Y, 3, 13, 7, tzinfo=LONDON), datetime(Y, 3, 13, 7, 5, tzinfo=LONDON)]
    with on_day(DAY4):
        done, lines = ticks(store, later)
    assert [len(t.checkpoint.queued) for t in done if t.checkpoint] == [2, 0, 2, 0]
    assert [m for m, _ in checkpoint_mails(smtp)] == [f"audit-checkpoint {d}" for d in (DAY2, DAY4)]
    leads("audit", "verify")


# --- careless and hostile use -----------------------------------------------------------------------

def test_a_run_dated_back_signs_nothing(leads: Cli, smtp: SmtpServer, tmp_path: Path) -> None:
    public_key(leads, tmp_path)
    with on_day(DAY2):
        result = leads("remind", "run", "--as-of", str(DAY1))
    assert "checkpoint" not in result.stdout and smtp.received == []
    assert all(e["action"] != "audit.checkpoint" for e in leads.db.audit())


@pytest.mark.skipif(ON_POSTGRES, reason="on PostgreSQL the database refuses the hand edit (cycle_row_on_record)")
@pytest.mark.parametrize("context", ['{"kind": "audit-checkpoint"}', '{"seq": 1, "hash": "x", "at": "t", '
                                     '"key": "k", "day": "2028-03-10", "document": "caf\\u00e9", "kind": "k", '
                                     '"period": "p", "project": "p", "title": "t", "as_of": "a"}'])
def test_a_queued_checkpoint_edited_by_hand_is_not_sent_and_says_why(leads: Cli, smtp: SmtpServer, tmp_path: Path,
                                                                   context: str) -> None:
    public_key(leads, tmp_path)
    remind_run(leads, DAY1, "--no-send")
    leads.db.execute("UPDATE outbox SET context = :c WHERE kind = 'audit-checkpoint'", params={"c": context})
    with on_day(DAY1):
        result = leads("outbox", "send", expect=None)
    assert "Traceback" not in result.stderr and result.exception is None or isinstance(result.exception, SystemExit)
    assert "template audit-checkpoint" in result.stdout + result.stderr
    assert smtp.received == []
