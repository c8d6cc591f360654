"""Contract performance (issue 17): indicators, targets over time, quarterly values and returns, status and trend,
review meetings that snapshot them, actions, and the portfolio view.

Quarters are in the past (2025) and every read that depends on the day names it with --as-of, so nothing here
depends on the day the suite runs.
"""

from __future__ import annotations

import json
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cycle.performance.status import MET, MISSED, NEAR, OVER, Rule

from .conftest import Cli, Database

ON = "2026-01-31"  # the day every read is made on: 2025-Q3's return (due 20 January 2026) is late by then


def _contract(run: Cli, key: str = "camhs", ref: str = "CR-1") -> None:
    run("project", "new", key, "--title", key.upper(), "--owner", "alice")
    run("contract", "set", key, "--provider", "Trust X", "--ref", ref, "--start", "2024-04-01", "--end",
        "2028-03-31", "--notice", "6 months")


RTT = ("--title", "Referral to treatment within 4 weeks", "--unit", "%", "--target", "92", "--better", "higher",
       "--tolerance", "5", "--over", "10", "--source", "provider quarterly return")


@pytest.fixture
def camhs(run: Cli) -> Cli:
    """camhs with a contract and the worked example's indicator rtt-4wk."""
    run("init")
    _contract(run)
    run("kpi", "add", "camhs", "rtt-4wk", *RTT)
    return run


def _statuses(run: Cli, *args: str) -> dict[str, tuple[str | None, str | None]]:
    (view,) = run.json("kpi", "show", "camhs", "--as-of", ON, *args)
    return {q["quarter"]: (q["status"], q["trend"]) for q in view["quarters"]}


# --- 2. the status rules ------------------------------------------------------------------------------------------

def test_the_worked_example(camhs: Cli) -> None:
    """Target 92, higher is better, tolerance 5, margin 10: 92 and 102 met, 87 near, 86.9 missed, 102.1 over."""
    for quarter, value in (("2024-Q2", "92"), ("2024-Q3", "102"), ("2024-Q4", "87"), ("2025-Q1", "86.9"),
                           ("2025-Q2", "102.1")):
        camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", quarter, "--value", value)
    found = _statuses(camhs, "--last", "2025-Q3", "--quarters", "6")
    assert found == {"2024-Q2": ("met", None), "2024-Q3": ("met", "better"), "2024-Q4": ("near", "worse"),
                     "2025-Q1": ("missed", "worse"), "2025-Q2": ("over", "better"), "2025-Q3": ("no-return", None)}


R_HIGH = Rule("higher", Decimal(92), None, None, Decimal(5), Decimal(10))
R_LOW = Rule("lower", Decimal(30), None, None, Decimal(5), Decimal(10))
R_BAND = Rule("band", None, Decimal(80), Decimal(90), Decimal(3), None)


@pytest.mark.parametrize(("rule", "value", "status"), [
    (R_HIGH, "92", MET), (R_HIGH, "102", MET), (R_HIGH, "102.000001", OVER), (R_HIGH, "87", NEAR),
    (R_HIGH, "86.999999", MISSED), (R_HIGH, "91.999999", NEAR),
    (R_LOW, "30", MET), (R_LOW, "20", MET), (R_LOW, "19.9", OVER), (R_LOW, "35", NEAR), (R_LOW, "35.1", MISSED),
    (R_BAND, "80", MET), (R_BAND, "90", MET), (R_BAND, "85", MET), (R_BAND, "77", NEAR), (R_BAND, "93", NEAR),
    (R_BAND, "76.9", MISSED), (R_BAND, "93.1", MISSED),
    (Rule("higher", Decimal(92), None, None, Decimal(0), None), "1000000", MET),  # no margin: never over
    (Rule("higher", Decimal(92), None, None, Decimal(0), None), "91.9", MISSED),  # no tolerance: short is missed
])
def test_status_at_every_boundary(rule: Rule, value: str, status: str) -> None:
    assert rule.judge(Decimal(value)) == status


_RANK = {MISSED: 0, NEAR: 1, MET: 2, OVER: 3}
_values = st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False)


@given(a=_values, b=_values, tolerance=st.decimals(min_value=0, max_value=50, places=2),
       over=st.none() | st.decimals(min_value=0, max_value=50, places=2),
       target=st.decimals(min_value=-500, max_value=500, places=2))
def test_status_is_monotonic_in_the_value(a: Decimal, b: Decimal, tolerance: Decimal, over: Decimal | None,
                                          target: Decimal) -> None:
    low, high = min(a, b), max(a, b)
    up = Rule("higher", target, None, None, tolerance, over)
    down = Rule("lower", target, None, None, tolerance, over)
    assert _RANK[up.judge(low)] <= _RANK[up.judge(high)]  # more is never judged worse when higher is better
    assert _RANK[down.judge(low)] >= _RANK[down.judge(high)]
    band = Rule("band", None, target, target + tolerance + 1, tolerance, None)
    # a band: status rises (missed, near, met) towards it from below, and falls from above
    order = {MISSED: 0, NEAR: 1, MET: 2}
    if high <= band.low:  # type: ignore[operator]
        assert order[band.judge(low)] <= order[band.judge(high)]
    if low >= band.high:  # type: ignore[operator]
        assert order[band.judge(low)] >= order[band.judge(high)]


