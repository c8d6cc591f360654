"""Who pays (issue 16 part 2): a contract's funding split across organisations by share or by amount, optionally
within a pooled budget; refused unless it adds up; replaced and cleared as audited changes; shown by contract show,
project show, contracts list and the quarterly report; on the record, so a share changed by hand is named."""

from __future__ import annotations

import csv
import io

import pytest

from .conftest import Cli, Database

NCC, ICB = "Nottinghamshire County Council", "NHS Nottingham and Nottinghamshire ICB"
POOL = "Section 75 CYP pool"
SPLIT = ["--funder", NCC, "--share", "60%", "--funder", ICB, "--share", "40%"]


@pytest.fixture
def funded(ready: Cli) -> Cli:
    """camhs with one contract worth £1,200,000, not yet funded."""
    ready("contract", "set", "camhs", "--provider", "Trust X", "--ref", "C-1", "--start", "2025-04-01", "--end",
          "2028-03-31", "--value", "£1,200,000", "--notice", "6 months")
    return ready


def test_a_split_by_shares_within_a_pool_is_recorded_and_shown_everywhere(funded: Cli) -> None:
    out = funded("contract", "fund", "camhs", *SPLIT, "--pool", POOL).stdout
    assert out == f"Funding of camhs's contract C-1: {NCC} 60%; {ICB} 40% within {POOL}.\n"
    assert f"  funded by       {NCC} 60%; {ICB} 40% (within {POOL})\n" in funded("contract", "show", "camhs").stdout
    shown = funded.json("contract", "show", "camhs")["funding"]
    assert shown == {"by": "share", "pool": POOL, "total": "100", "warning": None, "funders": [
        {"funder": NCC, "share": "60", "amount": None}, {"funder": ICB, "share": "40", "amount": None}]}
    assert funded.json("project", "show", "camhs")["contracts"][0]["funding"] == shown
    assert f"    funded by       {NCC} 60%; {ICB} 40% (within {POOL})\n" in funded("project", "show", "camhs").stdout
    listed = funded.json("contracts", "list")[0]
    assert (listed["funders"], listed["funding_pool"], listed["funding_warning"]) == (
        f"{NCC} 60%; {ICB} 40%", POOL, None)
    table = list(csv.DictReader(io.StringIO(funded("contracts", "list", "--csv").stdout.lstrip("\ufeff"))))
    assert (table[0]["funders"], table[0]["funding_pool"]) == (f"{NCC} 60%; {ICB} 40%", POOL)
    entry = funded.json("audit", "log", "camhs")[-1]
    assert (entry["action"], entry["payload"]["contract_ref"], entry["payload"]["old"]) == (
        "contract.fund", "C-1", None)
    assert [f["share"] for f in entry["payload"]["new"]["funders"]] == ["60", "40"]
    assert funded("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_replacing_a_split_is_one_audited_change_and_clear_is_audited(funded: Cli, db: Database) -> None:
    funded("contract", "fund", "camhs", *SPLIT)
    before = len(db.audit())
    out = funded("contract", "fund", "camhs", "--funder", NCC, "--amount", "£700,000.50", "--funder", ICB,
                 "--amount", "499999.50").stdout
    assert out == (f"Funding of camhs's contract C-1: {NCC} £700,000.50; {ICB} £499,999.50 "
                   f"(was: {NCC} 60%; {ICB} 40%).\n")
    assert len(db.audit()) == before + 1
    entry = funded.json("audit", "log", "camhs")[-1]["payload"]
    assert (entry["old"]["by"], entry["new"]["by"], entry["new"]["total"]) == ("share", "amount", "1200000.00")
    assert db.rows("SELECT funder, share, amount FROM contract_funder ORDER BY position") == [
        (NCC, None, "700000.50"), (ICB, None, "499999.50")]
    assert funded("contract", "fund", "camhs", "--clear").stdout == (
        f"Cleared who pays for camhs's contract C-1 (was: {NCC} £700,000.50; {ICB} £499,999.50).\n")
    assert funded.json("audit", "log", "camhs")[-1]["payload"]["new"] is None
    assert "funded by nobody recorded (was: " in funded("audit", "log", "camhs").stdout
    assert db.rows("SELECT * FROM contract_funder") == []
    assert funded("contract", "fund", "camhs", "--clear", expect=2).stderr == (
        "Error: camhs's contract C-1 has no funders recorded; nothing to clear\n")
    assert funded("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_the_same_split_again_changes_nothing_and_records_nothing(funded: Cli, db: Database) -> None:
    funded("contract", "fund", "camhs", *SPLIT, "--pool", POOL)
    before = db.audit()
    again = funded("contract", "fund", "camhs", "--funder", NCC, "--share", "60.0%", "--funder", ICB, "--share",
                   "40%", "--pool", POOL).stdout
    assert again == f"Funding of camhs's contract C-1 is already {NCC} 60%; {ICB} 40% within {POOL}: nothing changed.\n"
    assert db.audit() == before
    moved = funded("contract", "fund", "camhs", *SPLIT).stdout  # the same shares outside the pool is a change
    assert moved.startswith("Funding of camhs's contract C-1: ") and len(db.audit()) == len(before) + 1


def test_decimal_not_float(funded: Cli) -> None:
    """0.1 + 0.2 is not 0.3 in floating point; three shares of a third add to exactly 100."""
    funded("contract", "set", "camhs", "--value", "0.30")
    funded("contract", "fund", "camhs", "--funder", "A", "--amount", "0.10", "--funder", "B", "--amount", "£0.20")
    funded("contract", "set", "camhs", "--value", "£1,200,000")
    funded("contract", "fund", "camhs", "--funder", "A", "--share", "33.33%", "--funder", "B", "--share", "33.33",
           "--funder", "C", "--share", "33.34 %")
    assert funded.json("contract", "show", "camhs")["funding"]["total"] == "100"


REFUSED = [
    (["--funder", "A", "--share", "60%", "--funder", "B", "--share", "30%"],
     "the shares add up to 90%; they must add up to exactly 100%"),
    (["--funder", "A", "--share", "60.5%", "--funder", "B", "--share", "40%"],
     "the shares add up to 100.5%; they must add up to exactly 100%"),
    (["--funder", "A", "--amount", "£700,000", "--funder", "B", "--amount", "£400,000"],
     "the amounts add up to £1,100,000.00; they must add up to the contract's value, £1,200,000.00"),
    (["--funder", "A", "--share", "60%", "--funder", "B", "--amount", "£480,000"],
     "give every funder a --share or every funder an --amount, not a mix of the two"),
    (["--funder", NCC, "--share", "50%", "--funder", " nottinghamshire  county council", "--share", "50%"],
     "--funder 'nottinghamshire  county council' is named twice; give each funder once, with its whole part"),
    (["--funder", "A", "--share", "60%", "--funder", "B"],
     '2 --funder but 1 --share: give each funder its --share, e.g. --funder "Council" --share 60%'),
    (["--funder", "A", "--share", "60%%"], "--share '60%%' is not a percentage; write e.g. 60% or 33.33%"),
    (["--funder", "A", "--share", "sixty"], "--share 'sixty' is not a percentage; write e.g. 60% or 33.33%"),
    (["--funder", "A", "--share", "1e2"], "--share '1e2' is not a percentage; write e.g. 60% or 33.33%"),
    (["--funder", "A", "--share", "NaN"], "--share 'NaN' is not a percentage; write e.g. 60% or 33.33%"),
    (["--funder", "A", "--share", "-5%"], "--share '-5%' is not a percentage; write e.g. 60% or 33.33%"),
    (["--funder", "A", "--share", "0%", "--funder", "B", "--share", "100%"],
     "--share '0%' must be more than 0% and at most 100%"),
    (["--funder", "A", "--share", "101%"], "--share '101%' must be more than 0% and at most 100%"),
    (["--funder", "A", "--share", "1000%"], "--share '1000%' must be more than 0% and at most 100%"),
    (["--funder", "A", "--share", "100.00001"],
     "--share '100.00001' has more than four decimal places; write e.g. 33.3333%"),
    (["--funder", "A\u200b", "--share", "50%", "--funder", "Ａ", "--share", "50%"],
     "--funder 'Ａ' is named twice; give each funder once, with its whole part"),
    (["--funder", "A", "--amount", "£1,20.00"],
     "--amount '£1,20.00' is not an amount in pounds; write e.g. 1250000, £1,250,000 or 1.25m (commas only "
     "between groups of three digits)"),
    (["--funder", "A", "--amount", "0"], "--amount '0' must be more than £0"),
    (["--funder", "", "--share", "100%"], "--funder must not be empty"),
    (["--funder", "A\nB", "--share", "100%"],
     "--funder must be a single line of text (no control characters: tab, newline, escape ...)"),
    (["--share", "100%"], "name who pays: --funder NAME --share 60% (or --amount £...) for each; or --clear"),
    (["--clear", "--funder", "A", "--share", "100%"],
     "--clear forgets who pays; give it alone, or give the new split without --clear"),
    (["--funder", "A", "--share", "100%", "--ref", "NOPE"],
     "camhs has no contract 'NOPE' (its contracts: C-1); add one with: cycle contract add camhs --ref NOPE "
     "--provider NAME"),
]


@pytest.mark.parametrize("args, line", REFUSED, ids=[r[1][:40] for r in REFUSED])
def test_a_split_that_does_not_add_up_or_is_malformed_is_one_line_and_writes_nothing(
        funded: Cli, db: Database, args: list[str], line: str) -> None:
    funded("contract", "fund", "camhs", *SPLIT)
    before = db.dump()
    assert funded("contract", "fund", "camhs", *args, expect=2).stderr == f"Error: {line}\n"
    assert db.dump() == before


def test_amounts_need_a_value_and_a_project_with_no_contract_is_told(ready: Cli) -> None:
    assert ready("contract", "fund", "camhs", "--funder", "A", "--amount", "£5", expect=2).stderr == (
        "Error: camhs has no contract to fund; record it first with: cycle contract set camhs --provider NAME "
        "--value £...\n")
    ready("contract", "set", "camhs", "--provider", "Trust X")
    assert ready("contract", "fund", "camhs", "--funder", "A", "--amount", "£5", expect=2).stderr == (
        "Error: amounts must add up to the contract's value, and it has none; set it first with: "
        "cycle contract set camhs --value £...\n")


def test_a_value_changed_after_a_split_by_amounts_is_warned_not_refused(funded: Cli) -> None:
    funded("contract", "fund", "camhs", "--funder", NCC, "--amount", "£720,000", "--funder", ICB, "--amount", "480k")
    funded("contract", "set", "camhs", "--value", "1.3m")  # not refused
    problem = "the amounts add up to £1,200,000.00, but the contract's value is now £1,300,000.00"
    assert (f"  WARNING: {problem}; record the split again with: cycle contract fund camhs --funder NAME "
            f"--amount ...\n") in funded("contract", "show", "camhs").stdout
    assert funded.json("contract", "show", "camhs")["funding"]["warning"] == problem
    assert funded.json("contracts", "list")[0]["funding_warning"] == problem
    assert funded("contracts", "list").stdout.endswith("  (funding does not add up)\n")
    assert f"WARNING: {problem}" in funded("project", "show", "camhs").stdout


def test_one_of_several_contracts_is_named_by_its_ref(funded: Cli) -> None:
    funded("contract", "add", "camhs", "--ref", "C-2", "--provider", "Trust Y", "--value", "900k")
    assert funded("contract", "fund", "camhs", *SPLIT, expect=2).stderr.startswith(
        "Error: camhs has 2 contracts")
    funded("contract", "fund", "camhs", "--ref", "C-2", "--funder", NCC, "--amount", "900,000")
    shown = funded.json("contract", "show", "camhs")
    assert [c["funding"] and c["funding"]["funders"][0]["amount"] for c in shown] == [None, "900000.00"]
    assert funded.json("audit", "log", "camhs")[-1]["payload"]["contract_ref"] == "C-2"


def test_a_share_changed_by_hand_is_named_by_audit_verify(funded: Cli, db: Database) -> None:
    funded("contract", "fund", "camhs", *SPLIT)
    db.tamper("UPDATE contract_funder SET share = '70' WHERE position = 1")
    out = funded("audit", "verify", expect=1)
    assert "  contract_funder #1 differs from its audit entry: share is '70' but entry " in out.stderr
    # and what is shown says the split no longer adds up
    assert funded.json("contract", "show", "camhs")["funding"]["warning"] == "the shares add up to 110%, not 100%"


def test_a_formula_in_a_funder_name_is_neutralised_in_csv(funded: Cli) -> None:
    funded("contract", "fund", "camhs", "--funder", "=HYPERLINK(\"http://evil.example\")", "--share", "100%",
           "--pool", "@SUM(A1)")
    row = list(csv.DictReader(io.StringIO(funded("contracts", "list", "--csv").stdout.lstrip("\ufeff"))))[0]
    assert row["funders"].startswith("'=HYPERLINK(") and row["funding_pool"] == "'@SUM(A1)"


def test_the_quarterly_report_says_who_pays(funded: Cli) -> None:
    funded("contract", "fund", "camhs", *SPLIT, "--pool", POOL)
    md = funded("report", "quarterly", "--quarter", "2026-Q3").stdout
    assert (f"## Who pays\n\n- CAMHS Tiers 2 and 3 (camhs), Trust X (C-1): {NCC} 60%; {ICB} 40%, within "
            f"{POOL}.\n\n## Milestones") in md
    data = funded.json("report", "quarterly", "--quarter", "2026-Q3")
    assert data["who_pays"] == [{"project": "camhs", "ref": "C-1", "provider": "Trust X",
                                 "title": "CAMHS Tiers 2 and 3", "funders": f"{NCC} 60%; {ICB} 40%", "pool": POOL,
                                 "warning": None}]
    html = funded("report", "quarterly", "--quarter", "2026-Q3", "--format", "html").stdout
    assert f"{NCC} 60%; {ICB} 40%, within {POOL}</li>" in html


@pytest.mark.parametrize("edited", ["1e999999999", "NaN", "-Infinity", "sixty", ""])
def test_a_share_edited_into_something_that_is_no_number_is_shown_not_crashed_on(funded: Cli, db: Database,
                                                                                 edited: str) -> None:
    funded("contract", "fund", "camhs", *SPLIT)
    db.tamper("UPDATE contract_funder SET share = :v WHERE position = 1", params={"v": edited})
    shown = funded.json("contract", "show", "camhs")["funding"]
    assert (shown["total"], shown["warning"]) == ("40", "the shares add up to 40%, not 100%")
    assert "funding does not add up" in funded("contracts", "list").stdout
    assert "WARNING: the shares add up to 40%" in funded("report", "quarterly", "--quarter", "2026-Q3",
                                                         expect=1).stdout
    funded("audit", "verify", expect=1)

