"""Adversarial review of issue 17 parts 1, 2, 3 and 5 (indicators, status, returns, review meetings, actions):
what a careless operator or a provider's return file did to `cycle kpi`, `cycle action` and `cycle review record`,
each through the real CLI.

Quarters are financial (2025-Q3 is October to December 2025) and in the past; reads name their day with --as-of.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli, Database

ON = "2026-01-31"
RTT = ("--title", "Referral to treatment within 4 weeks", "--unit", "%", "--target", "92", "--better", "higher",
       "--tolerance", "5", "--over", "10")


@pytest.fixture
def camhs(run: Cli) -> Cli:
    """camhs, with a contract from 1 April 2024 and the worked example's indicator rtt-4wk."""
    run("init")
    run("project", "new", "camhs", "--title", "CAMHS", "--owner", "alice")
    run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "CR-1", "--start", "2024-04-01", "--end",
        "2028-03-31", "--notice", "6 months")
    run("kpi", "add", "camhs", "rtt-4wk", *RTT)
    return run


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


# --- the same indicator twice in one return ------------------------------------------------------------------------

def test_a_return_with_one_value_twice_and_a_note_only_on_the_second_row_is_refused(camhs: Cli, db: Database,
                                                                                      tmp_path: Path) -> None:
    """The second row's note was dropped without a word: the file imported '2 rows, 1 new' and the provider's
    note was nowhere. Two rows for one quarter that do not say the same thing are refused, naming both lines."""
    f = _write(tmp_path / "r.csv", "project,kpi,quarter,value,note\ncamhs,rtt-4wk,2025-Q2,90,\n"
                                   "camhs,rtt-4wk,2025-Q2,90,two staff vacancies\n")
    before = db.dump()
    assert camhs("kpi", "import", str(f), expect=2).stderr == (
        f"Error: {f}: line 3: rtt-4wk of camhs for 2025-Q2 is also on line 2, with the same value and another "
        f"note (none there, here 'two staff vacancies'); nothing was imported\n")
    assert db.dump() == before


def test_two_rows_with_the_same_value_and_different_notes_do_not_claim_the_values_differ(camhs: Cli,
                                                                                          tmp_path: Path) -> None:
    """It said 'with another value (90, here 90)'."""
    f = _write(tmp_path / "r.csv", "project,kpi,quarter,value,note\ncamhs,rtt-4wk,2025-Q2,90,vacancies\n"
                                   "camhs,rtt-4wk,2025-Q2,90.0,sickness\n")
    assert camhs("kpi", "import", str(f), expect=2).stderr == (
        f"Error: {f}: line 3: rtt-4wk of camhs for 2025-Q2 is also on line 2, with the same value and another "
        f"note ('vacancies' there, here 'sickness'); nothing was imported\n")


def test_the_same_row_twice_and_a_row_repeated_without_its_note_still_import(camhs: Cli, db: Database,
                                                                             tmp_path: Path) -> None:
    f = _write(tmp_path / "r.csv", "project,kpi,quarter,value,note\ncamhs,rtt-4wk,2025-Q2,90,vacancies\n"
                                   "camhs,rtt-4wk,2025-Q2,90,vacancies\ncamhs,rtt-4wk,2025-Q2,90,\n")
    assert camhs("kpi", "import", str(f)).stdout == f"Imported {f}: 3 rows, 1 new, 0 replaced, 0 already recorded.\n"
    assert db.rows("SELECT quarter, value, note FROM kpi_value") == [("2025-Q2", "90", "vacancies")]


# --- a note added to a value recorded without one --------------------------------------------------------------------

def test_adding_a_note_to_a_value_says_it_had_none_not_the_note_none(camhs: Cli, db: Database) -> None:
    camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q2", "--value", "90")
    before = db.dump()
    assert camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q2", "--value", "90", "--note", "late",
                 expect=2).stderr == (
        "Error: rtt-4wk of camhs for 2025-Q2 is already recorded as 90 with no note (by alice); to change it to 90 "
        "give --replace (the audit entry keeps the old value)\n")
    assert db.dump() == before


