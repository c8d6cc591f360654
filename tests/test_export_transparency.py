"""`cycle export transparency`: the Transparency Code 2015's contracts data for a quarter, compared field by field
with a file written by hand; only contracts over £5,000 in force in the quarter; formula cells neutralised; written
whole, never over a file without --force, and recorded in the audit log with the file's SHA-256."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest

from .conftest import Cli, Database

HEADER = ["Reference number", "Title of agreement", "Local authority department responsible",
          "Description of the goods and/or services being provided", "Supplier name and details",
          "Sum to be paid over the length of the contract", "Estimated annual spending or budget for the contract",
          "Value Added Tax that cannot be recovered", "Start date", "End date", "Review date",
          "Invitation to quote or published invitation to tender", "Small or medium sized enterprise",
          "Voluntary or community sector organisation", "Registration number"]


def contract(run: Cli, key: str, *terms: str, title: str | None = None) -> None:
    run("project", "new", key, "--title", title or key.title())
    run("contract", "set", key, *terms)


@pytest.fixture
def portfolio(ready: Cli) -> Cli:
    run = ready
    run("contract", "set", "camhs", "--ref", "CAMHS-2025-01", "--provider", "Trust X, Mill Lane", "--start",
        "2025-04-01", "--end", "2028-03-31", "--value", "3.6m", "--annual-value", "1.2m", "--notice", "6 months",
        "--title", "CAMHS tiers 2 and 3", "--department", "Children's services", "--description",
        "Community CAMHS, ages 5 to 18", "--review-date", "2027-04-01", "--awarded-by", "tender", "--sme", "no",
        "--vcse", "yes", "--registration-number", "1234567", "--vat-not-recoverable", "0")
    contract(run, "dental", "--ref", "DENT-7", "--provider", "=HYPERLINK(\"http://evil\",\"x\")", "--start",
             "2024-04-01", "--end", "2027-03-31", "--value", "5000.01", "--awarded-by", "quote", "--sme", "yes",
             title="Community dental")
    contract(run, "exactly", "--ref", "EX-1", "--provider", "P", "--start", "2024-04-01", "--end", "2027-03-31",
             "--value", "5000")  # exactly £5,000: the Code's "exceeds" leaves it out
    contract(run, "annual", "--ref", "AN-1", "--provider", "Q", "--start", "2026-01-01", "--annual-value", "6000",
             "--awarded-by", "direct award (PSR direct award process C)")  # no end, no total: in, by its annual value
    contract(run, "ended", "--ref", "OLD-1", "--provider", "R", "--start", "2020-04-01", "--end", "2026-09-30",
             "--value", "90000", "--notice", "3 months", "--if-no-notice", "ends")  # ended the day before Q3
    contract(run, "later", "--ref", "NEW-1", "--provider", "S", "--start", "2027-01-01", "--end", "2029-12-31",
             "--value", "90000")  # starts after the quarter
    contract(run, "runs-on", "--ref", "RUN-1", "--provider", "T", "--start", "2022-04-01", "--end", "2026-06-30",
             "--value", "70000", "--notice", "3 months", "--run-on", "12 months")  # no notice: running on in Q3
    return run


def read(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    return list(csv.reader(io.StringIO(data.decode("utf-8").removeprefix("\ufeff"), newline="")))


def test_the_quarter_matches_a_file_written_by_hand(portfolio: Cli, tmp_path: Path) -> None:
    run = portfolio
    out = tmp_path / "contracts-2026-Q3.csv"
    said = run("export", "transparency", "--quarter", "2026-Q3", "--out", str(out)).stdout
    by_hand = [
        HEADER,
        ["AN-1", "Annual", "", "", "Q", "", "6000.00", "", "2026-01-01", "", "", "direct award (PSR direct award "
         "process C)", "", "", ""],
        ["CAMHS-2025-01", "CAMHS tiers 2 and 3", "Children's services", "Community CAMHS, ages 5 to 18",
         "Trust X, Mill Lane", "3600000.00", "1200000.00", "0.00", "2025-04-01", "2028-03-31", "2027-04-01",
         "Published invitation to tender", "No", "Yes", "1234567"],
        ["DENT-7", "Community dental", "", "", "'=HYPERLINK(\"http://evil\",\"x\")", "5000.01", "", "",
         "2024-04-01", "2027-03-31", "", "Invitation to quote", "Yes", "", ""],
        ["RUN-1", "Runs-On", "", "", "T", "70000.00", "", "", "2022-04-01", "2026-06-30", "", "", "", "", ""],
    ]
    found = read(out)
    assert len(found) == len(by_hand)
    for n, (row, expected) in enumerate(zip(found, by_hand, strict=True)):
        for column, (cell, wanted) in enumerate(zip(row, expected, strict=True)):
            assert cell == wanted, f"row {n}, column {HEADER[column]!r}: {cell!r}, expected {wanted!r}"
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    entry = run.json("audit", "log")[-1]
    assert entry["action"] == "transparency.export"
    assert {k: entry["payload"][k] for k in ("quarter", "file", "sha256", "contracts")} == {
        "quarter": "2026-Q3", "file": str(out), "sha256": sha, "contracts": 4}
    assert said == (f"Exported 4 contracts over £5,000 in force in 2026-Q3 to {out}, SHA-256 {sha}; recorded as "
                    f"audit entry {entry['seq']}.\n")
    run("audit", "verify")


def test_an_earlier_quarter_holds_what_was_in_force_then(portfolio: Cli, tmp_path: Path) -> None:
    out = tmp_path / "q1.csv"
    portfolio("export", "transparency", "--quarter", "2026-Q1", "--out", str(out))  # April to June 2026
    assert [r[0] for r in read(out)[1:]] == ["AN-1", "CAMHS-2025-01", "DENT-7", "OLD-1", "RUN-1"]


def test_the_export_reimports_with_the_codes_mapping(portfolio: Cli, tmp_path: Path, db: Database) -> None:
    out = tmp_path / "q3.csv"
    portfolio("export", "transparency", "--quarter", "2026-Q3", "--out", str(out))
    said = portfolio("import", "register", str(out), "--map", "lgtc-2015", "--dry-run").stdout
    assert "line 3: would create project camhs-2025-01 at do, with contract CAMHS-2025-01" in said


def test_never_over_a_file_without_force_and_never_the_database(portfolio: Cli, tmp_path: Path,
                                                               db: Database) -> None:
    run = portfolio
    out = tmp_path / "q3.csv"
    out.write_text("keep me")
    before = db.dump()
    err = run("export", "transparency", "--quarter", "2026-Q3", "--out", str(out), expect=2).stderr
    assert err == f"Error: {out} already exists: add --force to replace it, or choose another --out\n"
    assert out.read_text() == "keep me" and db.dump() == before
    run("export", "transparency", "--quarter", "2026-Q3", "--out", str(out), "--force")
    assert read(out)[0] == HEADER
    if db.dialect == "sqlite":
        home_db = tmp_path / "home" / "cycle.db"
        err = run("export", "transparency", "--quarter", "2026-Q3", "--out", str(home_db), "--force",
                  expect=2).stderr
        assert "is cycle's database" in err


@pytest.mark.parametrize("quarter", ["2026-Q5", "Q3", "2026-Q3; DROP TABLE project", "９９９９-Q1"])
def test_a_bad_quarter_is_one_line_and_exit_2(portfolio: Cli, tmp_path: Path, quarter: str) -> None:
    result = portfolio("export", "transparency", "--quarter", quarter, "--out", str(tmp_path / "x.csv"), expect=2)
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def test_a_hand_edited_value_is_neither_a_crash_nor_published_as_a_number(ready: Cli, db: Database,
                                                                         tmp_path: Path) -> None:
    ready("contract", "set", "camhs", "--ref", "C-1", "--provider", "P", "--value", "9000")
    db.tamper("UPDATE contract SET value_total = '1e999999', provider = '@SUM(A1)'")
    out = tmp_path / "q.csv"
    ready("export", "transparency", "--quarter", "2026-Q3", "--out", str(out))
    assert [r[4:6] for r in read(out)[1:]] == [["'@SUM(A1)", "1e999999"]]
