"""The contract details the Transparency Code 2015 asks a council to publish (revision 0017): set with `contract set`,
audited with old and new values, shown by `contract show` (text and JSON), and on the record (`audit verify`)."""

from __future__ import annotations

import pytest

from .conftest import Cli, Database

DETAILS = ("--title", "CAMHS tiers 2 and 3", "--description", "Community CAMHS for 5 to 18 year olds",
           "--department", "Children's services", "--review-date", "2027-04-01", "--awarded-by", "ITT",
           "--sme", "no", "--vcse", "Yes", "--registration-number", "1234567", "--vat-not-recoverable", "£1,250")


def test_the_codes_details_are_set_audited_and_shown(ready: Cli) -> None:
    run = ready
    run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "C-1", "--start", "2025-04-01",
        "--end", "2028-03-31", "--value", "3.6m")
    run("contract", "set", "camhs", *DETAILS)
    shown = run.json("contract", "show", "camhs")
    assert {k: shown[k] for k in ("title", "description", "department", "review_on", "awarded_by", "sme", "vcse",
                                  "registration_number", "vat_not_recoverable")} == {
        "title": "CAMHS tiers 2 and 3", "description": "Community CAMHS for 5 to 18 year olds",
        "department": "Children's services", "review_on": "2027-04-01", "awarded_by": "tender", "sme": "no",
        "vcse": "yes", "registration_number": "1234567", "vat_not_recoverable": "1250.00"}
    text = run("contract", "show", "camhs").stdout
    assert "  awarded by      tender\n" in text
    assert "  supplier        SME no, VCSE yes, registration number 1234567\n" in text
    changes = run.json("audit", "log", "camhs")[-1]["payload"]["changes"]
    assert changes["review_date"] == [None, "2027-04-01"] and changes["sme"] == [None, "no"]
    run("contract", "set", "camhs", "--sme", "yes", "--awarded-by", "direct award (PSR direct award process C)")
    changes = run.json("audit", "log", "camhs")[-1]["payload"]["changes"]
    assert changes == {"sme": ["no", "yes"], "awarded_by": ["tender", "direct award (PSR direct award process C)"]}
    run("audit", "verify")


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--sme", "maybe", "Error: --sme 'maybe' is neither yes nor no; give yes or no"),
    ("--vcse", "", "Error: --vcse '' is neither yes nor no; give yes or no"),
    ("--review-date", "31/02/2027", "Error: --review-date '31/02/2027' is not a date; use YYYY-MM-DD, e.g. "
                                    "2027-03-31"),
    ("--vat-not-recoverable", "=1+1", "Error: --vat-not-recoverable '=1+1' is not an amount in pounds; write e.g. "
                                      "1250000, £1,250,000 or 1.25m"),
    ("--title", "a\x1b[2Jb", None),
])
def test_bad_details_are_refused_and_nothing_is_written(ready: Cli, db: Database, option: str, value: str,
                                                        said: str | None) -> None:
    before = db.dump()
    result = ready("contract", "set", "camhs", option, value, expect=2)
    if said is not None:
        assert result.stderr.strip() == said
    assert len(result.stderr.strip().splitlines()) == 1
    assert db.dump() == before


def test_a_hand_edit_of_a_detail_is_named_by_the_records_check(ready: Cli, db: Database) -> None:
    ready("contract", "set", "camhs", "--provider", "Trust X", "--sme", "yes")
    db.tamper("UPDATE contract SET sme = 'no'")
    result = ready("audit", "verify", expect=1)
    assert "sme" in result.stdout + result.stderr