def test_a_target_changed_mid_year_judges_each_quarter_by_the_target_then(camhs: Cli, db: Database) -> None:
    for quarter in ("2025-Q1", "2025-Q2", "2025-Q3"):
        camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", quarter, "--value", "93")
    out = camhs("kpi", "set", "camhs", "rtt-4wk", "--from", "2025-Q3", "--target", "95").stdout
    assert out == ("Indicator rtt-4wk of camhs from 2025-Q3: target 95 (higher is better), tolerance 5, over 10 "
                   "(was target 92 (higher is better), tolerance 5, over 10).\n")
    (view,) = camhs.json("kpi", "show", "camhs", "--as-of", ON, "--last", "2025-Q3", "--quarters", "3")
    assert [(q["quarter"], q["target"], q["status"]) for q in view["quarters"]] == [
        ("2025-Q1", "92", "met"), ("2025-Q2", "92", "met"), ("2025-Q3", "95", "near")]
    assert [t["from"] for t in view["targets"]] == ["1989-Q4", "2025-Q3"]
    # the history is kept: a second change from the same quarter is refused, not written over
    refused = camhs("kpi", "set", "camhs", "rtt-4wk", "--from", "2025-Q3", "--target", "96", expect=2)
    assert refused.stderr == ("Error: rtt-4wk of camhs already has a target set from 2025-Q3 (by alice); targets are "
                              "kept, never overwritten: set the next change from a later quarter\n")
    assert db.rows("SELECT count(*) FROM kpi_target")[0][0] == 2


def test_no_return_only_once_the_return_is_late_and_the_days_are_configurable(camhs: Cli, home: Path,
                                                                              tmp_path: Path) -> None:
    # 2025-Q3 ends on 31 December 2025; its return is due 20 January 2026
    assert _statuses(camhs, "--last", "2025-Q3", "--quarters", "1", "--as-of", "2026-01-20") == {
        "2025-Q3": ("awaited", None)}
    assert _statuses(camhs, "--last", "2025-Q3", "--quarters", "1", "--as-of", "2026-01-21") == {
        "2025-Q3": ("no-return", None)}
    settings = tmp_path / "xdg-config" / "cycle"
    settings.mkdir(parents=True)
    (settings / "reminders.toml").write_text("[reminders]\nreturn_due_days = 40\n")
    assert _statuses(camhs, "--last", "2025-Q3", "--quarters", "1", "--as-of", "2026-02-09") == {
        "2025-Q3": ("awaited", None)}
    (settings / "reminders.toml").write_text("[reminders]\nreturn_due_days = -1\n")
    bad = camhs("kpi", "show", "camhs", "--as-of", ON, expect=2)
    assert bad.stderr.endswith("[reminders] return_due_days must be a whole number of days, from 0 to 366\n")


def test_quarters_before_the_contract_started_are_not_judged(camhs: Cli) -> None:
    found = _statuses(camhs, "--last", "2024-Q1", "--quarters", "2")  # the contract starts on 1 April 2024
    assert found == {"2023-Q4": (None, None), "2024-Q1": ("no-return", None)}


# --- 1. indicators -------------------------------------------------------------------------------------------------

def test_kpi_add_needs_a_contract_first(run: Cli, db: Database) -> None:
    run("init")
    run("project", "new", "camhs", "--title", "CAMHS", "--owner", "alice")
    before = db.dump()
    r = run("kpi", "add", "camhs", "rtt-4wk", *RTT, expect=2)
    assert r.stderr == ("Error: camhs has no contract; its indicators belong to one: record it first with: cycle "
                        "contract set camhs --provider NAME --start YYYY-MM-DD --end YYYY-MM-DD\n")
    assert db.dump() == before


@pytest.mark.parametrize(("args", "said"), [
    (("--better", "band", "--target", "5"), "--better band takes --low and --high, not --target: a band is met "
                                            "anywhere inside it"),
    (("--better", "band", "--low", "9", "--high", "3"), "--low 9 is above --high 3"),
    (("--better", "band", "--low", "3"), "--better band needs both --low and --high, e.g. --low 20 --high 30"),
    (("--better", "higher"), "--better higher needs --target, e.g. --target 92"),
    (("--better", "higher", "--target", "92%"), "--target '92%' is not a number; write it as digits without the % "
                                                "sign (the indicator's unit says it is a percentage)"),
    (("--better", "higher", "--target", "=1+1"), "--target '=1+1' is not a number; write it as digits, e.g. 87.5"),
    (("--better", "higher", "--target", "NaN"), "--target 'NaN' is not a number; write it as digits, e.g. 87.5"),
    (("--better", "higher", "--target", "1" * 16), f"--target {'1' * 16}... has more than 15 digits before the "
                                                   f"point; is it right?"),
    (("--better", "higher", "--target", "92", "--tolerance", "-1"),
     "--tolerance -1 is below 0; it is a distance from the target, in the indicator's unit"),
    (("--better", "lower", "--target", "9", "--low", "3"), "--low and --high are for --better band; --better lower "
                                                           "takes --target"),
])
def test_kpi_add_refuses_terms_that_do_not_make_sense(camhs: Cli, db: Database, args: tuple[str, ...],
                                                     said: str) -> None:
    before = db.dump()
    r = camhs("kpi", "add", "camhs", "other", "--title", "Other", *args, expect=2)
    assert r.stderr == f"Error: {said}\n"
    assert db.dump() == before


