"""The board view of contract performance (issue 17 part 7): `cycle performance` as a compact table, and the quarterly
report's indicators, with a chart per indicator in HTML (inline SVG, no JavaScript) that Chromium draws and prints.

Quarters are in the past and every read names its day (--as-of, or the report run on a day set by time_machine).
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from .conftest import Cli, Database
from .test_reports import browser  # noqa: F401 - the browser fixture

ON = "2026-01-31"  # 2025-Q3's return (due 20 January 2026) is late by then
SVG = "{http://www.w3.org/2000/svg}"
RTT = ("--title", "Referral to treatment within 4 weeks", "--unit", "%", "--target", "92", "--better", "higher",
       "--tolerance", "5", "--over", "10")
# rtt-4wk of camhs over the 8 quarters to 2025-Q3: 2024-Q4 has no return (a gap), the target is 95 from 2025-Q2.
RTT_VALUES = {"2023-Q4": "70", "2024-Q1": "93", "2024-Q2": "87", "2024-Q3": "86.5", "2025-Q1": "101",
              "2025-Q2": "110", "2025-Q3": "95"}
SHOWN = ["2023-Q4", "2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3"]


@contextmanager
def on(day: str) -> Iterator[None]:
    with time_machine.travel(datetime.fromisoformat(day + "T11:00:00").replace(tzinfo=UTC), tick=False):
        yield


def _contract(run: Cli, key: str, title: str, ref: str, start: str = "2023-04-01") -> None:
    run("project", "new", key, "--title", title, "--owner", "alice")
    run("contract", "set", key, "--provider", "Trust X", "--ref", ref, "--start", start, "--end", "2028-03-31",
        "--notice", "6 months")


@pytest.fixture
def board(run: Cli) -> Cli:
    """camhs (rtt-4wk higher, occ a band, wait lower) and respite (rtt-4wk, no return in 2025-Q3)."""
    run("init")
    _contract(run, "camhs", "CAMHS Tiers 2 and 3", "CR-1")
    _contract(run, "respite", "Respite care", "RS-1")
    run("kpi", "add", "camhs", "rtt-4wk", *RTT)
    run("kpi", "set", "camhs", "rtt-4wk", "--from", "2025-Q2", "--target", "95")
    run("kpi", "add", "camhs", "occ", "--title", "Bed occupancy", "--unit", "%", "--better", "band", "--low", "80",
        "--high", "90", "--tolerance", "3")
    run("kpi", "add", "camhs", "wait", "--title", "Average wait", "--unit", "days", "--target", "30", "--better",
        "lower", "--tolerance", "5")
    run("kpi", "add", "respite", "rtt-4wk", *RTT)
    for quarter, value in RTT_VALUES.items():
        run("kpi", "record", "camhs", "rtt-4wk", "--quarter", quarter, "--value", value)
    for quarter, value in (("2025-Q2", "91"), ("2025-Q3", "88")):
        run("kpi", "record", "camhs", "occ", "--quarter", quarter, "--value", value)
    run("kpi", "record", "camhs", "wait", "--quarter", "2025-Q3", "--value", "36")
    run("kpi", "record", "respite", "rtt-4wk", "--quarter", "2025-Q2", "--value", "90")
    return run


# --- 1. the compact table -----------------------------------------------------------------------------------------

def test_performance_is_a_compact_table_with_trend_as_arrow_and_word(board: Cli) -> None:
    out = board("performance", "--quarter", "2025-Q3", "--as-of", ON).stdout
    assert out == (
        "Contract performance, 2025-Q3 (returns judged as of 2026-01-31)\n"
        "project          contract   indicator      target                    value  status     trend     title\n"
        "camhs            CR-1       occ            80 to 90%                   88%  met        \u2191 better  "
        "Bed occupancy\n"
        "camhs            CR-1       rtt-4wk        95% or more                 95%  met        \u2193 worse   "
        "Referral to treatment within 4 weeks\n"
        "camhs            CR-1       wait           30 days or less         36 days  missed               "
        "Average wait\n"
        "respite          RS-1       rtt-4wk        92% or more                   -  no-return            "
        "Referral to treatment within 4 weeks\n"
        "4 indicators: 2 met, 1 missed, 1 no-return\n")
    # JSON and CSV are as they were: the table is the text form only
    assert [r["trend"] for r in board.json("performance", "--quarter", "2025-Q3", "--as-of", ON)] == [
        "better", "worse", None, None]


def test_the_quarterly_report_lists_every_indicator_with_its_last_8_quarters(board: Cli) -> None:
    with on(ON):
        data = board.json("report", "quarterly", "--quarter", "2025-Q3")
        md = board("report", "quarterly", "--quarter", "2025-Q3").stdout
    assert data["summary"]["indicators"] == 4
    assert data["summary"]["indicators_by_status"] == {"met": 2, "over": 0, "near": 0, "missed": 1, "no-return": 1,
                                                       "awaited": 0, "not-judged": 0}
    rows = data["performance"]
    assert [(r["project"], r["title"], r["contract"], r["kpi"], r["value"], r["status"], r["trend"]) for r in rows] == [
        ("camhs", "CAMHS Tiers 2 and 3", "CR-1", "occ", "88", "met", "better"),
        ("camhs", "CAMHS Tiers 2 and 3", "CR-1", "rtt-4wk", "95", "met", "worse"),
        ("camhs", "CAMHS Tiers 2 and 3", "CR-1", "wait", "36", "missed", None),
        ("respite", "Respite care", "RS-1", "rtt-4wk", None, "no-return", None)]
    rtt = rows[1]
    assert [(q["quarter"], q["value"], q["target"], q["status"]) for q in rtt["quarters"]] == [
        ("2023-Q4", "70", "92", "missed"), ("2024-Q1", "93", "92", "met"), ("2024-Q2", "87", "92", "near"),
        ("2024-Q3", "86.5", "92", "missed"), ("2024-Q4", None, "92", "no-return"), ("2025-Q1", "101", "92", "met"),
        ("2025-Q2", "110", "95", "over"), ("2025-Q3", "95", "95", "met")]
    # The summary first, then the table, then the rest
    assert md.index("- Contract indicators: 4 (met 2, missed 1, no-return 1)") < md.index("## Contract performance")
    assert md.index("## Contract performance, 2025-Q3 (4 indicators)") < md.index("## Projects by programme")
    assert ("| CAMHS Tiers 2 and 3 (camhs) | CR-1 | Referral to treatment within 4 weeks (rtt-4wk) | 95% or more | "
            "95% | met | \u2193 worse |\n") in md
    assert "| Respite care (respite) | RS-1 | Referral to treatment within 4 weeks (rtt-4wk) | 92% or more | - | " \
           "no-return |  |\n" in md


def test_a_report_without_indicators_has_no_performance_section(run: Cli) -> None:
    run("init")
    with on(ON):
        data = run.json("report", "quarterly", "--quarter", "2025-Q3")
        html = run("report", "quarterly", "--quarter", "2025-Q3", "--format", "html").stdout
    assert (data["performance"], data["summary"]["indicators"]) == ([], 0)
    assert set(data["summary"]["indicators_by_status"].values()) == {0}
    assert 'id="performance"' not in html and '<svg class="kpi-chart"' not in html


# --- 2. the chart ---------------------------------------------------------------------------------------------------

def charts(html: str) -> list[ET.Element]:
    """Every indicator chart in a report, parsed as the XML it must be."""
    return [ET.fromstring(m) for m in re.findall(r'<svg class="kpi-chart".*?</svg>', html, flags=re.S)]


def _floats(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]


def test_each_chart_has_a_point_for_each_quarter_and_a_gap_where_there_is_no_return(board: Cli) -> None:
    with on(ON):
        html = board("report", "quarterly", "--quarter", "2025-Q3", "--format", "html").stdout
    found = charts(html)
    assert len(found) == 4
    rtt = found[1]
    assert rtt.get("role") == "img" and rtt.get("viewBox") == "0 0 220 64"
    quarters = rtt.findall(f"{SVG}g[@data-quarter]")
    assert [q.get("data-quarter") for q in quarters] == SHOWN
    assert {q.get("data-quarter"): q.get("data-value") for q in quarters if q.get("data-value")} == RTT_VALUES
    gap = quarters[SHOWN.index("2024-Q4")]
    assert gap.get("class") == "q gap" and gap.get("data-status") == "no-return"
    assert [c.tag for c in gap] == [f"{SVG}title"]  # nothing drawn: a gap, not a zero
    assert gap.findtext(f"{SVG}title") == "2024-Q4: no return"
    # each status by shape as well as colour
    shapes = {q.get("data-status"): q[1].tag for q in quarters if q.get("data-value")}
    assert shapes == {"missed": f"{SVG}path", "met": f"{SVG}circle", "near": f"{SVG}polygon",
                      "over": f"{SVG}polygon"}
    # the points stand as the values do: higher values higher up (a smaller y)
    ys = {q.get("data-quarter"): _y(q[1]) for q in quarters if q.get("data-value")}
    by_value = sorted(RTT_VALUES, key=lambda k: float(RTT_VALUES[k]))
    assert sorted(ys, key=lambda k: -ys[k]) == by_value
    # the line is broken at the gap: 2023-Q4 .. 2024-Q3, then 2025-Q1 .. 2025-Q3
    lines = [_floats(p.get("points", "")) for p in rtt.iter(f"{SVG}polyline")]
    assert [len(line) for line in lines] == [4, 3]
    assert [y for line in lines for _, y in line] == pytest.approx([ys[q] for q in SHOWN if q in RTT_VALUES], abs=1)
    # the target steps up from 95 in 2025-Q2: the dashed line is higher (smaller y) in the last two quarters
    targets = [float(t.get("y1", "0")) for t in rtt.iter(f"{SVG}line") if t.get("class") == "target"]
    assert len(targets) == 8 and len(set(targets[:6])) == 1 and targets[6] == targets[7] < targets[0]
    # for screen readers: a title and a description listing every quarter in words
    assert rtt.findtext(f"{SVG}title") == ("Referral to treatment within 4 weeks (camhs, CR-1, rtt-4wk): the last 8 "
                                           "quarters against its target")
    desc = rtt.findtext(f"{SVG}desc") or ""
    assert desc.startswith("Higher is better. 2023-Q4: 70%, missed (target 92%); 2024-Q1: 93%, met (target 92%);")
    assert "2024-Q4: no return;" in desc and desc.endswith("2025-Q3: 95%, met (target 95%).")
    assert rtt.get("aria-labelledby") == "kpi-chart-2-t kpi-chart-2-d"
    assert found[1].get("aria-labelledby") != found[0].get("aria-labelledby")
    # respite: one value in 8 quarters, and 2025-Q3 without a return
    respite = found[3].findall(f"{SVG}g[@data-quarter]")
    assert [(q.get("data-quarter"), q.get("data-value")) for q in respite if q.get("data-value")] == [("2025-Q2", "90")]
    assert respite[-1].get("data-status") == "no-return" and not list(found[3].iter(f"{SVG}polyline"))


def _y(mark: ET.Element) -> float:
    if mark.get("cy"):
        return float(mark.get("cy", "0"))
    numbers = [float(n) for n in re.findall(r"-?\d+\.?\d*", mark.get("points") or mark.get("d") or "")]
    ys = numbers[1::2]
    return (min(ys) + max(ys)) / 2


def test_a_band_is_drawn_with_its_edges_and_tolerance(board: Cli) -> None:
    with on(ON):
        html = board("report", "quarterly", "--quarter", "2025-Q3", "--format", "html").stdout
    occ = charts(html)[0]
    band = [r for r in occ.iter(f"{SVG}rect") if r.get("class") == "band"]
    tolerance = [r for r in occ.iter(f"{SVG}rect") if r.get("class") == "tolerance"]
    assert len(band) == len(tolerance) == 8  # every quarter the contract ran
    b, t = band[0], tolerance[0]
    assert float(t.get("y", "0")) < float(b.get("y", "0"))
    assert float(t.get("height", "0")) > float(b.get("height", "0"))  # the tolerance either side of the band
    over_band = next(q for q in occ.iter(f"{SVG}g") if q.get("data-quarter") == "2025-Q2")
    assert over_band.get("data-status") == "near"  # 91: above the band by 1, inside its tolerance of 3
    assert (occ.findtext(f"{SVG}desc") or "").startswith("Inside the band is met. 2023-Q4: no return; ")


def test_user_text_in_a_chart_stays_text(board: Cli) -> None:
    evil = "<script>window.pwned = 1</script> & \"quotes\" 'too' </svg><b>x</b>"
    board("kpi", "add", "camhs", "evil", "--title", evil, "--unit", "<i>u</i>", "--target", "1", "--better", "higher")
    board("kpi", "record", "camhs", "evil", "--quarter", "2025-Q3", "--value", "2")
    board("project", "set", "camhs", "--title", "A & B <img src=x onerror=alert(1)>")
    with on(ON):
        html = board("report", "quarterly", "--quarter", "2025-Q3", "--format", "html").stdout
    assert "<script>" not in html and "<img" not in html and "<b>x" not in html and "<i>u" not in html
    chart = charts(html)[0]
    assert chart.findtext(f"{SVG}title") == f"{evil} (camhs, CR-1, evil): the last 8 quarters against its target"
    assert "2025-Q3: 2 <i>u</i>, met" in (chart.findtext(f"{SVG}desc") or "")  # no margin given: any amount is met
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt; &amp; &quot;quotes&quot;" in html


# --- 3. in a real browser -------------------------------------------------------------------------------------------

def _png_box(png: bytes) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def _drawn(image: Any) -> int:
    """How many pixels are not the page's white background."""
    return int(sum(image.convert("L").histogram()[:250]))