# --- a value for a quarter the contract did not run ------------------------------------------------------------------

def test_a_value_for_a_quarter_outside_the_contract_is_refused_not_hidden(camhs: Cli, db: Database,
                                                                          tmp_path: Path) -> None:
    """2023-Q3 typed for 2025-Q3: it was recorded, never judged or shown (the quarter is outside the contract), and
    2025-Q3 stayed no-return. The same through a return file."""
    before = db.dump()
    assert camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2023-Q3", "--value", "90", expect=2).stderr == (
        "Error: 2023-Q3 is outside the contract CR-1 of camhs, "
        "which runs from 2024-04-01 to 2028-03-31: a value for it would never be judged; is the quarter right?\n")
    f = _write(tmp_path / "r.csv", "project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q3,90\ncamhs,rtt-4wk,2023-Q3,90\n")
    assert camhs("kpi", "import", str(f), expect=2).stderr.startswith(
        f"Error: {f}: line 3: 2023-Q3 is outside the contract CR-1")
    assert db.dump() == before
    camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2024-Q1", "--value", "90")  # its first quarter


# --- a thousands separator in a semicolon file -------------------------------------------------------------------

def test_a_point_as_thousands_separator_in_a_semicolon_file_is_not_read_as_a_decimal(camhs: Cli, db: Database,
                                                                                     tmp_path: Path) -> None:
    """A spreadsheet that writes 87,5 (the semicolon files the docs promise to read) writes 1250 as 1.250 when the
    cell shows a thousands separator: it was imported as 1.25, a thousand times too small, without a word."""
    camhs("kpi", "add", "camhs", "contacts", "--title", "Contacts in the quarter", "--better", "higher",
          "--target", "1000")
    f = _write(tmp_path / "r.csv", "project;kpi;quarter;value\r\ncamhs;rtt-4wk;2025-Q2;87,5\r\n"
                                   "camhs;contacts;2025-Q2;1.250\r\n")
    before = db.dump()
    assert camhs("kpi", "import", str(f), expect=2).stderr == (
        f"Error: {f}: line 3: value '1.250' in a file that writes decimals with a comma: is it 1250 or 1,25? write "
        f"1250, or 1,25; nothing was imported\n")
    assert db.dump() == before
    g = _write(tmp_path / "g.csv", "project;kpi;quarter;value\r\ncamhs;rtt-4wk;2025-Q2;87,5\r\n"
                                   "camhs;contacts;2025-Q2;1250\r\ncamhs;contacts;2025-Q3;0.125\r\n")
    camhs("kpi", "import", str(g))
    assert sorted(db.rows("SELECT quarter, value FROM kpi_value")) == [("2025-Q2", "1250"), ("2025-Q2", "87.5"),
                                                                       ("2025-Q3", "0.125")]


# --- a hand-edited action ------------------------------------------------------------------------------------------

def test_action_done_on_an_action_whose_time_of_adding_was_edited_by_hand_is_one_line(camhs: Cli,
                                                                                       db: Database) -> None:
    """It was a traceback (ValueError: Invalid isoformat string)."""
    camhs("action", "add", "camhs", "Recovery plan", "--owner", "alice", "--due", "2026-03-31")
    db.tamper("UPDATE action SET created_at = 'garbage' WHERE id = 1")
    before = db.dump()
    assert camhs("action", "done", "camhs", "1", expect=2).stderr == (
        "Error: action #1's time of adding, 'garbage', is not a time cycle wrote; see: cycle audit verify\n")
    assert db.dump() == before
    assert "action #1 differs from its audit entry" in camhs("audit", "verify", expect=1).stderr


# --- a target changed from a quarter already judged ------------------------------------------------------------------