def test_kpi_add_twice_and_a_bad_id_are_refused(camhs: Cli) -> None:
    assert camhs("kpi", "add", "camhs", "rtt-4wk", *RTT, expect=2).stderr == (
        "Error: camhs already has an indicator rtt-4wk; change its target with: cycle kpi set camhs rtt-4wk --from "
        "YYYY-QN --target N\n")
    assert camhs("kpi", "add", "camhs", "RTT 4", *RTT, expect=2).stderr == (
        "Error: indicator id 'RTT 4' must be lower-case letters, digits and '-', e.g. rtt-4wk\n")


def test_kpi_list_text_json_and_csv(camhs: Cli) -> None:
    camhs("kpi", "add", "camhs", "occupancy", "--title", "=HYPERLINK(\"x\")", "--unit", "%", "--better", "band",
          "--low", "80", "--high", "90", "--tolerance", "3")
    assert camhs("kpi", "list", "--as-of", ON).stdout.splitlines() == [
        'camhs  occupancy    =HYPERLINK("x") (band 80 to 90%, tolerance 3) [contract CR-1]',
        "camhs  rtt-4wk      Referral to treatment within 4 weeks (target 92% (higher is better), tolerance 5, "
        "over 10) [contract CR-1]"]
    listed = camhs.json("kpi", "list", "camhs", "--as-of", ON)
    assert listed[1] == {"project": "camhs", "contract": "CR-1", "kpi": "rtt-4wk",
                         "title": "Referral to treatment within 4 weeks", "unit": "%", "better": "higher",
                         "target": "92", "low": None, "high": None, "tolerance": "5", "over": "10",
                         "target_from": None, "source": "provider quarterly return", "flags": []}
    csv_text = camhs("kpi", "list", "--csv", "--as-of", ON).stdout
    assert csv_text.startswith("\ufeffproject,contract,kpi,title,")
    assert "camhs,CR-1,occupancy,\"'=HYPERLINK(\"\"x\"\")\",%,band,,80,90,3,,,\n" in csv_text  # a formula made text
    assert camhs("kpi", "list", "--csv", "--json", expect=2).stderr == (
        "Error: --json and --csv ask for two formats at once: choose one\n")


# --- 3. values ------------------------------------------------------------------------------------------------------

def test_record_the_same_value_twice_then_another_only_with_replace(camhs: Cli, db: Database) -> None:
    args = ("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q3")
    assert camhs(*args, "--value", "87.5").stdout == "Recorded rtt-4wk of camhs for 2025-Q3: 87.5.\n"
    entries = len(db.audit())
    assert camhs(*args, "--value", "87.50").stdout == (
        "rtt-4wk of camhs for 2025-Q3 is already recorded as 87.5; nothing changed.\n")
    before = db.dump()
    assert camhs(*args, "--value", "88", expect=2).stderr == (
        "Error: rtt-4wk of camhs for 2025-Q3 is already recorded as 87.5 (by alice); to change it to 88 give "
        "--replace (the audit entry keeps the old value)\n")
    assert db.dump() == before and len(db.audit()) == entries
    assert camhs(*args, "--value", "88", "--replace").stdout == (
        "Replaced rtt-4wk of camhs for 2025-Q3: 88 (was 87.5).\n")
    entry = db.audit()[-1]
    payload = json.loads(entry["payload"])
    assert entry["action"] == "kpi.record" and payload["was"] == "87.5" and payload["value"] == "88"
    assert camhs("audit", "verify").exit_code == 0


@pytest.mark.parametrize(("args", "said"), [
    (("--quarter", "2099-Q1", "--value", "1"), "--quarter 2099-Q1 has not begun (it starts on 2099-04-01); record "
                                               "a quarter's value once it has"),
    (("--quarter", "2025-Q5", "--value", "1"), "--quarter '2025-Q5' is not a financial quarter; write YEAR-QN, e.g. "
                                               "2026-Q3 (Q1 April-June ... Q4 January-March of the next calendar "
                                               "year)"),
    (("--quarter", "2025-Q1", "--value", "1,5"), "--value '1,5' is not a number; write it as digits with no "
                                                 "thousands separator, and a point for decimals (87.5)"),
    (("--quarter", "2025-Q1", "--value", "1e3"), "--value '1e3' is not a number; write it as digits, e.g. 87.5"),
    (("--quarter", "2025-Q1", "--value", "0.1234567"), "--value 0.1234567 has more than 6 decimal places"),
])
def test_record_refuses_bad_input_and_writes_nothing(camhs: Cli, db: Database, args: tuple[str, ...],
                                                     said: str) -> None:
    before = db.dump()
    assert camhs("kpi", "record", "camhs", "rtt-4wk", *args, expect=2).stderr == f"Error: {said}\n"
    assert db.dump() == before