@pytest.mark.parametrize("media", ["screen", "print"])
def test_the_charts_are_drawn_in_chromium_and_kept_in_print(board: Cli, browser: Any,  # noqa: F811
                                                            tmp_path: Path, media: str) -> None:
    out = tmp_path / "quarterly.html"
    board("kpi", "add", "camhs", "evil", "--title", "<script>window.pwned = 1</script>", "--target", "1",
          "--better", "higher")
    with on(ON):
        board("report", "quarterly", "--quarter", "2025-Q3", "--format", "html", "--out", str(out))
    page = browser.new_page(viewport={"width": 794, "height": 1123})  # A4 at 96 dpi
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.emulate_media(media=media)
    page.goto(out.as_uri())
    assert page.evaluate("window.pwned") is None and errors == []
    charts_found = page.query_selector_all("svg.kpi-chart")
    assert len(charts_found) == 5
    rtt = charts_found[2]
    rtt.scroll_into_view_if_needed()  # the boxes below and its screenshot measured at the same scroll
    box = rtt.bounding_box()
    assert box is not None and box["width"] > 150 and box["height"] > 40
    assert page.evaluate("(svg) => getComputedStyle(svg).display !== 'none' && getComputedStyle(svg).visibility "
                         "=== 'visible'", rtt)
    shot = _png_box(rtt.screenshot())
    assert _drawn(shot) > 500  # frame, target, tolerance, line and points: not an empty box
    # every point is drawn where it stands: its middle is not the background
    for mark in rtt.query_selector_all("g.q:not(.gap) > .mark"):
        m = mark.bounding_box()
        assert m is not None and m["width"] > 3 and m["height"] > 3
        x, y = round(m["x"] + m["width"] / 2 - box["x"]), round(m["y"] + m["height"] / 2 - box["y"])
        assert shot.getpixel((x, y)) != (255, 255, 255), mark.get_attribute("class")
    # with its points and line taken away, the chart loses what they drew: they were visible
    page.evaluate("(svg) => svg.querySelectorAll('g.q, polyline').forEach(e => e.remove())", rtt)
    assert _drawn(_png_box(rtt.screenshot())) < _drawn(shot) - 100
    if media == "print":
        pdf = page.pdf(format="A4", print_background=False)
        assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf)) >= 2
    page.close()


