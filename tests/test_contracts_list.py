"""`cycle contracts list`: every contract with its project, reference, provider, dates, maximum end, value, notice
deadline and status; --status live|ended|all, --provider, --as-of; text, --json and --csv; and it streams."""

from __future__ import annotations

import csv
import io

import pytest

from .conftest import Cli, Database
from .test_decommissioning import _decommission
from .test_streaming import many_projects, piped_head


@pytest.fixture
def register(run: Cli) -> Cli:
    """camhs: live, with a maximum end; dental: ended on 31 March 2026 (it needed no notice); nursing: no terms
    beyond a provider (incomplete)."""
    run("init")
    run("project", "new", "camhs", "--title", "CAMHS Tiers 2 and 3")
    run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "CAMHS-2027-01", "--start", "2024-10-01",
        "--end", "2027-09-30", "--extension-to", "2029-09-30", "--value", "3.6m", "--annual-value", "1.2m",
        "--notice", "6 months", "--run-on", "12 months")
    run("project", "new", "dental", "--title", "Community dental")
    run("contract", "set", "dental", "--provider", "Smile  Ltd", "--ref", "D-1", "--start", "2023-04-01",
        "--end", "2026-03-31", "--notice", "3 months", "--if-no-notice", "ends", "--value", "250000")
    run("project", "new", "nursing", "--title", "School nursing")
    run("contract", "set", "nursing", "--provider", "trust x")
    return run


def test_the_default_is_the_live_contracts_on_the_day(register: Cli) -> None:
    out = register("contracts", "list", "--as-of", "2026-12-01").stdout
    assert out == ("camhs    open        2024-10-01 to 2027-09-30 (max 2029-09-30)  notice by 2027-03-31  "
                   "£3,600,000.00  CAMHS-2027-01  Trust X\n"
                   "nursing  incomplete  ? to ?  notice by ?  -  -  trust x\n")


def test_status_ended_and_all(register: Cli) -> None:
    ended = register("contracts", "list", "--status", "ended", "--as-of", "2026-12-01").stdout
    assert ended == ("dental   ended       2023-04-01 to 2026-03-31  notice by 2025-12-31  £250,000.00  D-1  "
                     "Smile  Ltd\n")
    every = register.json("contracts", "list", "--status", "all", "--as-of", "2026-12-01")
    assert [(c["project"], c["status"]) for c in every] == [("camhs", "open"), ("dental", "ended"),
                                                            ("nursing", "incomplete")]
    # before its end, dental was live
    assert [c["project"] for c in register.json("contracts", "list", "--as-of", "2026-01-01")] == \
        ["camhs", "dental", "nursing"]


def test_json_gives_each_contract_whole(register: Cli) -> None:
    [camhs] = register.json("contracts", "list", "--provider", "Trust X", "--as-of", "2026-12-01")[:1]
    assert camhs == {"project": "camhs", "ref": "CAMHS-2027-01", "provider": "Trust X", "start_on": "2024-10-01",
                     "end_on": "2027-09-30", "extension_end_on": "2029-09-30", "value_total": "3600000.00",
                     "value_annual": "1200000.00", "notice": "6 months", "notice_deadline_on": "2027-03-31",
                     "notice_served_on": None, "status": "open", "as_of": "2026-12-01", "funders": None,
                     "funding_pool": None, "funding_warning": None, "provider_contact": None}


def test_provider_matches_whatever_the_case_and_spacing(register: Cli) -> None:
    assert [c["project"] for c in register.json("contracts", "list", "--provider", "  TRUST x ")] == \
        ["camhs", "nursing"]
    assert [c["project"] for c in register.json("contracts", "list", "--provider", "smile ltd", "--status", "all")] \
        == ["dental"]
    result = register("contracts", "list", "--provider", "Trust Z", "--as-of", "2026-12-01")
    assert result.stdout == ("No live contracts with provider 'Trust Z' on 2026-12-01. "
                             "See them all with: cycle contracts list --status all\n")


def test_csv_is_rfc_4180_with_the_json_fields_as_columns(register: Cli) -> None:
    raw = register("contracts", "list", "--status", "all", "--as-of", "2026-12-01", "--csv").stdout_bytes.decode()
    assert raw.startswith("\ufeffproject,ref,provider,start_on,end_on,extension_end_on,value_total,value_annual,"
                          "notice,notice_deadline_on,notice_served_on,status,as_of,funders,funding_pool,"
                          "funding_warning,provider_contact\r\n")
    assert raw.count("\r\n") == 4 and raw.count("\n") == 4  # every line ends CRLF, and no bare LF anywhere
    got = list(csv.DictReader(io.StringIO(raw.removeprefix("\ufeff"), newline="")))
    shown = register.json("contracts", "list", "--status", "all", "--as-of", "2026-12-01")
    assert got == [{k: "" if v is None else v for k, v in row.items()} for row in shown]


