"""Delivery against a real SMTP server (aiosmtpd on 127.0.0.1): retries, failures, partial refusals, and
messages whose headers no user text can change. No SMTP mocks: the server's replies are scripted."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from icalendar import Calendar

from cycle.db.store import Store, open_store
from cycle.notifications import mail, render, send
from cycle.reminders import outbox, rules

from .conftest import Cli, Database
from .reminder_setup import Y, add_people, live_project, remind_run
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

T0 = datetime(Y, 12, 20, 7, 0, tzinfo=UTC)


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = open_store()
    yield s
    s.dispose()


def drain(store: Store, now: datetime) -> send.Drained:
    return send.drain(store, actor="scheduler", now=now)


def attempts(store: Store, row_id: int) -> list[tuple[int, str, int | None]]:
    return [(a.attempt, a.outcome, a.code) for a in outbox.attempts(store, row_id)]


def rows(run: Cli) -> list[tuple[int, str, str, int]]:
    return [(r["id"], r["status"], r["recipient"], r["attempts"]) for r in run.json("outbox", "list")]


def review_due(run: Cli, store: Store, **kw: str) -> None:
    """camhs live; the Y-Q3 review reminder (to alice) queued."""
    live_project(run, **kw)
    plan = rules.enqueue(store, T0.date(), actor="scheduler", today=T0.date())
    assert [(r.kind, r.recipient) for r in plan.new] == [("review-due", "alice")]


def test_451_twice_then_accepted_is_delivered_once_with_every_attempt_recorded(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    review_due(run, store)
    smtp.handler.data_replies = ["451 4.3.0 Try again later", "451 4.3.0 Try again later"]
    first = drain(store, T0)
    assert first.summary() == "sent 0, 1 waiting to retry"
    assert rows(run) == [(1, "pending", "alice", 1)]
    assert run.json("outbox", "list")[0]["last_error"] == "451 4.3.0 Try again later"
    assert drain(store, T0 + timedelta(seconds=30)).rows == []  # backing off: not yet
    drain(store, T0 + timedelta(seconds=61))  # second try: 451 again; the wait doubles
    assert rows(run) == [(1, "pending", "alice", 2)]
    assert drain(store, T0 + timedelta(seconds=61 + 119)).rows == []
    done = drain(store, T0 + timedelta(seconds=61 + 121))
    assert done.summary() == "sent 1"
    assert rows(run) == [(1, "sent", "alice", 3)]
    assert attempts(store, 1) == [(1, "temporary", 451), (2, "temporary", 451), (3, "sent", 250)]
    assert len(smtp.received) == 1 and smtp.handler.data_commands == 3
    assert smtp.received[0].rcpt_tos == ["alice@council.example"]
    assert drain(store, T0 + timedelta(days=1)).rows == []
    actions = [e["action"] for e in run.json("audit", "log", "camhs")][-4:]
    assert actions == ["outbox.enqueue", "outbox.deferred", "outbox.deferred", "outbox.sent"]
    run("audit", "verify")


def test_550_fails_at_once_and_is_not_retried_until_asked(run: Cli, store: Store, smtp: SmtpServer) -> None:
    review_due(run, store)
    smtp.handler.data_replies = ["550 5.7.1 Message rejected by policy"]
    assert drain(store, T0).summary() == "sent 0, 1 failed"
    assert drain(store, T0 + timedelta(days=3)).rows == []
    assert smtp.handler.data_commands == 1 and smtp.received == []
    failed = run.json("outbox", "list", "--status", "failed")
    assert [(r["id"], r["attempts"], r["last_error"]) for r in failed] == [
        (1, 1, "550 5.7.1 Message rejected by policy")]
    assert attempts(store, 1) == [(1, "permanent", 550)]
    assert run.json("audit", "log", "camhs")[-1]["action"] == "outbox.failed"
    # a person decides to try again
    out = run("outbox", "retry", "1").stdout
    assert out == ("#1 (review-due camhs to alice) is due again after 1 attempt. "
                   "Send it with: cycle outbox send\n")
    assert run.json("audit", "log", "camhs")[-1]["action"] == "outbox.retry"
    sent = run("outbox", "send")
    assert sent.stdout.startswith("Outbox: sent 1. Mail went to SMTP 127.0.0.1:")
    assert len(smtp.received) == 1
    assert run("outbox", "retry", "1", expect=2).stderr.startswith("Error: outbox message #1 was sent on ")
    assert run("outbox", "retry", "9", expect=2).stderr == (
        "Error: no outbox message #9; see them with: cycle outbox list\n")


def test_server_down_leaves_it_pending_and_it_goes_when_the_server_is_back(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    review_due(run, store)
    smtp.stop()
    result = run("outbox", "send", expect=1)  # exit 1: something due was not delivered
    assert result.stdout.startswith("Outbox: sent 0, 1 waiting to retry.")
    assert f"waiting #1 to alice <alice@council.example>: cannot reach 127.0.0.1:{smtp.port}: connection refused" \
           in result.stderr
    assert rows(run) == [(1, "pending", "alice", 1)]
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert drain(store, later).summary() == "sent 0, 1 waiting to retry"  # still down
    smtp.start()  # the same port, back up
    assert drain(store, later + timedelta(minutes=3)).summary() == "sent 1"
    assert rows(run) == [(1, "sent", "alice", 3)]
    assert [a[1] for a in attempts(store, 1)] == ["temporary", "temporary", "sent"]
    assert len(smtp.received) == 1


def test_one_recipient_refused_of_two_the_other_is_delivered_and_the_refusal_recorded(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    live_project(run, end=f"{Y + 1}-09-30")
    rules.enqueue(store, date(Y, 12, 31), actor="scheduler", today=date(Y, 12, 31))  # the 90-day rung: alice, sam
    notice = {r["recipient"]: r["id"] for r in run.json("outbox", "list") if r["kind"] == "notice"}
    assert sorted(notice) == ["alice", "sam"]
    smtp.handler.refuse = {"sam@council.example": "550 5.1.1 <sam@council.example>: Recipient address rejected"}
    drained = drain(store, T0)
    by_name = {r.recipient: r for r in drained.rows if r.kind == "notice"}
    assert by_name["alice"].status == "sent" and by_name["sam"].status == "failed"
    assert by_name["sam"].last_error == "550 5.1.1 <sam@council.example>: Recipient address rejected"
    (msg,) = [m for m in smtp.received if m.message["X-Cycle-Reminder"].startswith("camhs notice ")]
    assert msg.rcpt_tos == ["alice@council.example"]
    assert msg.message["To"] == "alice <alice@council.example>, sam <sam@council.example>"
    [alice] = outbox.attempts(store, notice["alice"])
    [sam] = outbox.attempts(store, notice["sam"])
    assert (alice.outcome, alice.others) == (
        "sent", "refused: sam@council.example: 550 5.1.1 <sam@council.example>: Recipient address rejected")
    assert (sam.outcome, sam.code, sam.others) == ("permanent", 550, "delivered to: alice@council.example")
    failed = [e for e in run.json("audit", "log", "camhs") if e["action"] == "outbox.failed"]
    assert failed[-1]["payload"]["recipient"] == "sam" and failed[-1]["payload"]["code"] == 550


def test_a_temporary_refusal_of_one_recipient_is_retried_alone_under_the_same_message_id(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    live_project(run, end=f"{Y + 1}-09-30")
    rules.enqueue(store, date(Y, 12, 31), actor="scheduler", today=date(Y, 12, 31))
    smtp.handler.refuse = {"sam@council.example": "450 4.2.1 Mailbox busy"}
    drain(store, T0)
    smtp.handler.refuse = {}
    drain(store, T0 + timedelta(minutes=2))
    notices = [m for m in smtp.received if m.message["X-Cycle-Reminder"].startswith("camhs notice ")]
    assert [m.rcpt_tos for m in notices] == [["alice@council.example"], ["sam@council.example"]]
    expected = outbox.message_id("camhs", "notice", f"{Y + 1}-03-31/90d", "council.example")
    assert {m.message["Message-ID"] for m in notices} == {expected}
    assert {r["message_id"] for r in run.json("outbox", "list") if r["kind"] == "notice"} == {expected}


EVIL = "CAMHS <script>alert(1)</script> %0ABcc: a@evil.example =0D=0ABcc: b@evil.example \u2028Bcc: c@evil.example"


def _parts(msg: EmailMessage) -> dict[str, str]:
    return {p.get_content_type(): p.get_content().replace("\r\n", "\n") for p in msg.walk() if not p.is_multipart()}


def test_no_title_can_add_a_header_and_html_is_escaped(run: Cli, store: Store, smtp: SmtpServer,
                                                       db: Database) -> None:
    live_project(run)
    # A title with a raw CR LF or a line separator cannot be entered through cycle (cycle.inputs.text); put one in
    # as an older version might have.
    db.tamper("UPDATE project SET title = :title WHERE key = 'camhs'",
               params={"title": EVIL + "\r\nBcc: d@evil.example\nX-Injected: yes"})
    rules.enqueue(store, T0.date(), actor="scheduler", today=T0.date())
    assert drain(store, T0).summary() == "sent 1"
    (received,) = smtp.received
    assert received.rcpt_tos == ["alice@council.example"]
    headers = received.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = [line.split(":", 1)[0] for line in headers.split("\r\n") if line and not line[0].isspace()]
    assert names == ["Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted", "X-Cycle-Reminder",
                     "MIME-Version", "Content-Type"]
    msg = received.message
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    subject = str(msg["Subject"])
    assert "\n" not in subject and "\r" not in subject and "\u2028" not in subject
    assert "%0A" not in subject and "=0D" not in subject
    assert subject.startswith(f"Review due by 31 December {Y}: CAMHS <script>alert(1)</script> ")
    parts = _parts(msg)
    assert "CAMHS <script>alert(1)</script> %0ABcc" in parts["text/plain"]  # text: as written
    html = parts["text/html"]
    assert "CAMHS &lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html


def test_the_ics_attachment_parses_and_carries_the_right_date(run: Cli, store: Store, smtp: SmtpServer) -> None:
    live_project(run, end=f"{Y + 1}-09-30")
    # Q4 review due 31 March; 7-day notice rung
    rules.enqueue(store, date(Y + 1, 3, 24), actor="scheduler", today=date(Y + 1, 3, 24))
    drain(store, T0)
    found = {}
    for m in smtp.received:
        msg = m.message
        kind = msg["X-Cycle-Reminder"].split()[1]
        attachments = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        if kind in ("review-due", "notice"):
            (part,) = attachments
            assert part.get_filename() == f"camhs-{kind}.ics"
            cal = Calendar.from_ical(part.get_payload(decode=True))
            (event,) = cal.walk("VEVENT")
            start, end = event.decoded("dtstart"), event.decoded("dtend")
            assert type(start) is date and end - start == timedelta(days=1)  # an all-day entry: no time zone
            found[kind] = (start, str(event["summary"]))
        else:
            assert attachments == []
    assert found == {
        "review-due": (date(Y + 1, 3, 31), f"Quarterly review due: CAMHS Tiers 2 and 3 (camhs), {Y}-Q4"),
        "notice": (date(Y + 1, 3, 31), "Notice deadline: CAMHS Tiers 2 and 3 (camhs)")}


def test_message_id_comes_from_the_reminder_key(run: Cli, store: Store, smtp: SmtpServer) -> None:
    review_due(run, store)
    drain(store, T0)
    expected = outbox.message_id("camhs", "review-due", f"{Y}-Q3", "council.example")
    assert expected.startswith("<cycle.") and expected.endswith("@council.example>")
    assert smtp.received[0].message["Message-ID"] == expected
    assert run.json("outbox", "list")[0]["message_id"] == expected
    assert smtp.received[0].mail_from == "reminders@council.example"


def test_a_team_can_override_a_template(run: Cli, store: Store, smtp: SmtpServer, home: Path) -> None:
    review_due(run, store)
    (home / "templates").mkdir()
    (home / "templates" / "review-due.subject").write_text("[Commissioning] {{ quarter }} review: {{ title }}\n")
    drain(store, T0)
    assert smtp.received[0].message["Subject"] == f"[Commissioning] {Y}-Q3 review: CAMHS Tiers 2 and 3"


def test_a_broken_template_keeps_the_reminder_waiting(run: Cli, store: Store, smtp: SmtpServer,
                                                      home: Path) -> None:
    review_due(run, store)
    (home / "templates").mkdir()
    (home / "templates" / "review-due.subject").write_text("{{ no_such_thing }}")
    assert drain(store, T0).summary() == "sent 0, 1 waiting to retry"
    assert run.json("outbox", "list")[0]["last_error"] == "template review-due.subject: 'no_such_thing' is undefined"
    (home / "templates" / "review-due.subject").unlink()
    assert drain(store, T0 + timedelta(minutes=2)).summary() == "sent 1"


def test_smtp_settings_and_the_password(run: Cli, home: Path, monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    from cycle.notifications import mail

    home.mkdir(parents=True, exist_ok=True)
    assert mail.smtp_settings() is None and isinstance(mail.transport(), mail.MaildirTransport)
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    (home / "reminders.toml").write_text(
        f'[smtp]\nhost = "smtp.council.example"\nuser = "cycle"\npassword_file = "{secret}"\n'
        f'from = "Reminders <cycle@council.example>"\n')
    st = mail.smtp_settings()
    assert st is not None
    assert (st.host, st.port, st.security, st.user, st.password, st.sender) == (
        "smtp.council.example", 587, "starttls", "cycle", "s3cret", "Reminders <cycle@council.example>")
    assert "s3cret" not in repr(st)
    monkeypatch.setenv("CYCLE_SMTP_SECURITY", "ssl")
    monkeypatch.setenv("CYCLE_SMTP_PASSWORD", "from-env")
    st = mail.smtp_settings()
    assert st is not None and (st.port, st.security, st.password) == (465, "ssl", "from-env")
    monkeypatch.setenv("CYCLE_SMTP_SECURITY", "tls1.0")
    run("init")
    assert run("outbox", "send", expect=2).stderr == (
        f"Error: SMTP security 'tls1.0' is not one of: starttls, ssl, none (CYCLE_SMTP_SECURITY or [smtp] security "
        f"in {home / 'reminders.toml'})\n")
    # no command takes a password
    from cycle.cli import cli

    from .test_docs import COMMANDS

    for path in COMMANDS:
        cmd = cli
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        assert not any("pass" in opt for p in cmd.params for opt in getattr(p, "opts", [])), path


def test_a_sender_that_died_after_the_server_accepted_sends_a_recognisable_duplicate(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    review_due(run, store)
    claimed = outbox.claim(store, "sender-that-dies", T0, actor="scheduler")
    msg = render.message(claimed, mail.sender(), T0)
    delivery = mail.transport().deliver(msg, [r.email for r in claimed])
    assert delivery.accepted == ["alice@council.example"]  # ... and the process died before recording it
    assert rows(run) == [(1, "sending", "alice", 0)]
    claim = run.json("audit", "log")[-1]  # the claim is on the record, with the row as it took it
    assert (claim["action"], claim["payload"]["holder"], claim["payload"]["outbox_ids"]) == (
        "outbox.claim", "sender-that-dies", [1])
    assert [(i["table"], i["row"]["status"], i["row"]["claimed_by"]) for i in claim["payload"]["rows"]] == [
        ("outbox", "sending", "sender-that-dies")]
    assert drain(store, T0 + timedelta(minutes=5)).rows == []  # its claim has not expired yet
    assert drain(store, T0 + timedelta(minutes=11)).summary() == "sent 1"
    assert rows(run) == [(1, "sent", "alice", 1)]
    taken, sent = run.json("audit", "log")[-2:]
    assert (taken["action"], taken["payload"]["taken_over_from"], sent["action"]) == (
        "outbox.claim", {"1": "sender-that-dies"}, "outbox.sent")
    run("audit", "verify")
    first, second = smtp.received
    assert first.message["Message-ID"] == second.message["Message-ID"] == outbox.message_id(
        "camhs", "review-due", f"{Y}-Q3", "council.example")


def test_claimed_rows_handed_back_are_on_the_record(run: Cli, store: Store) -> None:
    review_due(run, store)
    claimed = outbox.claim(store, "sender-that-stops", T0, actor="scheduler")
    outbox.release(store, "sender-that-stops", [r.id for r in claimed], actor="scheduler")
    outbox.release(store, "sender-that-stops", [r.id for r in claimed], actor="scheduler")  # no longer its own
    assert rows(run) == [(1, "pending", "alice", 0)]
    claim, release = run.json("audit", "log")[-2:]
    assert (claim["action"], release["action"], release["payload"]["outbox_ids"]) == (
        "outbox.claim", "outbox.release", [1])
    assert [(i["row"]["status"], i["row"]["claimed_by"]) for i in release["payload"]["rows"]] == [("pending", None)]
    assert run("audit", "log").stdout.splitlines()[-1].endswith("outbox.release  1 handed back by sender-that-stops")
    run("audit", "verify")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize("security", ["starttls", "ssl"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # implicit TLS: it is TLS
def test_starttls_or_ssl_with_a_login_whose_password_comes_from_a_file(
        run: Cli, store: Store, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        certificate: tuple[Path, Path], security: str) -> None:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, data) -> AuthResult:  # noqa: ANN001
        assert isinstance(data, LoginPassword)
        logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == b"s3cret")

    options: dict[str, object] = {"authenticator": authenticator, "auth_required": True}
    if security == "ssl":
        # aiosmtpd does not know an implicit-TLS session is encrypted, so it must be told AUTH may go over it
        options.update(ssl_context=server_tls, auth_require_tls=False)
    else:
        options.update(tls_context=server_tls, require_starttls=True)
    server = SmtpServer(**options)
    server.start()
    try:
        secret = tmp_path / "password"
        secret.write_text("s3cret\n")
        review_due(run, store)
        (home / "reminders.toml").write_text(
            f'[smtp]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "{security}"\nuser = "cycle"\n'
            f'password_file = "{secret}"\nhelo = "localhost"\nfrom = "Reminders <reminders@council.example>"\n')
        monkeypatch.setenv("CYCLE_SMTP_CAFILE", str(tmp_path / "no-such-ca.pem"))
        assert run("outbox", "send", expect=2).stderr == (
            f"Error: the SMTP CA file {tmp_path / 'no-such-ca.pem'} does not exist (CYCLE_SMTP_CAFILE or [smtp] "
            f"cafile)\n")
        monkeypatch.delenv("CYCLE_SMTP_CAFILE")
        # the test certificate is trusted by nobody: the message waits rather than going over an unchecked link
        assert drain(store, T0).summary() == "sent 0, 1 waiting to retry"
        assert "certificate verify failed" in run.json("outbox", "list")[0]["last_error"]
        monkeypatch.setenv("CYCLE_SMTP_CAFILE", str(cert))
        assert drain(store, T0 + timedelta(minutes=2)).summary() == "sent 1"
        assert logins == [("cycle", "s3cret")]
        assert [m.rcpt_tos for m in server.received] == [["alice@council.example"]]
    finally:
        server.stop()


def test_a_refused_address_once_corrected_is_used_by_the_retry_and_the_reminder_still_goes_once(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    review_due(run, store)
    smtp.handler.refuse = {"alice@council.example": "550 5.1.1 <alice@council.example>: Recipient address rejected"}
    failed = run("outbox", "send", expect=1)
    assert failed.stderr == (
        "  failed #1 to alice <alice@council.example>: 550 5.1.1 <alice@council.example>: Recipient address "
        "rejected; retry with: cycle outbox retry 1 (if the address is wrong, first: cycle people add alice "
        "--email ADDRESS)\n"
        "Error: 1 reminder due could not be delivered or queued: 1 failed (refused for good; see: cycle outbox list "
        "--status failed)\n")
    run("people", "add", "alice", "--email", "alice@council.gov.uk")
    # the outbox and the dry run agree on where the row will go now
    (listed,) = run.json("outbox", "list")
    assert (listed["status"], listed["email"]) == ("failed", "alice@council.gov.uk")
    assert "failed  " in run("outbox", "list").stdout and "to alice <alice@council.gov.uk>" in run(
        "outbox", "list").stdout
    (planned,) = run.json("remind", "--dry-run", "--as-of", T0.date().isoformat())["reminders"]
    assert (planned["status"], planned["email"], planned["outbox_id"]) == ("failed", "alice@council.gov.uk", 1)
    run("outbox", "retry", "1")
    retry = run.json("audit", "log", "camhs")[-1]
    assert retry["action"] == "outbox.retry"
    assert (retry["payload"]["email"], retry["payload"]["email_was"]) == ("alice@council.gov.uk",
                                                                          "alice@council.example")
    assert run("outbox", "send").stdout.startswith("Outbox: sent 1.")
    (received,) = smtp.received
    assert received.rcpt_tos == ["alice@council.gov.uk"]
    assert received.message["To"] == "alice <alice@council.gov.uk>"
    sent = run.json("audit", "log", "camhs")[-1]
    assert (sent["action"], sent["payload"]["email"]) == ("outbox.sent", "alice@council.gov.uk")
    assert [(r["status"], r["email"]) for r in run.json("outbox", "list")] == [("sent", "alice@council.gov.uk")]
    # sent once: neither a retry nor another run sends it again, to either address
    run("outbox", "retry", "1", expect=2)
    assert remind_run(run, T0.date().isoformat()).stdout.startswith(
        f"{T0.date()}: queued 0 reminders; 1 was already queued or sent.")
    assert len(smtp.received) == 1
    run("audit", "verify")


def test_a_queued_reminder_goes_to_the_address_the_person_has_when_it_is_sent(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    review_due(run, store)  # queued to alice@council.example, not sent yet
    run("people", "add", "alice", "--email", "alice@council.gov.uk")
    assert [r["email"] for r in run.json("outbox", "list")] == ["alice@council.gov.uk"]
    assert drain(store, T0).summary() == "sent 1"
    assert [m.rcpt_tos for m in smtp.received] == [["alice@council.gov.uk"]]
    # a row already sent keeps the address it went to, whatever the person's address becomes
    run("people", "add", "alice", "--email", "alice.b@council.gov.uk")
    assert [r["email"] for r in run.json("outbox", "list")] == ["alice@council.gov.uk"]
    (planned,) = run.json("remind", "--dry-run", "--as-of", T0.date().isoformat())["reminders"]
    assert (planned["status"], planned["email"]) == ("sent", "alice@council.gov.uk")


def test_every_reminders_toml_value_is_checked_before_anything_is_claimed(run: Cli, store: Store, home: Path) -> None:
    review_due(run, store)  # one row queued, waiting to be sent
    before = run.json("audit", "log")
    seconds = "must be a number of seconds, more than 0 and at most 60, e.g. 30"
    cases = [
        ('[smtp]\nhost = "127.0.0.1"\ntimeout = "abc"', "[smtp] timeout", seconds),
        ('[smtp]\nhost = "127.0.0.1"\ntimeout = 0', "[smtp] timeout", seconds),
        ('[smtp]\nhost = "127.0.0.1"\ntimeout = -1.5', "[smtp] timeout", seconds),
        ('[smtp]\nhost = "127.0.0.1"\ntimeout = true', "[smtp] timeout", seconds),
        ('[smtp]\nhost = "127.0.0.1"\nport = "smtp"', "[smtp] port", "must be a port number from 1 to 65535, e.g. 587"),
        ('[smtp]\nhost = "127.0.0.1"\nport = 70000', "[smtp] port", "must be a port number from 1 to 65535, e.g. 587"),
        ('[smtp]\nhost = "127.0.0.1"\nsecurity = "tls"', "[smtp] security",
         'must be one of: "starttls", "ssl", "none"'),
        ("[smtp]\nhost = 25", "[smtp] host", 'must be the server\'s name in quotes, e.g. "smtp.council.gov.uk"'),
        ('[smtp]\nhost = "127.0.0.1"\nhelo = ""', "[smtp] helo", "must be text in quotes"),
        ('[scheduler]\nat = "7am"', "[scheduler] at",
         'must be a time of day in quotes, HH:MM London time, e.g. "07:00"'),
        ("[scheduler]\ndrain_every_minutes = 0", "[scheduler] drain_every_minutes",
         "must be a whole number of minutes, from 1 to 1440"),
        ("[reminders]\nreview_lead_days = -1", "[reminders] review_lead_days",
         "must be a whole number of days, from 0 to 366"),
    ]
    for toml, key, rule in cases:
        (home / "reminders.toml").write_text(toml + "\n")
        expected = f"Error: {home / 'reminders.toml'}: {key} {rule}\n"
        for command in (["remind", "--dry-run"], ["remind", "run"], ["outbox", "send"], ["scheduler", "run"]):
            assert run(*command, expect=2).stderr == expected, (toml, command)
    assert rows(run) == [(1, "pending", "alice", 0)]  # not claimed, so not stuck in 'sending'
    assert run.json("audit", "log") == before
    (home / "reminders.toml").write_text('[smtp]\nhost = "127.0.0.1"\ntimeout = 2.5\nport = "2525"\n'
                                         'from = "reminders@council.example"\n')
    st = mail.smtp_settings()
    assert st is not None and (st.timeout, st.port) == (2.5, 2525)


def test_an_unexpected_error_while_sending_leaves_the_row_waiting_not_stuck(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    import dataclasses

    review_due(run, store)
    settings = mail.smtp_settings()
    assert settings is not None
    broken = mail.SmtpTransport(dataclasses.replace(settings, timeout=0))  # smtplib refuses a timeout of 0
    assert send.drain(store, actor="scheduler", transport=broken, now=T0).summary() == "sent 0, 1 waiting to retry"
    assert rows(run) == [(1, "pending", "alice", 1)]
    assert run.json("outbox", "list")[0]["last_error"] == (
        "could not send: ValueError: Non-blocking socket (timeout=0) is not supported")
    assert drain(store, T0 + timedelta(minutes=2)).summary() == "sent 1"
    assert len(smtp.received) == 1


class _Interrupted:
    """A transport stopped mid-send, as by Ctrl-C."""

    def describe(self) -> str:
        return "interrupted"

    def deliver(self, msg: EmailMessage, recipients: list[str]) -> mail.Delivery:
        raise KeyboardInterrupt


def test_a_sender_stopped_mid_send_hands_its_rows_back(run: Cli, store: Store, smtp: SmtpServer) -> None:
    review_due(run, store)
    with pytest.raises(KeyboardInterrupt):
        send.drain(store, actor="scheduler", transport=_Interrupted(), now=T0)
    assert rows(run) == [(1, "pending", "alice", 0)]  # not left 'sending' for ten minutes
    assert drain(store, T0).summary() == "sent 1"


def test_the_email_is_written_for_uk_readers_and_the_machine_readable_parts_keep_iso(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    review_due(run, store)  # Y-Q3 due by 31 December Y, queued on 20 December Y
    drain(store, T0)
    msg = smtp.received[0].message
    assert msg["Subject"] == f"Review due by 31 December {Y}: CAMHS Tiers 2 and 3 (camhs)"
    due_on = date(Y, 12, 31).strftime("%A %d December %Y").replace(" 0", " ")
    assert _parts(msg)["text/plain"] == (
        "Quarterly review due: CAMHS Tiers 2 and 3\n"
        "\n"
        "Service:            CAMHS Tiers 2 and 3 (camhs)\n"
        "Provider:           Trust X\n"
        "Contract reference: C-1\n"
        f"Quarter:            {Y}-Q3, October to December {Y} (financial year {Y}/{(Y + 1) % 100:02d})\n"
        f"Review due by:      {due_on}\n"
        "Days left:          11 days\n"
        "\n"
        f"Hold the quarterly contract review meeting for {Y}-Q3 by {due_on}, and record it once it has been held.\n"
        + ("" if date(Y, 12, 31).weekday() < 5 else
           f"\n{due_on} is a weekend day: hold the review by Friday {31 - date(Y, 12, 31).weekday() + 4} December "
           f"{Y}, the working day before.\n") +
        "\n"
        "At the meeting, review performance against the contract's indicators and targets, and note any under- or\n"
        "over-performance.\n"
        "\n"
        "The attached calendar entry marks the date, with an alarm the day before.\n"
        "\n"
        "--\n"
        f"Sent by cycle (camhs, review-due, {Y}-Q3). This reminder is sent once.\n")
    html = re.sub(r' style="[^"]*"', "", _parts(msg)["text/html"])
    assert f'<th scope="row">Review due by</th><td>{due_on}</td>' in html
    (part,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert f"DTSTART;VALUE=DATE:{Y}1231" in part.get_payload(decode=True).decode()
    (planned,) = run.json("remind", "--dry-run", "--as-of", T0.date().isoformat())["reminders"]
    assert planned["subject"] == f"Quarterly review due by {Y}-12-31"  # JSON keeps ISO dates


# --- what cron sees: an exit code ----------------------------------------------------------------

def test_remind_run_and_outbox_send_exit_1_when_anything_due_was_not_delivered_or_queued(
        run: Cli, smtp: SmtpServer) -> None:
    """Cron and monitoring see only the exit code: a run that left anything due unsent must not exit 0."""
    # on 31 December Y: the Y-Q3 review (alice), the 90-day rung (alice, sam); gina, the governance lead, is not
    # in the people list (she is told once the review is overdue)
    live_project(run, end=f"{Y + 1}-09-30", people=False)
    add_people(run, ("alice", "sam"))
    day = f"{Y}-12-31"
    smtp.stop()  # the server cannot be reached: nothing goes, everything waits to retry
    down = remind_run(run, day, expect=1)
    assert down.stdout.startswith(f"{day}: queued 3 reminders; 0 were already queued or sent.\n"
                                  f"Outbox: sent 0, 3 waiting to retry.")
    assert down.stderr.splitlines()[-1] == (
        "Error: 3 reminders due could not be delivered or queued: 3 waiting to retry (not accepted yet; see: "
        "cycle outbox list --status pending)")
    assert [r["status"] for r in run.json("outbox", "list")] == ["pending"] * 3
    smtp.start()
    # one recipient refused for good: the others go, and the run still says so
    smtp.handler.refuse = {"sam@council.example": "550 5.1.1 <sam@council.example>: Recipient address rejected"}
    for row in run.json("outbox", "list"):
        run("outbox", "retry", str(row["id"]))  # due again now, rather than after the backoff
    partly = run("outbox", "send", expect=1)
    assert partly.stdout.startswith("Outbox: sent 2, 1 failed.")
    assert partly.stderr.splitlines()[-1] == (
        "Error: 1 reminder due could not be delivered or queued: 1 failed (refused for good; see: cycle outbox "
        "list --status failed)")
    # nothing left to send: exit 0 (a failure already reported is not reported by every later run)
    assert run("outbox", "send").stdout.startswith("Outbox: sent 0.")
    # a recipient missing from the people list: the reminder cannot be queued; and sam's notice reminder, refused
    # for good, is still due (the 90-day rung until the 60-day one falls due): every run says so until it goes
    (sam,) = [r["id"] for r in run.json("outbox", "list", "--status", "failed")]
    missing = remind_run(run, f"{Y + 1}-01-08", expect=1)
    assert "Not sent: review-overdue camhs" in missing.stderr
    assert (f"  still failed #{sam} to sam <sam@council.example> (notice camhs {Y + 1}-03-31/90d, still due): 550 "
            f"5.1.1 <sam@council.example>: Recipient address rejected; retry with: cycle outbox retry {sam} (if the "
            f"address is wrong, first: cycle people add sam --email ADDRESS)") in missing.stderr.splitlines()
    assert missing.stderr.splitlines()[-1] == (
        "Error: 2 reminders due could not be delivered or queued: 1 not queued (nobody with an email to send it to; "
        "fix as said above, the next run sends it); 1 failed (refused for good; see: cycle outbox list --status "
        "failed)")
    assert remind_run(run, f"{Y + 1}-01-08", "--no-send", expect=1).stderr.splitlines()[-1].startswith(
        "Error: 2 reminders due could not be delivered or queued: 1 not queued")
    run("people", "add", "gina", "--email", "gina@council.example")
    assert remind_run(run, f"{Y + 1}-01-08", expect=1).stderr.splitlines()[-1] == (
        "Error: 1 reminder due could not be delivered or queued: 1 failed (refused for good; see: cycle outbox list "
        "--status failed)")
    smtp.handler.refuse = {}  # (sam's address put right at the server's end)
    run("outbox", "retry", str(sam))
    assert remind_run(run, f"{Y + 1}-01-08").stderr == ""


# --- addresses: validated when added; one that cannot be sent fails alone ------------------------

def test_an_internationalised_address_goes_by_smtputf8_or_fails_alone_and_the_rest_go(
        run: Cli, smtp: SmtpServer, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    live_project(run, end=f"{Y + 1}-09-30", people=False)
    # checked when added (email-validator): an internationalised address is one; these are not
    for bad, why in (("bob.@council.example", "An email address cannot have a period immediately before the @-sign."),
                     ("bob@council..example", "An email address cannot have two periods in a row.")):
        assert run("people", "add", "bob", "--email", bad, expect=2).stderr == (
            f"Error: --email {bad!r} is not an email address: {why} (e.g. alice@council.gov.uk)\n")
    assert run("people", "add", "alice", "--email", "zoë@council.gov.uk").stdout.startswith(
        "alice <zoë@council.gov.uk>")
    add_people(run, ("sam", "gina"))
    # on 31 December Y: the Y-Q3 review (to alice alone) and the 90-day notice rung (to alice and sam, one message)
    day = f"{Y}-12-31"
    plain = SmtpServer(enable_SMTPUTF8=False)  # a server that does not offer SMTPUTF8
    plain.start()
    try:
        monkeypatch.setenv("CYCLE_SMTP_PORT", str(plain.port))
        result = remind_run(run, day, expect=1)
    finally:
        plain.stop()
        monkeypatch.setenv("CYCLE_SMTP_PORT", str(smtp.port))
    assert "Traceback" not in result.stderr and "UnicodeEncodeError" not in result.stderr
    assert result.stdout.startswith(f"{day}: queued 3 reminders; 0 were already queued or sent.\n"
                                    f"Outbox: sent 1, 2 failed.")
    (notice,) = plain.received  # sam had his notice reminder; alice's address was left off it
    assert notice.rcpt_tos == ["sam@council.example"]
    assert notice.message["To"] == "sam <sam@council.example>"
    failed = run.json("outbox", "list", "--status", "failed")
    assert [(r["kind"], r["recipient"]) for r in failed] == [("review-due", "alice"), ("notice", "alice")]
    assert failed[0]["last_error"] == (
        f"zoë@council.gov.uk is an internationalised address, and SMTP 127.0.0.1:{plain.port} (none) does not offer "
        f"SMTPUTF8, which sending to it needs; give alice an ASCII address with: cycle people add alice --email "
        f"ADDRESS, then: cycle outbox retry {failed[0]['id']}")
    assert result.stderr.splitlines()[-1] == (
        "Error: 2 reminders due could not be delivered or queued: 2 failed (refused for good; see: cycle outbox "
        "list --status failed)")
    # a server that offers SMTPUTF8 (aiosmtpd does by default): the same rows, retried, go
    for row in failed:
        run("outbox", "retry", str(row["id"]))
    assert run("outbox", "send").stdout.startswith("Outbox: sent 2.")
    assert sorted(tuple(m.rcpt_tos) for m in smtp.received) == [("zoë@council.gov.uk",)] * 2
    assert {str(m.message["To"]) for m in smtp.received} == {"alice <zoë@council.gov.uk>"}
    # an address stored before addresses were validated (or edited by hand) fails alone, saying why
    db.tamper("UPDATE person SET email = 'gina@@council.example' WHERE name = 'gina'")
    late = remind_run(run, f"{Y + 1}-01-08", expect=1)  # the Y-Q3 review is overdue: to gina
    assert "Traceback" not in late.stderr
    (row,) = run.json("outbox", "list", "--status", "failed")
    assert (row["kind"], row["recipient"], row["last_error"]) == (
        "review-overdue", "gina",
        "'gina@@council.example' is not an email address (The part after the @-sign contains invalid characters: "
        f"'@'.); correct it with: cycle people add gina --email ADDRESS, then: cycle outbox retry {row['id']}")
    # (audit verify names the edit itself; an address stored by an older cycle is on the record as it is)
    assert "person #3 differs from its audit entry" in run("audit", "verify", expect=1).stderr