def test_an_unknown_indicator_or_project(camhs: Cli) -> None:
    assert camhs("kpi", "record", "camhs", "nope", "--quarter", "2025-Q1", "--value", "1", expect=2).stderr == (
        "Error: camhs has no indicator 'nope'; see them with: cycle kpi list camhs\n")
    assert camhs("kpi", "show", "ghost", expect=2).stderr == (
        "Error: No project with key 'ghost'. See the keys with: cycle project list\n")


# --- 3. the provider's return ----------------------------------------------------------------------------------------

def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def portfolio(camhs: Cli) -> Cli:
    """camhs and respite, each with rtt-4wk, and camhs with a lower-is-better wait too."""
    _contract(camhs, "respite", "RS-1")
    camhs("kpi", "add", "respite", "rtt-4wk", *RTT)
    camhs("kpi", "add", "camhs", "wait", "--title", "Average wait", "--unit", "days", "--target", "30", "--better",
          "lower", "--tolerance", "5")
    return camhs


def test_a_good_return_imports_all_and_the_same_file_twice_changes_nothing(portfolio: Cli, db: Database,
                                                                          tmp_path: Path) -> None:
    f = _write(tmp_path / "returns.csv", "project,kpi,quarter,value,note\ncamhs,rtt-4wk,2025-Q2,90,\n"
                                         "camhs,wait,2025-Q2,31,two long waits\nrespite,rtt-4wk,2025-Q2,95,\n")
    before = db.dump()
    assert portfolio("kpi", "import", str(f), "--dry-run").stdout == (
        f"Would import {f}: 3 rows, 3 new, 0 replaced, 0 already recorded.\n")
    assert db.dump() == before
    assert portfolio("kpi", "import", str(f)).stdout == (
        f"Imported {f}: 3 rows, 3 new, 0 replaced, 0 already recorded.\n")
    entries = [e for e in db.audit() if e["action"] == "kpi.import"]
    assert [e["project"] for e in entries] == ["camhs", "respite"]
    after = db.dump()
    assert portfolio("kpi", "import", str(f)).stdout == (
        f"Imported {f}: 3 rows, 0 new, 0 replaced, 3 already recorded.\n")
    assert db.dump() == after
    assert portfolio.json("kpi", "show", "camhs", "--kpi", "wait", "--as-of", ON, "--last", "2025-Q2",
                          "--quarters", "1")[0]["quarters"][0] == {
        "quarter": "2025-Q2", "value": "31", "note": "two long waits", "target": "30", "low": None, "high": None,
        "tolerance": "5", "over": None, "status": "near", "trend": None}
    assert portfolio("audit", "verify").exit_code == 0


def test_one_bad_row_among_500_names_its_line_and_writes_nothing(portfolio: Cli, db: Database,
                                                                  tmp_path: Path) -> None:
    lines = ["project,kpi,quarter,value"]
    for n in range(500):
        year, q = 2024 + n // 4 % 2, n % 4 + 1
        lines.append(f"{'camhs' if n % 2 else 'respite'},rtt-4wk,{year}-Q{q},{80 + n % 20}")
    lines[338] = "camhs,rtt-4wk,2025-Q1,n/a"  # line 339 of the file
    before = db.dump()
    r = portfolio("kpi", "import", str(_write(tmp_path / "big.csv", "\n".join(lines) + "\n")), expect=2)
    assert r.stderr == (f"Error: {tmp_path / 'big.csv'}: line 339: value 'n/a' is not a number; write it as digits, "
                        f"e.g. 87.5; nothing was imported\n")
    assert db.dump() == before


def test_a_row_the_database_refuses_is_named_too_and_nothing_is_written(portfolio: Cli, db: Database,
                                                                        tmp_path: Path) -> None:
    f = _write(tmp_path / "r.csv", "project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q2,90\nghost,rtt-4wk,2025-Q2,1\n"
                                   "camhs,nope,2025-Q2,1\ncamhs,rtt-4wk,2025-Q2,91\n")
    before = db.dump()
    assert portfolio("kpi", "import", str(f), expect=2).stderr == (
        f"Error: {f}: line 3: no project with key 'ghost' (and 2 more bad rows); nothing was imported\n")
    assert db.dump() == before
    portfolio("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q2", "--value", "89")
    g = _write(tmp_path / "g.csv", "project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q2,90\n")
    assert portfolio("kpi", "import", str(g), expect=2).stderr == (
        f"Error: {g}: line 2: rtt-4wk of camhs for 2025-Q2 is already recorded as 89 (by alice); to change it to 90 "
        f"give kpi import --replace (the audit entry keeps the old value); nothing was imported\n")
    assert portfolio("kpi", "import", str(g), "--replace").stdout == (
        f"Imported {g}: 1 rows, 0 new, 1 replaced, 0 already recorded.\n")
    payload = json.loads(db.audit()[-1]["payload"])
    assert [(v["value"], v["was"]) for v in payload["values"]] == [("90", "89")]


