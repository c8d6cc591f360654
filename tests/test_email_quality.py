"""Reminder emails a board member can act on (issue 15, item 17): heading, key facts, one sentence of what to
do and by when, the command only for people who use cycle, short subjects, a sender of the council's own, and
a calendar entry with an alarm that later messages update. Real SMTP (aiosmtpd) and real Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from cycle.db.store import Store, open_store
from cycle.notifications import send
from cycle.reminders import rules

from .conftest import Cli, Database
from .reminder_setup import live_project
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture
from .test_reports import browser, not_blank  # noqa: F401 - the browser fixture

# Six months' notice on a contract ending 25 June 2030: the last day to serve it is Christmas Day 2029, a Tuesday.
END, DEADLINE = "2030-06-25", date(2029, 12, 25)
XMAS = ("Tuesday 25 December 2029 is Christmas Day, a public holiday in England: serve notice by "
        "Monday 24 December 2029, the working day before.")


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = open_store()
    yield s
    s.dispose()


def _drain(store: Store, smtp: SmtpServer, as_of: date, now: datetime) -> list[EmailMessage]:
    before = len(smtp.received)
    rules.enqueue(store, as_of, actor="scheduler", today=as_of)
    send.drain(store, actor="scheduler", now=now)
    return [m.message for m in smtp.received[before:]]


def _by_kind(messages: list[EmailMessage]) -> dict[str, EmailMessage]:
    return {f"{m['X-Cycle-Reminder'].split()[1]} {m['X-Cycle-Reminder'].split()[2]}": m for m in messages}


def _text(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def _html(msg: EmailMessage) -> str:
    return msg.get_body(("html",)).get_content()  # type: ignore[union-attr]


def _calendar(msg: EmailMessage) -> Any | None:
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    if not parts:
        return None
    (event,) = Calendar.from_ical(parts[0].get_payload(decode=True)).walk("VEVENT")
    return event


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.:])\s+", " ".join(text.split())) if len(s.strip()) > 20]


@pytest.fixture
def christmas(run: Cli, store: Store, smtp: SmtpServer) -> Cli:
    live_project(run, start="2029-04-01", end=END)
    return run


def test_every_reminder_has_a_heading_key_facts_and_one_plain_sentence(christmas: Cli, store: Store,
                                                                     smtp: SmtpServer) -> None:
    sent = _by_kind(_drain(store, smtp, date(2029, 12, 18), datetime(2029, 12, 18, 7, tzinfo=UTC)))
    sent |= _by_kind(_drain(store, smtp, date(2029, 12, 26), datetime(2029, 12, 26, 7, tzinfo=UTC)))
    assert sorted(sent) == ["notice 2029-12-25/7d", "notice-passed 2029-12-25", "review-due 2029-Q3",
                            "review-overdue 2029-Q1", "review-overdue 2029-Q2"]

    notice = sent["notice 2029-12-25/7d"]
    assert notice["Subject"] == "Notice deadline in 7 days: CAMHS Tiers 2 and 3 (camhs)"
    assert _text(notice) == (
        "Notice deadline: CAMHS Tiers 2 and 3\n"
        "\n"
        "Service:            CAMHS Tiers 2 and 3 (camhs)\n"
        "Provider:           Trust X\n"
        "Contract reference: C-1\n"
        "Notice deadline:    Tuesday 25 December 2029\n"
        "Days left:          7 days\n"
        "Notice period:      6 months\n"
        "Contract ends:      Tuesday 25 June 2030\n"
        "\n"
        "If the service is to end, serve notice on Trust X by Tuesday 25 December 2029; otherwise the contract "
        "runs on to Wednesday 25 June 2031.\n"
        "\n"
        f"{XMAS}\n"
        "\n"
        "If the deadline passes with no notice recorded, you will get one last message, then no more.\n"
        "\n"
        "The attached calendar entry marks the date, with an alarm the day before.\n"
        "\n"
        "--\n"
        "Sent by cycle (camhs, notice, 2029-12-25/7d). This reminder is sent once.\n")

    review = sent["review-due 2029-Q3"]
    assert review["Subject"] == "Review due by 31 December 2029: CAMHS Tiers 2 and 3 (camhs)"
    text = _text(review)
    assert text.startswith("Quarterly review due: CAMHS Tiers 2 and 3\n\nService:            CAMHS Tiers 2 and 3 "
                           "(camhs)\nProvider:           Trust X\nContract reference: C-1\n")
    assert "Review due by:      Monday 31 December 2029\nDays left:          13 days\n" in text
    assert ("Hold the quarterly contract review meeting for 2029-Q3 by Monday 31 December 2029, and record it once "
            "it has been held.\n") in text

    passed = sent["notice-passed 2029-12-25"]
    assert passed["Subject"] == "Notice not served, contract runs on: CAMHS Tiers 2 and 3 (camhs)"
    assert "Notice deadline was: Tuesday 25 December 2029\nContract ends:       Tuesday 25 June 2030\n" in _text(passed)
    assert ("No notice was recorded by Tuesday 25 December 2029, so the contract runs on to Wednesday 25 June 2031: "
            "if notice was served, record it; if not, plan for the run-on.\n") in _text(passed)
    overdue = sent["review-overdue 2029-Q1"]
    assert "Days overdue:       171 days\n" in _text(overdue)

    for key, msg in sent.items():
        subject, text, html = str(msg["Subject"]), _text(msg), _html(msg)
        assert len("Subject: " + subject) <= 78 and subject == subject.strip(), (key, subject)  # one line, unfolded
        assert '<html lang="en-GB">' in html, key
        assert "((" not in text + html and "))" not in text + html, key
        sentences = _sentences(text)
        assert len(sentences) == len(set(sentences)), (key, sentences)
        assert re.search(r"^Service: +CAMHS Tiers 2 and 3 \(camhs\)$", text, re.M), key
        # nobody here holds a role in cycle: no command line for them
        assert "cycle " not in text.replace("Sent by cycle (", ""), (key, text)
        assert "With cycle" not in html and "<code" not in html, key


def test_the_command_is_a_secondary_line_only_for_people_who_use_cycle(christmas: Cli, store: Store,
                                                                         smtp: SmtpServer) -> None:
    christmas("people", "add", "alice", "--role", "manager")
    sent = _by_kind(_drain(store, smtp, date(2029, 12, 18), datetime(2029, 12, 18, 7, tzinfo=UTC)))
    review = _text(sent["review-due 2029-Q3"])  # to alice, who is a manager
    assert "\nWith cycle: cycle review record camhs --quarter 2029-Q3 --held-on YYYY-MM-DD\n" in review
    assert review.index("Hold the quarterly") < review.index("With cycle:")
    assert "With cycle: <code" in _html(sent["review-due 2029-Q3"])
    # the notice goes to alice and to sam, the SRO, who has no role: neither sees the command
    notice = sent["notice 2029-12-25/7d"]
    assert notice["To"] == "alice <alice@council.example>, sam <sam@council.example>"
    assert "With cycle" not in _text(notice) and "contract notice" not in _html(notice)
    assert "contract notice" not in str(_calendar(notice)["description"])


def test_the_calendar_entry_has_an_alarm_and_later_messages_update_it(christmas: Cli, store: Store,
                                                                        smtp: SmtpServer) -> None:
    first = _by_kind(_drain(store, smtp, date(2029, 11, 25), datetime(2029, 11, 25, 7, tzinfo=UTC)))
    later = _by_kind(_drain(store, smtp, date(2029, 12, 18), datetime(2029, 12, 18, 7, tzinfo=UTC)))
    one, two = _calendar(first["notice 2029-12-25/30d"]), _calendar(later["notice 2029-12-25/7d"])
    assert str(one["uid"]) == str(two["uid"]) and str(one["uid"]).endswith("@council.example")
    assert int(two["sequence"]) > int(one["sequence"]) >= 0
    assert two.decoded("dtstart") == DEADLINE
    (alarm,) = two.walk("VALARM")
    assert str(alarm["action"]) == "DISPLAY"
    # 09:00 the day before the day to serve by (Monday 24 December, as Christmas Day is a holiday)
    assert alarm.decoded("trigger") == -timedelta(days=2) + timedelta(hours=9)
    assert XMAS in " ".join(str(two["description"]).split())
    assert first["notice 2029-12-25/30d"]["Message-ID"].endswith("@council.example>")

    # Once the deadline has passed, the date that still matters is the end of the run-on.
    passed = _by_kind(_drain(store, smtp, date(2029, 12, 26), datetime(2029, 12, 26, 7, tzinfo=UTC)))
    run_on = _calendar(passed["notice-passed 2029-12-25"])
    assert run_on.decoded("dtstart") == date(2031, 6, 25)
    assert str(run_on["uid"]) != str(two["uid"]) and str(run_on["uid"]).endswith("@council.example")
    assert len(run_on.walk("VALARM")) == 1
    # An overdue review has no date left to act by: no calendar entry.
    overdue = first["review-overdue 2029-Q1"]
    assert _calendar(overdue) is None and "calendar" not in _text(overdue)


def test_gate_waiting_names_stages_by_their_titles(run: Cli, store: Store, smtp: SmtpServer) -> None:
    from .conftest import CAMHS

    run("init")
    run(*CAMHS)
    run("people", "add", "alice", "--email", "alice@council.example")
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    today = date.today()
    sent = _drain(store, smtp, today + timedelta(days=31), datetime.now(UTC))
    (msg,) = sent
    assert msg["Subject"] == "Waiting 31 days for a decision: CAMHS Tiers 2 and 3 (camhs)"
    text = _text(msg)
    assert "Stage:         Analyse\n" in text
    assert "Decision by:   Children's Trust Board\n" in text
    assert "Gate to Plan:  Analysis complete: agree priorities and move to planning\n" in text
    assert " analyse" not in text.split("\n--\n")[0]


def test_sending_by_smtp_without_a_sender_is_refused(run: Cli, smtp: SmtpServer,
                                                    monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    live_project(run, start="2029-04-01", end=END)
    monkeypatch.delenv("CYCLE_MAIL_FROM")
    result = run("remind", "run", "--as-of", date.today().isoformat(), expect=2)
    assert result.stderr == (
        "Error: sending by SMTP needs a From address on the council's domain, and none is set; nothing was queued "
        f"or sent. Set CYCLE_MAIL_FROM or [smtp] from in {home.parent / 'xdg-config' / 'cycle' / 'reminders.toml'}, "
        "e.g. 'Commissioning reminders "
        "<reminders@council.gov.uk>'\n")
    assert run.json("outbox", "list") == []
    run("outbox", "send", expect=2)
    (home / "reminders.toml").write_text('[smtp]\nfrom = "Reminders <reminders@council.example>"\n')
    run("outbox", "send")
    # The Maildir (no SMTP server) keeps its default sender: nothing leaves the machine.
    monkeypatch.delenv("CYCLE_SMTP_HOST")
    (home / "reminders.toml").unlink()
    run("outbox", "send")


def _on_a_phone(chromium: Any, path: Path) -> tuple[Any, list[str]]:
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(r.url) if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    return page, errors


def test_the_html_part_reads_on_a_phone_in_chromium(christmas: Cli, store: Store, smtp: SmtpServer,
                                                    browser: Any, tmp_path: Path) -> None:  # noqa: F811
    christmas("project", "set", "camhs", "--title",
              "Child and Adolescent Mental Health Services Tiers 2 and 3 <script>window.pwned = 1</script>")
    sent = _by_kind(_drain(store, smtp, date(2029, 12, 18), datetime(2029, 12, 18, 7, tzinfo=UTC)))
    for key in ("notice 2029-12-25/7d", "review-due 2029-Q3"):
        path = tmp_path / f"{key.split()[0]}.html"
        path.write_text(_html(sent[key]), encoding="utf-8")
        page, errors = _on_a_phone(browser, path)
        png = page.screenshot(full_page=True)
        assert errors == [] and not_blank(png)
        assert page.evaluate("window.pwned") is None
        assert page.evaluate("document.documentElement.lang") == "en-GB"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, key
        seen = " ".join(page.inner_text("body").split())
        assert "Child and Adolescent Mental Health Services Tiers 2 and 3 <script>" in page.inner_text("h1")
        subject = str(sent[key]["Subject"])  # a long title: folded by the email library, read back whole
        assert subject.endswith("Tiers 2 and 3 <script>window.pwned = 1</script> (camhs)") and "\n" not in subject
        for fact in ("Provider Trust X", "Contract reference C-1"):
            assert fact in seen, (key, seen)
        if key.startswith("notice"):
            assert "Notice deadline Tuesday 25 December 2029" in seen and "Days left 7 days" in seen
            assert XMAS in seen
        else:
            assert "Review due by Monday 31 December 2029" in seen and "Days left 13 days" in seen
        page.close()


def test_a_queued_reminder_edited_by_hand_waits_and_the_others_go(christmas: Cli, store: Store, smtp: SmtpServer,
                                                                 db: Database) -> None:
    rules.enqueue(store, date(2029, 12, 18), actor="scheduler", today=date(2029, 12, 18))
    db.tamper("UPDATE outbox SET context = :c WHERE kind = 'notice'",
              params={"c": json.dumps({"title": "CAMHS", "project": "camhs", "deadline": "31/12/2029"})})
    drained = send.drain(store, actor="scheduler", now=datetime(2029, 12, 18, 7, tzinfo=UTC))
    assert drained.summary() == "sent 3, 2 waiting to retry"  # the two notice rows (alice, sam) wait
    assert sorted(m.message["X-Cycle-Reminder"].split()[1] for m in smtp.received) == [
        "review-due", "review-overdue", "review-overdue"]
    waiting = [r for r in christmas.json("outbox", "list") if r["status"] == "pending"]
    assert {r["kind"] for r in waiting} == {"notice"}
    assert {r["last_error"] for r in waiting} == {
        "template notice: the queued reminder's details cannot be read (ValueError: Invalid isoformat string: "
        "'31/12/2029'); nothing was sent"}


def test_a_bad_nation_in_the_environment_stops_sending_before_anything_is_claimed(
        christmas: Cli, store: Store, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    rules.enqueue(store, date(2029, 12, 18), actor="scheduler", today=date(2029, 12, 18))
    monkeypatch.setenv("CYCLE_BANK_HOLIDAYS", "Wales ")
    err = christmas("outbox", "send", expect=2).stderr
    assert err == "Error: CYCLE_BANK_HOLIDAYS 'Wales ' is not one of: england, wales, scotland, northern-ireland\n"
    assert {r["status"] for r in christmas.json("outbox", "list")} == {"pending"}
    assert smtp.received == []


def test_an_unbroken_long_title_still_fits_a_phone(christmas: Cli, store: Store, smtp: SmtpServer,
                                                   browser: Any, tmp_path: Path) -> None:  # noqa: F811
    christmas("project", "set", "camhs", "--title", "Commissioning" * 12)
    sent = _by_kind(_drain(store, smtp, date(2029, 12, 18), datetime(2029, 12, 18, 7, tzinfo=UTC)))
    path = tmp_path / "notice.html"
    path.write_text(_html(sent["notice 2029-12-25/7d"]), encoding="utf-8")
    page, errors = _on_a_phone(browser, path)
    assert errors == [] and page.evaluate("document.documentElement.scrollWidth") <= 390
    assert "Commissioning" * 12 in page.inner_text("h1").replace("\n", "")
    page.close()



def test_a_kind_with_its_own_templates_gets_the_bare_facts() -> None:
    """A kind added later (a gate request, say) has its own templates; whatever it stores, the facts do not fail."""
    from cycle.notifications import render

    got = render.facts("gate-request", {"project": "camhs", "summary": "Decide the gate"}, "england")
    assert (got.heading, got.facts, got.action) == ("Decide the gate", [("Service", "camhs (camhs)")],
                                                    "Decide the gate")


@pytest.mark.parametrize("sender", ["reminders@councíl.example", "zoë@council.example",
                                    "a@council.example, b@council.example", "reminders@council.example>",
                                    "@council.example", "Reminders <reminders@>"])
def test_a_from_address_that_is_not_one_is_refused_before_anything_is_queued(run: Cli, smtp: SmtpServer, home: Path,
                                                                            monkeypatch: pytest.MonkeyPatch,
                                                                            sender: str) -> None:
    """An internationalised sender stopped every reminder with a UnicodeEncodeError (each retried for ever);
    two addresses, a stray '>' or an empty part went out as a From header no mail client reads."""
    from cycle.calendar.dates import add_months

    deadline = date.today() + timedelta(days=7)  # the 7-day notice reminder is due today
    live_project(run, start="2025-04-01", end=add_months(deadline, 6).isoformat())
    monkeypatch.setenv("CYCLE_MAIL_FROM", sender)
    for args in (["remind", "run"], ["remind", "--dry-run"]):
        result = run(*args, expect=2)
        assert result.stderr.startswith(f"Error: the From address {sender!r} is not an address cycle can send from"), \
            result.stderr
    assert run.json("outbox", "list") == [] and smtp.received == []
    for transport in ("smtp", "maildir"):
        if transport == "maildir":
            monkeypatch.delenv("CYCLE_SMTP_HOST")
        assert run("remind", "run", expect=2).stderr.startswith("Error: the From address ")
    assert run.json("outbox", "list") == []
    monkeypatch.setenv("CYCLE_MAIL_FROM", "Zoë at the council <reminders@xn--councl-hta.example>")
    run("remind", "run")
    assert {r["status"] for r in run.json("outbox", "list")} == {"sent"}


def test_the_calendar_entry_says_its_charset_so_a_title_beyond_ascii_reads_as_written(run: Cli,
                                                                                     smtp: SmtpServer) -> None:
    """MIME reads a text part without a charset as US-ASCII: 'Café' came out 'Caf��' in a mail client that
    shows the entry from the message (as Outlook does)."""
    from cycle.calendar.dates import add_months

    deadline = date.today() + timedelta(days=7)
    live_project(run, start="2025-04-01", end=add_months(deadline, 6).isoformat(), title="Café – adults’ services")
    run("remind", "run")
    [part] = [p for m in smtp.received for p in m.message.walk() if p.get_content_type() == "text/calendar"][:1]
    assert part.get_content_charset() == "utf-8"
    assert "SUMMARY:Notice deadline: Café – adults’ services (camhs)" in part.get_content()


def test_a_changed_deadline_moves_the_calendar_entry_instead_of_leaving_the_old_one(christmas: Cli, store: Store,
                                                                                     smtp: SmtpServer) -> None:
    first = _by_kind(_drain(store, smtp, date(2029, 11, 25), datetime(2029, 11, 25, 7, tzinfo=UTC)))
    christmas("contract", "set", "camhs", "--end", "2030-07-25")  # six months' notice: now by 25 January 2030
    later = _by_kind(_drain(store, smtp, date(2029, 12, 26), datetime(2029, 12, 26, 7, tzinfo=UTC)))
    old, new = _calendar(first["notice 2029-12-25/30d"]), _calendar(later["notice 2030-01-25/30d"])
    assert new.decoded("dtstart") == date(2030, 1, 25)
    assert str(new["uid"]) == str(old["uid"])  # the same entry, moved
    assert int(new["sequence"]) > int(old["sequence"])