def test_a_target_set_from_a_quarter_already_judged_and_reviewed_is_refused(camhs: Cli, db: Database) -> None:
    """2025-Q1 typed for 2026-Q1 would judge every quarter since again against 85, and `kpi show` would no longer
    say what the 2025-Q3 review's snapshot says (near against 92): refused, naming the meeting; from the quarter
    after the review it is a change like any other."""
    for quarter in ("2025-Q1", "2025-Q2", "2025-Q3"):
        camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", quarter, "--value", "88")
    camhs("review", "record", "camhs", "--quarter", "2025-Q3", "--held-on", "2026-01-10")
    before = db.dump()
    for start in ("2025-Q1", "2025-Q3"):
        assert camhs("kpi", "set", "camhs", "rtt-4wk", "--from", start, "--target", "85", expect=2).stderr == (
            f"Error: rtt-4wk of camhs was reviewed for 2025-Q3 (meeting held on 2026-01-10) against the terms then in "
            f"force; a change from {start} would judge that quarter again: set it from 2025-Q4 or later\n")
    assert db.dump() == before
    shown = camhs.json("kpi", "show", "camhs")
    camhs("kpi", "set", "camhs", "rtt-4wk", "--from", "2025-Q4", "--target", "85")
    assert db.dump() != before and camhs.json("kpi", "show", "camhs") != shown


# --- a return with no header -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [",,,\r\n", ";;;\n;;;\n", "sep=,\n", "sep=;\n\n;;\n"])
def test_a_return_of_empty_cells_or_only_excels_sep_line_is_one_line(camhs: Cli, db: Database, tmp_path: Path,
                                                                     content: str) -> None:
    """Each was a traceback (StopIteration) from kpi import, --dry-run or not."""
    f = _write(tmp_path / "r.csv", content)
    before = db.dump()
    for extra in ((), ("--dry-run",)):
        assert camhs("kpi", "import", str(f), *extra, expect=2).stderr == (
            f"Error: {f}: the file has no header line; a return has a header line (project,kpi,quarter,value) and "
            f"a row per value\n")
    assert db.dump() == before


def test_blank_lines_before_excels_sep_line_are_skipped(camhs: Cli, db: Database, tmp_path: Path) -> None:
    """The blank line was taken for the sep= line, and the sep= line for the header."""
    f = _write(tmp_path / "r.csv", "\r\nsep=;\r\nproject;kpi;quarter;value\r\ncamhs;rtt-4wk;2025-Q2;87,5\r\n")
    camhs("kpi", "import", str(f))
    assert db.rows("SELECT quarter, value FROM kpi_value") == [("2025-Q2", "87.5")]


# --- a change set before one already set -----------------------------------------------------------------------------

def test_a_change_from_before_a_later_change_says_where_it_stops(camhs: Cli) -> None:
    """A tolerance changed from 2025-Q3 after a target change from 2026-Q1 was set: from 2026-Q1 the later change's
    terms (tolerance 5) hold again. It said only 'from 2025-Q3: ... tolerance 3', as if for good."""
    camhs("kpi", "set", "camhs", "rtt-4wk", "--from", "2026-Q1", "--target", "95")
    assert camhs("kpi", "set", "camhs", "rtt-4wk", "--from", "2025-Q3", "--tolerance", "3").stdout == (
        "Indicator rtt-4wk of camhs from 2025-Q3: target 92 (higher is better), tolerance 3, over 10 (was target 92 "
        "(higher is better), tolerance 5, over 10). It holds until 2026-Q1, from which the change already set holds: "
        "target 95 (higher is better), tolerance 5, over 10.\n")
    (view,) = camhs.json("kpi", "show", "camhs", "--as-of", "2026-07-31", "--last", "2026-Q1", "--quarters", "3")
    assert [(q["quarter"], q["target"], q["tolerance"]) for q in view["quarters"]] == [
        ("2025-Q3", "92", "3"), ("2025-Q4", "92", "3"), ("2026-Q1", "95", "5")]