def test_bom_crlf_and_a_semicolon_file_are_read(portfolio: Cli, db: Database, tmp_path: Path) -> None:
    excel = _write(tmp_path / "excel.csv", "\ufeffProject,KPI,Quarter,Value\r\ncamhs,rtt-4wk,2025-Q1,90.5\r\n")
    portfolio("kpi", "import", str(excel))
    europe = _write(tmp_path / "semi.csv", "project;kpi;quarter;value;note\r\ncamhs;wait;2025-Q1;31,5;\"a; b\"\r\n")
    portfolio("kpi", "import", str(europe))
    assert sorted(db.rows("SELECT quarter, value, note FROM kpi_value")) == [
        ("2025-Q1", "31.5", "a; b"), ("2025-Q1", "90.5", None)]


@pytest.mark.parametrize(("content", "said"), [
    (b"project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q1,87,5\n",
     "line 2: it has 5 cells, the header 4 (is a decimal written with a comma, 87,5, in a comma-separated file? "
     "write 87.5, or quote it); nothing was imported"),
    ("project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q1,9\u00a30\n".encode("cp1252"),
     "not UTF-8 text (invalid start byte at byte 49); save it as CSV UTF-8 (in Excel: Save As, 'CSV UTF-8 "
     "(Comma delimited)')"),
    ("project,kpi,quarter,value\n".encode("utf-16"),
     "the file is UTF-16 text; save it as CSV UTF-8 (in Excel: Save As, 'CSV UTF-8 (Comma delimited)')"),
    (b"project,indicator,period,value\n", "line 1: the header has no quarter column; a return's header is "
                                          "project,kpi,quarter,value (and may add note and contract), not "
                                          "'project,indicator,period,value'"),
    (b"project,kpi,quarter,value\n", "the file has a header and no rows; nothing to import"),
    (b"", "the file is empty; a return has a header line (project,kpi,quarter,value) and a row per value"),
    (b"project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q1,=1+1\n",
     "line 2: value '=1+1' is not a number; write it as digits, e.g. 87.5; nothing was imported"),
    (b"project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q1,\"90\n",
     "line 2: not CSV (unexpected end of data); is a quote left open?; nothing was imported"),
    (b"project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q1,90\ncamhs,rtt-4wk,2025-Q1,91\n",
     "line 3: rtt-4wk of camhs for 2025-Q1 is also on line 2, with another value (90, here 91); nothing was "
     "imported"),
    (b"project,kpi,quarter,value\ncamhs,rtt-4wk,2099-Q1,90\n",
     "line 2: quarter 2099-Q1 has not begun (it starts on 2099-04-01); record a quarter's value once it has; "
     "nothing was imported"),
    (b"project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q1,90%\n",
     "line 2: value '90%' is not a number; write it as digits without the % sign (the indicator's unit says it is "
     "a percentage); nothing was imported"),
])
def test_a_bad_file_is_refused_clearly(portfolio: Cli, db: Database, tmp_path: Path, content: bytes,
                                       said: str) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(content)
    before = db.dump()
    assert portfolio("kpi", "import", str(f), expect=2).stderr == f"Error: {f}: {said}\n"
    assert db.dump() == before


def test_a_folder_or_missing_file_is_one_line(portfolio: Cli, tmp_path: Path) -> None:
    assert portfolio("kpi", "import", str(tmp_path), expect=2).stderr == (
        f"Error: {tmp_path}: a folder; give the path of a return file\n")
    assert portfolio("kpi", "import", str(tmp_path / "none.csv"), expect=2).stderr == (
        f"Error: {tmp_path / 'none.csv'}: cannot read the file (No such file or directory)\n")


# --- records: what audit verify holds the tables to -----------------------------------------------------------------

@pytest.mark.parametrize(("statement", "table"), [
    ("UPDATE kpi_value SET value = '95' WHERE id = 1", "kpi_value #1"),
    ("UPDATE kpi_target SET target = '80' WHERE id = 1", "kpi_target #1"),
    ("UPDATE kpi SET better = 'lower' WHERE id = 1", "kpi #1"),
    ("UPDATE action SET done_on = '2025-01-01' WHERE id = 1", "action #1"),
    ("UPDATE review_meeting SET snapshot = '[]' WHERE id = 1", "review_meeting #1"),
])
def test_a_hand_edit_of_an_indicator_value_target_action_or_snapshot_is_named(camhs: Cli, db: Database,
                                                                              statement: str, table: str) -> None:
    camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q3", "--value", "80")
    camhs("action", "add", "camhs", "Recovery plan", "--owner", "alice", "--due", "2026-03-31", "--kpi", "rtt-4wk")
    camhs("review", "record", "camhs", "--quarter", "2025-Q3", "--held-on", "2026-01-10")
    assert camhs("audit", "verify").exit_code == 0
    db.tamper(statement)
    r = camhs("audit", "verify", expect=1)
    assert f"{table} differs from its audit entry" in r.stderr


