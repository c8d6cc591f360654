"""Adversarial review of issue 15 ("Close every leak") as built on main: a careless operator, a team member with a
text editor and their own login, and a hostile input. Each test goes through the real CLI and fails on the code it
was written against (marked xfail, strict, until it is fixed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import Cli, Database
from .reminder_setup import on_day, to_do
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

# A contract whose notice deadline is Christmas Day 2027 (a Saturday): 25 March 2028 less 3 months.
CHRISTMAS = ("--provider", "Trust X", "--ref", "C-1", "--start", "2025-04-01", "--end", "2028-03-25", "--notice",
             "3 months", "--run-on", "12 months")
ADVICE = "serve notice by Friday 24 December 2027"


@pytest.fixture
def christmas(ready: Cli) -> Cli:
    """camhs at `do`, its contract's notice deadline Saturday 25 December 2027, the clock on 1 October 2027."""
    with on_day("2027-10-01"):
        ready("contract", "set", "camhs", *CHRISTMAS)
        to_do(ready)
        shown = ready("contract", "show", "camhs").stdout
    assert "notice deadline 2027-12-25" in shown and ADVICE in shown  # where it is said today
    return ready


def test_the_quarterly_report_says_a_notice_deadline_falls_on_a_bank_holiday(christmas: Cli) -> None:
    # cycle report quarterly --quarter 2027-Q2 prints, under "Notice deadlines in the next two quarters":
    #   - 2027-12-25 CAMHS Tiers 2 and 3 (camhs), Trust X (C-1): Serve notice by 2027-12-25 (in 86 days) or ...
    # and nothing else: the board reads Christmas Day as the day to act by.
    with on_day("2027-10-01"):
        report = christmas("report", "quarterly", "--quarter", "2027-Q2").stdout
    line = next(li for li in report.splitlines() if "2027-12-25" in li)
    assert ADVICE in report, line


@pytest.mark.parametrize("command", [("contracts", "list"), ("project", "show", "camhs")])
def test_every_listing_of_a_notice_deadline_says_it_falls_on_a_bank_holiday(christmas: Cli,
                                                                            command: tuple[str, ...]) -> None:
    # cycle contracts list:  camhs  live  2025-04-01 to 2028-03-25  notice by 2027-12-25  -  C-1  Trust X
    # cycle project show camhs:  contract  Trust X C-1, ends 2028-03-25; Serve notice by 2027-12-25 (in 85 days) ...
    with on_day("2027-10-01"):
        out = christmas(*command).stdout
    assert "2027-12-25" in out
    assert ADVICE in out


@pytest.mark.parametrize("address", ["sean.o'neill@council.example", "o'brien@council.example"])
def test_an_address_with_an_apostrophe_is_accepted_and_sent_to(ready: Cli, smtp: SmtpServer, address: str) -> None:
    # cycle people add sean --email "sean.o'neill@council.example"
    #   Error: --email "sean.o'neill@council.example" is not an email address (e.g. alice@council.gov.uk)   (exit 2)
    ready("people", "add", "alice", "--email", address)
    with on_day("2027-10-01"):
        ready("contract", "set", "camhs", *CHRISTMAS)
        to_do(ready)
    with on_day("2027-11-30"):  # the notice deadline 25 days ahead
        ready("remind", "run", "--as-of", "2027-11-30", expect=None)
    assert [address] in [r.rcpt_tos for r in smtp.received]


def test_an_approver_who_asked_for_the_gate_is_not_asked_to_decide_it(ready: Cli, smtp: SmtpServer) -> None:
    # xena and yuri approve for the Children's Trust Board. xena asks (cycle gate request camhs), then yuri does:
    #   Emailing the approvers: xena <xena@council.example>.
    # xena is emailed "Decision requested on analyse-plan ..." with the command to record it, which then fails:
    #   Error: separation of duties: xena asked for gate analyse-plan and may not decide it ...  (exit 6)
    body = "Children's Trust Board"
    for name in ("xena", "yuri"):
        ready("people", "add", name, "--email", f"{name}@council.example", "--role", "approver", "--body", body)
    ready("gate", "request", "camhs", user="xena")
    second = ready("gate", "request", "camhs", user="yuri").stdout
    ready("outbox", "send", expect=None)
    asked = sorted(rcpt for r in smtp.received for rcpt in r.rcpt_tos)
    refused = ready("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", body,
                    "--ref", "minutes 1", user="xena", expect=6).stderr
    assert "may not decide it" in refused
    assert "xena" not in second
    assert asked == ["yuri@council.example"]


@pytest.mark.parametrize("where", ["folder", "fifo"])
def test_a_database_url_naming_a_folder_or_a_fifo_is_bad_input(run: Cli, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    # CYCLE_DATABASE_URL=sqlite:////srv/cycle cycle init    (a folder: a path typed without its file name)
    #   Error: database error (unable to open database file); nothing was written.   (exit 5)
    # CYCLE_DATABASE_URL=sqlite:////dev/null cycle init     (or a FIFO: not a regular file)
    #   Error: database error (disk I/O error); nothing was written.   (exit 5)
    # and, as root, /dev/null-journal is left behind.
    path = tmp_path / where
    if where == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)
    monkeypatch.setenv("CYCLE_DATABASE_URL", f"sqlite:///{path}")
    said = run("init", expect=None)
    assert (said.exit_code, said.stderr.count("\n")) == (2, 1), said.stderr
    assert "CYCLE_DATABASE_URL" in said.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(where)) == [where]  # nothing beside it


@pytest.mark.parametrize("ref", ["\U000e0041\U000e0042", "\ufe0f", "\u180b", "\u0301", "\u2800",
                                 "minutes 1\U000e0070\U000e0061\U000e0069\U000e0064"])
def test_text_that_looks_empty_or_hides_text_is_refused(ready: Cli, db: Database, ref: str) -> None:
    # cycle evidence add camhs needs-assessment --ref $'\U000E0041\U000E0042'
    #   Recorded evidence #1 needs-assessment for camhs, cycle 1:          (exit 0: the reference looks empty)
    # and "minutes 1" followed by tag characters spelling "paid" shows as "minutes 1" everywhere it is listed.
    before = db.dump()
    said = ready("evidence", "add", "camhs", "needs-assessment", "--ref", ref, expect=None)
    assert said.exit_code == 2, said.stdout
    assert db.dump() == before
