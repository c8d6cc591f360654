"""A quarterly report that fits a board (issue 15, item 18): the portfolio summary on the first page, even with
300 projects (proved with Chromium's print to PDF), then detail per project; projects named by title and key;
reviews due exactly when the reminders say so; diagrams whose text prints at a readable size."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from cycle.db.store import open_store
from cycle.projects import engine

from .conftest import BODY, CAMHS, Cli
from .reminder_setup import Y, live_project, to_do
from .test_reports import browser  # noqa: F401 - the browser fixture


@contextmanager
def on(day: str) -> Iterator[None]:
    with time_machine.travel(datetime.fromisoformat(day + "T11:00:00").replace(tzinfo=UTC), tick=False):
        yield


def _pages(pdf: bytes) -> int:
    """Pages in a PDF Chromium printed (its page objects are plain, not in object streams)."""
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def test_reviews_due_are_the_ones_the_reminders_ask_for(run: Cli) -> None:
    live_project(run)  # camhs at do, with a contract from 1 October Y: its first quarter is Y-Q3
    respite = list(CAMHS)
    respite[respite.index("camhs")] = "respite"
    respite[respite.index("--title") + 1] = "Respite care"
    run(*respite)
    to_do(run, "respite")  # at do too, but no contract: the reminders ask it for no review
    day = f"{Y + 1}-01-15"  # after Y-Q3 and its grace: camhs's review is missed
    plan = run.json("remind", "--dry-run", "--as-of", day)
    reminded = sorted({(r["project"], r["period"]) for r in plan["reminders"] if r["kind"].startswith("review")})
    with on(day):
        report = run.json("report", "quarterly", "--quarter", f"{Y}-Q3")
    assert reminded == [("camhs", f"{Y}-Q3")]
    assert [(r["project"], r["quarter"], r["state"]) for r in report["reviews"]] == [("camhs", f"{Y}-Q3", "overdue")]
    assert (report["summary"]["reviews_held"], report["summary"]["reviews_missed"]) == (0, 1)


def test_the_summary_comes_first_and_names_projects_by_title_and_key(run: Cli, tmp_path: Path) -> None:
    live_project(run)
    with on(f"{Y + 1}-01-15"):
        data = run.json("report", "quarterly", "--quarter", f"{Y}-Q3")
        md = run("report", "quarterly", "--quarter", f"{Y}-Q3").stdout
        html = run("report", "quarterly", "--quarter", f"{Y}-Q3", "--format", "html").stdout
    s = data["summary"]
    assert (s["projects"], s["gates_refused"], s["reviews_missed"], s["unverified_decisions"]) == (1, 0, 1, 0)
    assert s["by_stage"] == [{"workflow": "commissioning", "stage": "do", "stage_title": "Do", "total": 1}]
    assert [(p["project"], p["title"], p["stage_title"]) for p in data["by_project"]] == [
        ("camhs", "CAMHS Tiers 2 and 3", "Do")]
    assert md.index("## Portfolio summary") < md.index("## Stage moves")
    assert f"- CAMHS Tiers 2 and 3 (camhs) {Y}-Q3: overdue\n" in md
    assert html.index('id="summary"') < html.index('id="detail"')
    assert '<h3>CAMHS Tiers 2 and 3 <span class="key">(camhs)</span></h3>' in html
    assert "<td>commissioning</td><td>Do</td><td>1</td>" in html


@pytest.fixture
def portfolio_of_300(run: Cli) -> Cli:
    """300 projects on both workflows, made through the library (the CLI would take minutes), reported by the CLI."""
    run("init")
    store = open_store()
    try:
        for n in range(300):
            workflow = "decommissioning" if n % 10 == 0 else "commissioning"
            engine.create_project(store, actor="alice", key=f"service-{n:03d}",
                                  title=f"Community service number {n} with a long, descriptive title",
                                  workflow=workflow, lead_commissioner="CCGs", model="joint",
                                  accountable_body=BODY, owner="alice")
    finally:
        store.dispose()
    return run


def test_with_300_projects_the_summary_fits_one_printed_page(portfolio_of_300: Cli, browser: Any,  # noqa: F811
                                                            tmp_path: Path) -> None:
    out = tmp_path / "quarterly.html"
    today = datetime.now(UTC).date()
    quarter = f"{today.year if today.month >= 4 else today.year - 1}-Q{((today.month - 4) % 12) // 3 + 1}"
    portfolio_of_300("report", "quarterly", "--quarter", quarter, "--format", "html", "--out", str(out))
    page = browser.new_page()
    page.goto(out.as_uri())
    page.emulate_media(media="print")
    full = page.pdf(format="A4", print_background=True)
    assert page.evaluate("document.querySelectorAll('#detail section.project').length") == 300
    # The summary alone (with the report's heading): everything after it taken away.
    page.evaluate("document.getElementById('detail').remove(); document.querySelector('footer').remove()")
    summary = page.pdf(format="A4", print_background=True)
    page.goto(out.as_uri())
    # The detail alone (with the footer that ends the report).
    page.evaluate("document.getElementById('summary').remove(); document.querySelector('header').remove()")
    detail = page.pdf(format="A4", print_background=True)
    page.close()
    assert _pages(summary) == 1  # the whole portfolio summary on one page
    assert _pages(detail) > 5
    assert _pages(full) == 1 + _pages(detail)  # ... and the detail starts on page 2


def test_diagram_text_prints_at_a_readable_size(run: Cli, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    live_project(run)
    out = tmp_path / "q.html"
    with on(f"{Y + 1}-01-15"):
        run("report", "quarterly", "--quarter", f"{Y}-Q3", "--format", "html", "--out", str(out))
    if "<svg" not in out.read_text(encoding="utf-8"):
        pytest.skip("Graphviz is not installed: no diagram to print")
    page = browser.new_page(viewport={"width": 794, "height": 1123})  # A4 at 96 dpi
    page.emulate_media(media="print")
    page.goto(out.as_uri())
    sizes = page.evaluate("""() => [...document.querySelectorAll('figure svg')].flatMap(svg => {
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        return [...svg.querySelectorAll('text')].map(t => parseFloat(t.getAttribute('font-size')) * scale);
    })""")
    page.close()
    assert sizes and min(sizes) >= 10, sizes  # px on the printed page: 7.5pt or more, never shrunk to fit