# --- 5. review meetings ----------------------------------------------------------------------------------------------

def test_a_review_keeps_its_attendees_and_each_indicators_status(camhs: Cli, db: Database) -> None:
    camhs("kpi", "add", "camhs", "wait", "--title", "Average wait", "--target", "30", "--better", "lower")
    camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q2", "--value", "90")
    camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q3", "--value", "80")
    out = camhs("review", "record", "camhs", "--quarter", "2025-Q3", "--held-on", "2026-01-25", "--attendee", "alice",
                "--attendee", "Trust X: J Smith", "--attendee", "alice").stdout
    assert out == "Recorded the 2025-Q3 review of camhs, held on 2026-01-25; 2 indicators: 1 missed, 1 no-return.\n"
    entry = db.audit()[-1]
    payload = json.loads(entry["payload"])
    assert payload["attendees"] == ["alice", "Trust X: J Smith"]
    assert payload["indicators"] == [
        {"contract": "CR-1", "kpi": "rtt-4wk", "value": "80", "target": "92", "low": None, "high": None,
         "status": "missed", "trend": "worse"},
        {"contract": "CR-1", "kpi": "wait", "value": None, "target": "30", "low": None, "high": None,
         "status": "no-return", "trend": None}]
    assert json.loads(db.rows("SELECT snapshot FROM review_meeting")[0][0]) == payload["indicators"]
    assert camhs("audit", "verify").exit_code == 0


def test_a_review_without_indicators_is_as_before(run: Cli, db: Database) -> None:
    run("init")
    _contract(run)
    assert run("review", "record", "camhs", "--quarter", "2025-Q3", "--held-on", "2026-01-25").stdout == (
        "Recorded the 2025-Q3 review of camhs, held on 2026-01-25.\n")
    assert db.rows("SELECT attendees, snapshot FROM review_meeting") == [(None, None)]


def test_the_review_reminder_lists_the_indicators_to_look_at(run: Cli, home: Path) -> None:
    from .reminder_setup import Y, live_project, maildir_messages, on_day, remind_run

    live_project(run)  # contract from 1 October Y; owner alice
    run("kpi", "add", "camhs", "rtt-4wk", *RTT)
    run("kpi", "add", "camhs", "wait", "--title", "Average wait", "--target", "30", "--better", "lower")
    with on_day(f"{Y + 1}-05-01"):
        run("kpi", "record", "camhs", "rtt-4wk", "--quarter", f"{Y}-Q4", "--value", "80")
    remind_run(run, f"{Y + 1}-06-16")  # the Y+1-Q1 review (April-June Y+1) is due by 30 June
    texts = []
    for path in maildir_messages(home):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        if msg["X-Cycle-Reminder"] == f"camhs review-due {Y + 1}-Q1":
            body = msg.get_body(("plain",))
            assert body is not None
            texts.append(body.get_content())
    assert len(texts) == 1, [m.read_bytes()[:400] for m in maildir_messages(home)]
    (text,) = texts
    assert (f"Indicators to look at (missed, over target, or no return):\n"
            f"- {Y}-Q4 rtt-4wk (Referral to treatment within 4 weeks): missed, 80; target 92% (higher is better)\n"
            f"- {Y}-Q4 wait (Average wait): no-return; target 30 (lower is better)\n") in text


# --- 5. actions ---------------------------------------------------------------------------------------------------

def test_actions_added_done_and_listed(camhs: Cli, db: Database) -> None:
    from .reminder_setup import on_day

    with on_day("2026-01-20"):
        _actions(camhs, db)


def _actions(camhs: Cli, db: Database) -> None:
    assert camhs("action", "add", "camhs", "Recovery plan for RTT", "--owner", "alice", "--due", "2026-01-31",
                 "--kpi", "rtt-4wk").stdout == (
        "Added action #1 to camhs (about rtt-4wk): Recovery plan for RTT, owner alice, due 2026-01-31.\n")
    camhs("action", "add", "camhs", "Share the data", "--owner", "Trust X: J Smith", "--due", "2025-12-31")
    assert camhs("action", "list", "--as-of", ON, "--open").stdout.splitlines() == [
        "#2    camhs            due 2025-12-31  OVERDUE         Trust X: J Smith Share the data",
        "#1    camhs            due 2026-01-31  open            alice        Recovery plan for RTT [rtt-4wk]"]
    assert camhs("action", "done", "camhs", "1", "--on", "2026-01-20", "--note", "plan agreed").stdout == (
        "Action #1 of camhs done on 2026-01-20.\n")
    assert camhs("action", "done", "camhs", "1", "--on", "2026-01-20", expect=2).stderr == (
        "Error: action #1 was already done on 2026-01-20\n")
    assert camhs("action", "done", "camhs", "9", expect=2).stderr == (
        "Error: camhs has no action #9; see them with: cycle action list camhs\n")
    assert camhs("action", "done", "camhs", "2", "--on", "2099-01-01", expect=2).stderr == (
        "Error: --on 2099-01-01 is in the future; mark an action done once it is done\n")
    assert camhs("action", "done", "camhs", "2", "--on", "2025-12-01", expect=2).stderr == (
        "Error: --on 2025-12-01 is before the action was added (2026-01-20)\n")
    assert [a["id"] for a in camhs.json("action", "list", "camhs", "--open")] == [2]
    done = camhs.json("action", "list", "camhs", "--as-of", ON)[1]
    assert done == {"id": 1, "project": "camhs", "kpi": "rtt-4wk", "text": "Recovery plan for RTT", "owner": "alice",
                    "due": "2026-01-31", "done_on": "2026-01-20", "done_note": "plan agreed", "overdue": False}
    assert camhs("action", "add", "camhs", "x", "--owner", "alice", "--due", "2026-01-31", "--kpi", "nope",
                 expect=2).stderr == "Error: camhs has no indicator 'nope'; see them with: cycle kpi list camhs\n"
    assert [e["action"] for e in db.audit()][-3:] == ["action.add", "action.add", "action.done"]
    assert camhs("audit", "verify").exit_code == 0


