"""Issue 18 part 1: the regimes and their routes are data (cycle/procurement/regimes.toml), validated on load and by
`cycle procurement check FILE`; a bad file is one line naming the file and the entry, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycle.procurement import regimes

from .conftest import Cli

BUILT_IN = regimes.BUILT_IN.read_text(encoding="utf-8")
SMALL = '''[[regime]]
id = "psr"
title = "PSR"
cite = "SI 2023/1348"
calendar = "psr-working-days"

  [[regime.route]]
  id = "direct-award-c"
  title = "Direct Award C"
  cite = "reg 9"

    [[regime.route.step]]
    id = "intention-notice"
    title = "Notice of intention"
    cite = "reg 9(3)"

    [[regime.route.step]]
    id = "award"
    title = "Award"
    cite = "reg 9"
    after = ["intention-notice"]

    [[regime.route.clock]]
    id = "standstill"
    title = "Standstill"
    kind = "standstill"
    from = "intention-notice"
    step = "award"
    days = 8
    calendar = "psr-working-days"
    count = "after-the-day-after"
    cite = "reg 12(2), (3), (9)"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "regimes.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_built_in_regimes_pass_their_own_check(run: Cli) -> None:
    out = run("procurement", "check", str(regimes.BUILT_IN)).stdout
    assert out == f"OK: {regimes.BUILT_IN} defines 2 regimes (psr, pa2023): 7 routes, 31 clocks.\n"
    found = regimes.built_in()
    psr, pa = found.regime("psr"), found.regime("pa2023")
    assert psr is not None and pa is not None
    assert [r.id for r in psr.routes] == ["direct-award-a", "direct-award-b", "direct-award-c",
                                          "most-suitable-provider", "competitive"]
    assert [r.id for r in pa.routes] == ["open", "competitive-flexible"]
    assert [d.cite for d in psr.duties] == ["reg 25", "reg 26"]


def test_every_figure_in_the_built_in_file_cites_its_regulation_or_section() -> None:
    for regime in regimes.built_in().regimes:
        for route in regime.routes:
            for clock in route.clocks:
                prefix = "reg " if regime.id == "psr" else "s."
                assert clock.cite.startswith(prefix), (route.id, clock.id, clock.cite)
            for step in route.steps:
                assert step.cite.strip(), (route.id, step.id)


def test_the_figures_are_the_laws(run: Cli) -> None:
    """Each number against the legislation's own words (docs/procurement.md), not against the issue's."""
    found = regimes.built_in()
    c = found.regime("psr").route("direct-award-c")  # type: ignore[union-attr]
    standstill = next(x for x in c.clocks if x.id == "standstill")
    assert (standstill.days, standstill.calendar, standstill.count, standstill.further_days) == (
        8, "psr-working-days", "after-the-day-after", 5)
    open_ = found.regime("pa2023").route("open")  # type: ignore[union-attr]
    by_id = {x.id: x for x in open_.clocks}
    assert (by_id["standstill"].days, by_id["standstill"].count, by_id["standstill"].unless) == (
        8, "beginning-with", ("light-touch",))
    assert (by_id["contract-details-notice"].days, by_id["contract-details-notice-light-touch"].days) == (30, 120)
    assert (by_id["contract-published"].days, by_id["contract-published-light-touch"].days) == (90, 180)
    assert (by_id["tendering-period"].days, by_id["termination-notice"].days) == (25, 30)
    msp = found.regime("psr").route("most-suitable-provider")  # type: ignore[union-attr]
    assert next(x for x in msp.clocks if x.id == "identify-providers").days == 14


@pytest.mark.parametrize(("change", "error"), [
    (('after = ["intention-notice"]', 'after = ["intention-notise"]'),
     "regime 'psr' route 'direct-award-c' step 'award': after names unknown step 'intention-notise'; the steps are: "
     "intention-notice, award"),
    (('cite = "reg 9(3)"\n', 'cite = "reg 9(3)"\n    after = ["award"]\n'),
     "regime 'psr' route 'direct-award-c' step 'intention-notice': the steps are in a cycle: intention-notice -> "
     "award -> intention-notice; a step cannot come after itself"),
    (("days = 8", "days = -8"),
     "regime 'psr' route 'direct-award-c' clock 'standstill': days is -8: a period cannot be negative"),
    (('calendar = "psr-working-days"\n    count', 'calendar = "scottish-days"\n    count'),
     "regime 'psr' route 'direct-award-c' clock 'standstill': unknown calendar 'scottish-days'; the calendars are: "
     "days, psr-working-days, pa2023-working-days"),
    (('step = "award"', 'step = "contract"'),
     "regime 'psr' route 'direct-award-c' clock 'standstill': step names unknown step 'contract'; the steps are: "
     "award, intention-notice"),
    (('kind = "standstill"', 'kind = "pause"'),
     "regime 'psr' route 'direct-award-c' clock 'standstill': unknown kind 'pause'; the kinds are: deadline, wait, "
     "minimum, standstill"),
    (("days = 8", 'days = "8"'),
     "regime 'psr' route 'direct-award-c' clock 'standstill': days must be a whole number of days (no quotes), "
     "not \"8\""),
    (('count = "after-the-day-after"', 'count = "from-monday"'),
     "regime 'psr' route 'direct-award-c' clock 'standstill': unknown count 'from-monday'; the ways of counting "
     "are: after, beginning-with, after-the-day-after"),
    (('cite = "reg 12(2), (3), (9)"\n', 'cite = "reg 12"\n    when = ["scotland"]\n'),
     "regime 'psr' route 'direct-award-c' clock 'standstill': when names unknown fact 'scotland'; the facts are: "
     "light-touch, over-5m"),
    (('id = "award"', 'id = "intention-notice"'),
     "regime 'psr' route 'direct-award-c' step 'intention-notice': duplicate id: another step of this route "
     "already uses it"),
])
def test_a_bad_regimes_file_is_one_error_naming_the_entry_from_loading_and_from_check(
        run: Cli, tmp_path: Path, change: tuple[str, str], error: str) -> None:
    old, new = change
    assert old in SMALL
    path = write(tmp_path, SMALL.replace(old, new, 1))
    with pytest.raises(regimes.RegimesInvalid) as raised:
        regimes.load(path)
    assert str(raised.value) == f"{path}: {error}"
    result = run("procurement", "check", str(path), expect=2)
    assert result.stderr == f"Error: {path}: {error}\n"
    assert result.stdout == ""


def test_a_longer_cycle_is_named_step_by_step(run: Cli, tmp_path: Path) -> None:
    text = SMALL.replace('cite = "reg 9(3)"\n', 'cite = "reg 9(3)"\n    after = ["notice-two"]\n', 1) + '''
    [[regime.route.step]]
    id = "notice-two"
    title = "Two"
    cite = "reg 9"
    after = ["award"]
'''
    path = write(tmp_path, text)
    assert run("procurement", "check", str(path), expect=2).stderr == (
        f"Error: {path}: regime 'psr' route 'direct-award-c' step 'intention-notice': the steps are in a cycle: "
        f"intention-notice -> notice-two -> award -> intention-notice; a step cannot come after itself\n")


@pytest.mark.parametrize(("text", "error"), [
    ("regime = 3\n", "top level: regime must be [[...regime]] entries, not 3"),
    ("", "regime: no regimes: add [[regime]] entries"),
    ("[[regime]\n", "not valid TOML: "),
    ('[[regime]]\nid = "psr"\ntitle = "x"\ncite = "y"\ncalendar = "days"\n', "regime 'psr': no routes: add "
                                                                           "[[regime.route]] entries"),
    ('[[regime]]\nid = "PSR!"\n', "regime[0]: id 'PSR!' must be lower-case letters, digits, '-' and '_'"),
    ('[[regime]]\nid = "psr"\ntitle = "\\u001b[31mred"\n', "regime[1].title: must be a single line of text (no "
                                                           "control characters: tab, newline, escape ...); found "
                                                           "'\\x1b[31mred'"),
])
def test_odd_files_are_refused_in_one_line(run: Cli, tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path, text)
    result = run("procurement", "check", str(path), expect=2)
    assert result.stderr.startswith(f"Error: {path}: {error}") and result.stderr.count("\n") == 1


def test_a_file_that_is_not_text_or_not_there_is_refused(run: Cli, tmp_path: Path) -> None:
    path = tmp_path / "regimes.toml"
    path.write_bytes(b"\xff\xfe[[regime]]")
    assert run("procurement", "check", str(path), expect=2).stderr.startswith(f"Error: {path}: not UTF-8 text")
    assert run("procurement", "check", str(tmp_path / "none.toml"), expect=2).stderr.startswith("Error: ")
    assert run("procurement", "check", str(tmp_path), expect=2).stderr.startswith("Error: ")