def test_the_first_printed_page_is_still_the_summary_with_indicators(board: Cli, browser: Any,  # noqa: F811
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "q.html"
    with on(ON):
        board("report", "quarterly", "--quarter", "2025-Q3", "--format", "html", "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert html.index('id="summary"') < html.index('id="detail"') < html.index('id="performance"') < html.index(
        "Decisions taken")
    assert '<span class="n">4</span> contract indicators: 2 met, 1 missed, 1 no-return' in html
    assert '<div class="tile warn"><span class="n">2</span> indicators to look at' in html
    page = browser.new_page()
    page.goto(out.as_uri())
    page.emulate_media(media="print")
    page.evaluate("document.getElementById('detail').remove(); document.querySelector('footer').remove()")
    summary = page.pdf(format="A4", print_background=True)
    page.close()
    assert len(re.findall(rb"/Type\s*/Page(?![s\w])", summary)) == 1


# --- a careless or hostile user -------------------------------------------------------------------------------------

def test_hand_edited_and_extreme_values_still_draw(board: Cli, db: Database) -> None:
    board("kpi", "add", "camhs", "big", "--title", "Spend", "--target", "999999999999999", "--better", "lower")
    board("kpi", "record", "camhs", "big", "--quarter", "2025-Q2", "--value", "-999999999999999.999999")
    board("kpi", "record", "camhs", "big", "--quarter", "2025-Q3", "--value", "999999999999999")
    db.tamper("UPDATE kpi_value SET value = 'lots' WHERE quarter = '2025-Q1'",
              "UPDATE kpi_value SET value = '1e400' WHERE quarter = '2024-Q1'",
              "UPDATE kpi_target SET tolerance = '-1e999' WHERE from_quarter = '2025-Q2'",
              "UPDATE kpi SET title = :t WHERE key = 'occ'", params={"t": "Occ\x1b[2J\x07"})
    with on(ON):
        html = board("report", "quarterly", "--quarter", "2025-Q3", "--format", "html", expect=1).stdout
    found = charts(html)  # each still parses as XML, the edited title too
    big = found[0]
    assert [q.get("data-value") for q in big.iter(f"{SVG}g") if q.get("data-value")] == [
        "-999999999999999.999999", "999999999999999"]
    assert not re.search(r"nan|inf", ET.tostring(big, encoding="unicode"), flags=re.I)
    rtt = next(c for c in found if "rtt-4wk" in (c.findtext(f"{SVG}title") or "") and "camhs" in (
        c.findtext(f"{SVG}title") or ""))
    edited = next(q for q in rtt.iter(f"{SVG}g") if q.get("data-quarter") == "2025-Q1")
    assert edited.get("class") == "q gap"  # a value that is no number is no point, never a zero
    huge = next(q for q in rtt.iter(f"{SVG}g") if q.get("data-quarter") == "2024-Q1")
    assert huge.get("class") == "q gap" and huge.findtext(f"{SVG}title") == "2024-Q1: over, a value too large to draw"
    assert not re.search(r"nan|inf", ET.tostring(rtt, encoding="unicode"), flags=re.I)
    assert found[1].findtext(f"{SVG}title", "").startswith("Occ\ufffd[2J\ufffd (camhs")