# --- the portfolio ------------------------------------------------------------------------------------------------

def test_performance_shows_every_live_contracts_indicators(portfolio: Cli, tmp_path: Path) -> None:
    portfolio("project", "new", "old", "--title", "OLD", "--owner", "alice")
    portfolio("contract", "set", "old", "--provider", "P", "--start", "2020-04-01", "--end", "2024-03-31",
              "--if-no-notice", "ends")
    portfolio("kpi", "add", "old", "rtt-4wk", *RTT)  # ended before 2025-Q3: not shown
    f = _write(tmp_path / "r.csv", "project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q2,90\ncamhs,rtt-4wk,2025-Q3,95\n"
                                   "camhs,wait,2025-Q3,20\n")
    portfolio("kpi", "import", str(f))
    found = portfolio.json("performance", "--quarter", "2025-Q3", "--as-of", ON)
    assert [(r["project"], r["kpi"], r["value"], r["status"], r["trend"]) for r in found] == [
        ("camhs", "rtt-4wk", "95", "met", "better"), ("camhs", "wait", "20", "met", None),
        ("respite", "rtt-4wk", None, "no-return", None)]
    assert portfolio("performance", "--quarter", "2025-Q3", "--as-of", ON, "--csv").stdout.splitlines()[:2] == [
        "\ufeffproject,contract,provider,kpi,title,unit,better,target,low,high,value,status,previous,trend",
        "camhs,CR-1,Trust X,rtt-4wk,Referral to treatment within 4 weeks,%,higher,92,,,95,met,90,better"]
    assert portfolio("performance", "--quarter", "2019-Q1", "--as-of", ON).stdout == (
        "No live contract has indicators in 2019-Q1. Add one with: cycle kpi add KEY ID ...\n")


# --- a careless or hostile user -------------------------------------------------------------------------------------

def test_excels_sep_line_and_capitalised_keys_are_read(portfolio: Cli, db: Database, tmp_path: Path) -> None:
    f = _write(tmp_path / "excel.csv", "sep=;\r\nProject;KPI;Quarter;Value\r\nCAMHS;RTT-4WK;2025-Q1;90,5\r\n;;;\r\n")
    assert portfolio("kpi", "import", str(f)).stdout == (
        f"Imported {f}: 1 rows, 1 new, 0 replaced, 0 already recorded.\n")
    assert db.rows("SELECT quarter, value FROM kpi_value") == [("2025-Q1", "90.5")]


def test_values_edited_into_nonsense_by_hand_are_named_and_the_views_still_run(camhs: Cli, db: Database) -> None:
    camhs("kpi", "add", "camhs", "occ", "--title", "Occupancy", "--better", "band", "--low", "80", "--high", "90")
    camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q3", "--value", "93")
    camhs("kpi", "record", "camhs", "occ", "--quarter", "2025-Q3", "--value", "85")
    db.tamper("UPDATE kpi_value SET value = 'lots' WHERE id = 1", "UPDATE kpi_target SET low = 'NaN' WHERE kpi_id = 2")
    db.tamper("UPDATE kpi SET title = :t WHERE id = 2", params={"t": "x\x1b[2J"})
    (occ, rtt) = camhs.json("kpi", "show", "camhs", "--as-of", ON, "--last", "2025-Q3", "--quarters", "1")
    assert rtt["quarters"][0]["status"] == "no-return"  # 'lots' is no value
    assert occ["quarters"][0]["status"] is None  # a band that cannot be read judges nothing
    assert "x\\x1b[2J" in camhs("kpi", "show", "camhs", "--as-of", ON).stdout  # shown escaped, not run
    assert "\x1b" not in camhs("performance", "--quarter", "2025-Q3", "--as-of", ON).stdout
    assert camhs("kpi", "list").exit_code == 0
    problems = camhs("audit", "verify", expect=1).stderr
    assert "kpi_value #1 differs" in problems and "kpi_target #2 differs" in problems and "kpi #2 differs" in problems