def test_json_and_csv_together_are_refused(register: Cli) -> None:
    result = register("contracts", "list", "--json", "--csv", expect=2)
    assert (result.stdout, result.stderr) == ("", "Error: --json and --csv ask for two formats at once: choose one\n")


@pytest.mark.parametrize(("args", "line"), [
    (["--status", "gone"], "Error: Invalid value for '--status': 'gone' is not one of 'live', 'ended', 'all'. "
                           "See: cycle contracts list --help"),
    (["--as-of", "2026-13-01"], "Error: --as-of '2026-13-01' is not a date; use YYYY-MM-DD, e.g. 2027-03-31"),
    (["--provider", "Trust\x1b[2J"], "Error: --provider must be a single line of text (no control characters: "
                                     "tab, newline, escape ...)"),
])
def test_bad_options_are_one_line_and_exit_2(register: Cli, args: list[str], line: str) -> None:
    result = register("contracts", "list", *args, expect=2)
    assert result.stderr.splitlines()[-1] == line


@pytest.mark.parametrize(("which", "said"), [
    ("live", "No live contracts on 2026-12-01. See them all with: cycle contracts list --status all\n"),
    ("all", "No contracts yet. Record one with: cycle contract set KEY --provider NAME --start YYYY-MM-DD "
            "--end YYYY-MM-DD\n"),
])
def test_no_contracts(run: Cli, which: str, said: str) -> None:
    run("init")
    assert run("contracts", "list", "--status", which, "--as-of", "2026-12-01").stdout == said
    assert run.json("contracts", "list", "--status", which) == []
    assert run("contracts", "list", "--status", which, "--csv").stdout_bytes.count(b"\r\n") == 1  # the header alone


def test_a_decommissioning_project_does_not_list_its_services_contract_twice(ready: Cli) -> None:
    _decommission(ready)
    run = ready
    listed = run.json("contracts", "list", "--status", "all")
    assert len(listed) == 1 and listed[0]["project"] == "camhs"


def test_a_date_edited_by_hand_to_nonsense_is_shown_not_crashed_on(register: Cli, db: Database) -> None:
    db.tamper("UPDATE contract SET \"end\" = 'soon', value_total = 'lots' WHERE ref = 'CAMHS-2027-01'")
    out = register("contracts", "list", "--as-of", "2026-12-01").stdout
    assert out.splitlines()[0] == "camhs    incomplete  2024-10-01 to soon (max 2029-09-30)  notice by ?  lots  " \
                                  "CAMHS-2027-01  Trust X"


def test_the_list_streams_and_stops_early_when_the_reader_goes(run: Cli, db: Database) -> None:
    run("init")
    run("project", "new", "camhs", "--title", "CAMHS")
    many_projects(db, 3000)
    db.insert_on_record("contract", "INSERT INTO contract (project_id, provider, start, \"end\", notice, "
                                    "if_no_notice, updated_at) SELECT id, 'Trust X', '2025-04-01', '2028-03-31', "
                                    "'6 months', 'run-on', '2026-01-01T00:00:00Z' FROM project")
    for args, first, third in ((["contracts", "list"], "camhs   open", "p00001 "),
                               (["contracts", "list", "--csv"], "\ufeffproject,", "p00000,")):
        got, code, err = piped_head([*args, "--as-of", "2026-12-01"], lines=3)
        assert got[0].startswith(first) and got[2].startswith(third), got
        assert (err, code) == ("", 141)
    assert len(run.json("contracts", "list")) == 3001


@pytest.mark.sqlite_only
def test_a_name_that_is_not_utf8_is_shown_not_refused(register: Cli, db: Database) -> None:
    db.tamper("UPDATE contract SET provider = CAST(x'54727573ff58' AS TEXT) WHERE ref = 'CAMHS-2027-01'")
    assert register("contracts", "list").stdout.splitlines()[0].endswith("CAMHS-2027-01  Trus\ufffdX")
    assert register.json("contracts", "list")[0]["provider"] == "Trus\ufffdX"
    assert "Trus\ufffdX" in register("contracts", "list", "--csv").stdout


def test_an_amount_edited_to_a_huge_number_is_shown_as_written(register: Cli, db: Database) -> None:
    db.tamper("UPDATE contract SET value_total = '1e999999999' WHERE ref = 'CAMHS-2027-01'")
    assert "  1e999999999  CAMHS-2027-01" in register("contracts", "list").stdout
