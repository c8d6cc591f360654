"""A notice deadline on a weekend or bank holiday: the deadline stands, and every output says to serve by the
working day before (issue 15, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli

XMAS = ("Saturday 25 December 2027 is Christmas Day, a public holiday in England (on a weekend): "
        "serve notice by Friday 24 December 2027, the working day before.")


def _contract(run: Cli, end: str, notice: str = "6 months") -> None:
    run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "C-1", "--start", "2025-04-01",
        "--end", end, "--notice", notice, "--run-on", "12 months")


def test_christmas_day_deadline_is_stated_and_does_not_move(ready: Cli) -> None:
    _contract(ready, "2028-06-25")  # six months' notice: the last day to serve it is Saturday 25 December 2027
    out = ready("contract", "show", "camhs", "--as-of", "2027-10-01").stdout
    assert "  notice deadline 2027-12-25\n" in out
    assert f"                  {XMAS}\n" in out
    shown = ready.json("contract", "show", "camhs", "--as-of", "2027-10-01")
    assert shown["notice_deadline"] == "2027-12-25"
    assert shown["notice_deadline_advice"] == XMAS
    assert shown["notice_deadline_not_working_day"] == {"date": "2027-12-25", "holiday": "Christmas Day",
                                                         "act_by": "2027-12-24", "nation": "england"}
    due = ready("contracts", "due", "--as-of", "2027-10-01", "--within", "6m").stdout
    assert due.splitlines()[:2] == [
        "2027-12-25  notice deadline camhs              Trust X (C-1): Serve notice by 2027-12-25 (in 85 days) or the "
        "contract runs on to 2029-06-25.",
        f"            {XMAS}"]


def test_easter_monday_goes_back_past_good_friday_and_the_weekend(ready: Cli) -> None:
    _contract(ready, "2027-09-29")
    shown = ready.json("contract", "show", "camhs", "--as-of", "2027-01-04")
    assert shown["notice_deadline"] == "2027-03-29"
    assert shown["notice_deadline_advice"] == (
        "Monday 29 March 2027 is Easter Monday, a bank holiday in England: serve notice by Thursday 25 March 2027, "
        "the working day before.")


def test_a_plain_weekend_and_a_substitute_day(ready: Cli) -> None:
    _contract(ready, "2027-12-12")  # deadline Saturday 12 June 2027
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-01-04")["notice_deadline_advice"] == (
        "Saturday 12 June 2027 is a weekend day: serve notice by Friday 11 June 2027, the working day before.")
    ready("contract", "set", "camhs", "--end", "2028-06-27")  # deadline Monday 27 December 2027
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-10-01")["notice_deadline_advice"] == (
        "Monday 27 December 2027 is the bank holiday in England in place of Christmas Day: serve notice by "
        "Friday 24 December 2027, the working day before.")


def test_a_working_day_deadline_says_nothing_more(ready: Cli) -> None:
    _contract(ready, "2027-09-30")  # deadline Wednesday 31 March 2027
    out = ready("contract", "show", "camhs", "--as-of", "2027-01-04").stdout
    assert "working day before" not in out
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-01-04")["notice_deadline_advice"] is None


def test_once_notice_is_served_or_the_deadline_passed_there_is_no_advice(ready: Cli) -> None:
    _contract(ready, "2026-09-28")  # deadline Saturday 28 March 2026
    assert ready.json("contract", "show", "camhs", "--as-of", "2026-03-01")["notice_deadline_advice"] is not None
    passed = ready.json("contract", "show", "camhs", "--as-of", "2026-04-02")
    assert passed["status"] == "passed" and passed["notice_deadline_advice"] is None


def test_the_nation_is_a_setting(ready: Cli, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _contract(ready, "2028-05-30")  # deadline Tuesday 30 November 2027, St Andrew's Day
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-10-01")["notice_deadline_advice"] is None
    (home / "reminders.toml").write_text('[calendar]\nbank_holidays = "scotland"\n', encoding="utf-8")
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-10-01")["notice_deadline_advice"] == (
        "Tuesday 30 November 2027 is Saint Andrew's Day, a bank holiday in Scotland: serve notice by "
        "Monday 29 November 2027, the working day before.")
    monkeypatch.setenv("CYCLE_BANK_HOLIDAYS", "england")  # the environment wins over the file
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-10-01")["notice_deadline_advice"] is None


def test_working_day_notice_counts_the_nations_holidays(ready: Cli, home: Path) -> None:
    _contract(ready, "2027-12-03", notice="3 working days")
    # Fri 3, Thu 2 and Wed 1 December are the three working days after Tuesday 30 November, the deadline.
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-10-01")["notice_deadline"] == "2027-11-30"
    (home / "reminders.toml").write_text('[calendar]\nbank_holidays = "scotland"\n', encoding="utf-8")
    # In Scotland 30 November is St Andrew's Day, so the deadline is the working day before it.
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-10-01")["notice_deadline"] == "2027-11-29"


def test_a_bad_nation_is_refused(ready: Cli, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _contract(ready, "2028-06-25")
    (home / "reminders.toml").write_text('[calendar]\nbank_holidays = "france"\n', encoding="utf-8")
    err = ready("contract", "show", "camhs", expect=2).stderr
    assert err == (f'Error: {home / "reminders.toml"}: [calendar] bank_holidays must be one of: "england", '
                   f'"wales", "scotland", "northern-ireland"\n')
    (home / "reminders.toml").unlink()
    monkeypatch.setenv("CYCLE_BANK_HOLIDAYS", "atlantis")
    err = ready("contracts", "due", expect=2).stderr
    assert err == ("Error: CYCLE_BANK_HOLIDAYS 'atlantis' is not one of: england, wales, scotland, "
                   "northern-ireland\n")


def test_one_day_left_is_singular(ready: Cli) -> None:
    _contract(ready, "2027-09-30")  # deadline Wednesday 31 March 2027
    shown = ready.json("contract", "show", "camhs", "--as-of", "2027-03-30")
    assert shown["if_nothing_is_done"] == "Serve notice by 2027-03-31 (in 1 day) or the contract runs on to 2028-09-30."


def test_once_the_working_day_before_has_gone_by_the_advice_says_so(ready: Cli) -> None:
    """On the holiday itself the working day before is yesterday: the advice must not send anyone to it."""
    _contract(ready, "2028-06-25")
    gone = ("Saturday 25 December 2027 is Christmas Day, a public holiday in England (on a weekend), and the working "
            "day before it (Friday 24 December 2027) has gone by: serve notice by Saturday 25 December 2027 at the "
            "latest, and check the contract's terms for how a step taken on a non-working day counts.")
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-12-25")["notice_deadline_advice"] == gone
    assert ready.json("contract", "show", "camhs", "--as-of", "2027-12-24")["notice_deadline_advice"] == XMAS
    due = ready("contracts", "due", "--as-of", "2027-12-25", "--within", "6m").stdout
    assert f"            {gone}" in due.splitlines()


def test_every_place_the_deadline_is_stated_says_so(ready: Cli, tmp_path: Path) -> None:
    """contracts list, project show, the quarterly and gate-audit reports (Markdown, HTML, JSON) and the governance
    site each state the Christmas Day deadline with the one sentence contract show gives (contracts.Status)."""
    from .reminder_setup import on_day

    html_xmas = XMAS.replace("'", "&#39;")
    with on_day("2027-10-01"):
        _contract(ready, "2028-06-25")
        listed = ready("contracts", "list").stdout.splitlines()
        row = next(i for i, line in enumerate(listed) if "notice by 2027-12-25" in line)
        assert listed[row + 1] == f"{'':7}{XMAS}"  # under the row, past the key column
        assert f"    {XMAS}" in ready("project", "show", "camhs").stdout.splitlines()
        quarterly = ready("report", "quarterly", "--quarter", "2027-Q2").stdout
        assert (f"Serve notice by 2027-12-25 (in 85 days) or the contract runs on to 2029-06-25. {XMAS}\n\n## "
                in quarterly)
        assert ready.json("report", "quarterly", "--quarter", "2027-Q2")["deadlines"][0][
            "notice_deadline_advice"] == XMAS
        html = ready("report", "quarterly", "--quarter", "2027-Q2", "--format", "html").stdout
        assert html.count(html_xmas) == 2  # the deadlines table and the project's section
        audit = ready("report", "gate-audit").stdout
        assert f"notice deadline 2027-12-25 ({XMAS}), due" in audit
        assert ready.json("report", "gate-audit")["projects"][0]["contracts"][0]["notice_deadline_advice"] == XMAS
        assert html_xmas in ready("report", "gate-audit", "--format", "html").stdout
        ready("site", "build", "--out", str(tmp_path / "site"))
    page = (tmp_path / "site" / "projects" / "camhs.html").read_text(encoding="utf-8")
    assert page.count(html_xmas) == 2  # the contracts table and the dates ahead
    assert html_xmas in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


def test_a_working_day_deadline_is_listed_without_advice(ready: Cli) -> None:
    _contract(ready, "2027-09-30")  # deadline Wednesday 31 March 2027
    listed = ready("contracts", "list", "--as-of", "2027-01-04").stdout
    assert "notice by 2027-03-31" in listed and "working day" not in listed