@pytest.mark.parametrize(("args", "said"), [
    (("kpi", "show", "camhs", "--quarters", "0"), "--quarters 0 is out of range; give 1 to 40 quarters"),
    (("kpi", "show", "camhs", "--as-of", "2026-02-30"), "--as-of"),
    (("performance", "--quarter", "2026"), "--quarter '2026' is not a financial quarter"),
    (("kpi", "set", "camhs", "rtt-4wk", "--from", "2025-Q3"), "give what changes: --target, --low/--high (a band), "
                                                               "--tolerance or --over"),
    (("kpi", "set", "camhs", "rtt-4wk", "--from", "2025-Q3", "--target", "92"),
     "rtt-4wk of camhs already has these terms in 2025-Q3; nothing to change"),
    (("kpi", "set", "camhs", "rtt-4wk", "--from", "2025-Q3", "--low", "1", "--high", "2"),
     "--low and --high are for --better band; --better higher takes --target"),
    (("review", "record", "camhs", "--quarter", "2025-Q3", "--held-on", "2026-01-10", "--attendee", " "),
     "--attendee must not be empty"),
    (("action", "add", "camhs", "x", "--owner", "alice", "--due", "2026-01-31", "--contract", "CR-1"),
     "--contract names the contract of --kpi; give --kpi ID too, or leave --contract out"),
    (("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q3", "--value", "1", "--contract", "CR-9"),
     "camhs has no contract with ref 'CR-9'; its contracts: CR-1"),
])
def test_misuse_is_one_line_and_writes_nothing(camhs: Cli, db: Database, args: tuple[str, ...], said: str) -> None:
    before = db.dump()
    r = camhs(*args, expect=2)
    assert r.stderr.startswith("Error: ") and said in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert db.dump() == before


# --- a project holding several contracts ----------------------------------------------------------------------------

def test_with_two_contracts_the_contract_is_named_by_its_ref(camhs: Cli, db: Database, tmp_path: Path) -> None:
    camhs("contract", "add", "camhs", "--ref", "LOT2", "--provider", "Trust Y", "--start", "2024-04-01", "--end",
          "2028-03-31", "--notice", "3 months")
    before = db.dump()
    assert camhs("kpi", "add", "camhs", "wait", "--title", "Wait", "--target", "30", "--better", "lower",
                 expect=2).stderr == "Error: camhs holds 2 contracts (CR-1, LOT2): say which with --contract REF\n"
    assert db.dump() == before
    camhs("kpi", "add", "camhs", "wait", "--title", "Wait", "--target", "30", "--better", "lower", "--contract", "LOT2")
    camhs("kpi", "add", "camhs", "rtt-4wk", *RTT, "--contract", "LOT2")  # the same id in the other contract
    # an id only one contract has needs no --contract; one both have does
    camhs("kpi", "record", "camhs", "wait", "--quarter", "2025-Q3", "--value", "28")
    assert camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q3", "--value", "90", expect=2).stderr == (
        "Error: camhs has an indicator rtt-4wk in 2 contracts (CR-1, LOT2): say which with --contract REF\n")
    camhs("kpi", "record", "camhs", "rtt-4wk", "--quarter", "2025-Q3", "--value", "90", "--contract", "CR-1")
    f = _write(tmp_path / "r.csv", "project,contract,kpi,quarter,value\ncamhs,LOT2,rtt-4wk,2025-Q3,80\n"
                                   "camhs,,wait,2025-Q2,31\n")
    camhs("kpi", "import", str(f))
    g = _write(tmp_path / "g.csv", "project,kpi,quarter,value\ncamhs,rtt-4wk,2025-Q2,80\n")
    assert camhs("kpi", "import", str(g), expect=2).stderr == (
        f"Error: {g}: line 2: camhs has an indicator rtt-4wk in 2 contracts: add a contract column naming which; "
        f"nothing was imported\n")
    found = camhs.json("performance", "--quarter", "2025-Q3", "--as-of", ON)
    assert [(r["contract"], r["kpi"], r["value"], r["status"]) for r in found] == [
        ("CR-1", "rtt-4wk", "90", "near"), ("LOT2", "rtt-4wk", "80", "missed"), ("LOT2", "wait", "28", "met")]
    assert [(v["contract"], v["kpi"]) for v in camhs.json("kpi", "show", "camhs", "--as-of", ON)] == [
        ("CR-1", "rtt-4wk"), ("LOT2", "rtt-4wk"), ("LOT2", "wait")]
    assert [v["kpi"] for v in camhs.json("kpi", "show", "camhs", "--contract", "LOT2", "--as-of", ON)] == [
        "rtt-4wk", "wait"]
    camhs("review", "record", "camhs", "--quarter", "2025-Q3", "--held-on", "2026-01-25")
    shot = json.loads(db.audit()[-1]["payload"])["indicators"]
    assert [(i["contract"], i["kpi"], i["status"]) for i in shot] == [
        ("CR-1", "rtt-4wk", "near"), ("LOT2", "rtt-4wk", "missed"), ("LOT2", "wait", "met")]
    assert camhs("audit", "verify").exit_code == 0
