"""Reports a governance lead and a board can trust: gate audit, diagrams, HTML in a real browser."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cycle.calendar.clock import london_today
from cycle.cli import cli as cycle_cli

from .conftest import BODY, Cli, Database, go

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EVIDENCE = {"analyse-plan": ["needs-assessment"],
            "plan-do": ["service-specification", "eia", "performance-targets"],
            "do-review": ["contract-award"], "review-analyse": ["outcomes-evaluation"]}


def _people(run: Cli) -> None:
    run("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager")
    run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY)
    run("people", "add", "gill", "--email", "gill@council.gov.uk", "--role", "governance-lead")


@pytest.fixture
def full_cycle(ready: Cli) -> Cli:
    """camhs round the whole cycle into cycle 2, with a waiver (consultation) and refused attempts."""
    run = ready
    _people(run)
    run("project", "advance", "camhs", expect=3)
    for gate, names in EVIDENCE.items():
        for name in names:
            run("evidence", "add", "camhs", name, "--ref", f"{name} (cycle 1)")
        if gate == "plan-do":
            run("gate", "waive", "camhs", "consultation", "--reason", "Covered by the JSNA engagement", user="alice",
                expect=6)
            run("gate", "waive", "camhs", "consultation", "--reason", "Covered by the JSNA engagement", user="gill")
        run("decision", "record", "camhs", "--gate", gate, "--outcome", "go", "--body", BODY, "--ref",
            f"CTB minutes {gate}", "--date", london_today().isoformat(), user="chair")
        run("project", "advance", "camhs", *(["--to", "analyse"] if gate == "review-analyse" else []))
    return run


def test_gate_audit_lists_every_gate_with_evidence_and_decision_and_matches_the_log(full_cycle: Cli) -> None:
    run = full_cycle
    report = run.json("report", "gate-audit", "camhs")
    assert report["chain"]["ok"] is True
    project = report["projects"][0]
    assert [g["gate"] for g in project["gates"]] == list(EVIDENCE)
    log = {e["seq"]: e for e in run.json("audit", "log", "camhs")}
    for gate in project["gates"]:
        entry = log[gate["seq"]]
        assert (entry["action"], entry["payload"]["gate"], entry["from"], entry["to"]) == (
            "advance", gate["gate"], gate["from"], gate["to"])
        snapshot = {c["id"]: c for c in entry["payload"]["criteria"]}
        for c in gate["criteria"]:
            assert [e["id"] for e in c["evidence"]] == snapshot[c["id"]]["evidence_ids"]
        assert gate["decision"]["body"] == BODY and gate["decision"]["ref"] == f"CTB minutes {gate['gate']}"
        assert gate["decision"]["recorded_by"] == "chair"
        assert gate["decision"]["authority"] == f"approver for {BODY}"
        for name in EVIDENCE[gate["gate"]]:
            refs = next(c["evidence"] for c in gate["criteria"] if c["id"] == name)
            assert refs[0]["ref"] == f"{name} (cycle 1)"
    plan_do = project["gates"][1]
    assert next(c for c in plan_do["criteria"] if c["id"] == "consultation")["result"] == "waived"
    assert [r["action"] for r in project["refused"]] == ["advance.refused", "waiver.refused"]


def test_a_waiver_stands_out_in_both_formats(full_cycle: Cli) -> None:
    md = full_cycle("report", "gate-audit", "camhs", "--format", "md").stdout
    assert "> **WAIVED** plan-do / consultation by gill on " in md
    assert "| consultation | must | **WAIVED** |" in md
    html = full_cycle("report", "gate-audit", "camhs", "--format", "html").stdout
    assert '<span class="tag waived">WAIVED</span> plan-do / consultation by gill' in html


def test_a_tampered_chain_is_reported_as_failed_and_exits_1(full_cycle: Cli, db: Database, tmp_path: Path) -> None:
    run = full_cycle
    db.drop_audit_triggers()
    db.execute("UPDATE audit_entry SET actor = 'someone-else' WHERE seq = 5")
    result = run("report", "gate-audit", "camhs", "--json", expect=1)
    report = json.loads(result.stdout)
    assert report["chain"]["ok"] is False and report["chain"]["bad_seq"] == 5
    assert result.stderr == ("Audit chain FAILED at entry 5: its hash does not match its contents (the entry "
                             "was edited). The report says so; see: cycle audit verify\n")
    out = tmp_path / "gates.html"
    written = run("report", "gate-audit", "camhs", "--format", "html", "--out", str(out), expect=1)
    assert written.stdout == f"Wrote the gate-audit report to {out}\n"  # written first, then exit 1
    assert "Audit chain FAILED at entry 5" in out.read_text()


def test_an_unreadable_entry_is_listed_not_crashed_on(full_cycle: Cli, db: Database) -> None:
    """A decision's payload edited into something that is not JSON: the report still renders, names it, exits 1."""
    run = full_cycle
    seq = db.rows("SELECT MIN(seq) FROM audit_entry WHERE action = 'decision.record'")[0][0]
    db.drop_audit_triggers()
    db.execute("UPDATE audit_entry SET payload = 'not json' WHERE seq = :seq", params={"seq": seq})
    report = json.loads(run("report", "gate-audit", "camhs", "--json", expect=1).stdout)
    assert report["chain"]["ok"] is False and report["chain"]["bad_seq"] == seq
    [unreadable] = report["projects"][0]["unreadable"]
    assert (unreadable["seq"], unreadable["action"], unreadable["actor"]) == (seq, "decision.record", "chair")
    assert unreadable["problem"] == "not valid JSON (Expecting value: line 1 column 1 (char 0))"
    assert seq not in [d["seq"] for d in report["projects"][0]["decisions"]]
    md = run("report", "gate-audit", "camhs", "--format", "md", expect=1).stdout
    assert f"**Audit chain FAILED at entry {seq}**" in md
    assert (f"> **UNREADABLE**: 1 audit entry of this project could not be read: entry {seq} (decision.record, "
            in md)
    html = run("report", "gate-audit", "camhs", "--format", "html", expect=1).stdout
    assert '<span class="tag bad">UNREADABLE</span> 1 audit entry' in html
    assert "Audit chain FAILED at entry" in html


def test_every_decision_and_request_is_on_the_record(ready: Cli) -> None:
    """Holds, a go overtaken by a recycle, and who asked: all in the gate-audit report, in sequence order."""
    run = ready
    _people(run)
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    run("gate", "request", "camhs", user="alice")
    for outcome in ("hold", "go"):
        run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", outcome, "--body", BODY, "--ref",
            f"CTB {outcome}", "--date", "2026-10-14", user="chair")
    run("project", "advance", "camhs")
    run("decision", "record", "camhs", "--gate", "plan-do", "--outcome", "go", "--body", BODY, "--ref", "CTB go 2",
        user="chair")
    run("decision", "record", "camhs", "--gate", "plan-do", "--outcome", "recycle", "--to", "analyse", "--body",
        BODY, "--ref", "CTB recycle", user="chair")
    project = run.json("report", "gate-audit", "camhs")["projects"][0]
    log = {e["seq"]: e for e in run.json("audit", "log", "camhs")}
    advance = next(s for s, e in log.items() if e["action"] == "advance")
    assert [(d["gate"], d["outcome"], d["moved"], d["used_by"]) for d in project["decisions"]] == [
        ("analyse-plan", "hold", False, None), ("analyse-plan", "go", False, advance),
        ("plan-do", "go", False, None), ("plan-do", "recycle", True, project["decisions"][3]["seq"])]
    assert [d["seq"] for d in project["decisions"]] == sorted(
        s for s, e in log.items() if e["action"] == "decision.record")
    assert [(r["gate"], r["by"]) for r in project["requests"]] == [("analyse-plan", "alice")]
    assert project["decisions"][0]["decided_on"] == "2026-10-14"

    md = run("report", "gate-audit", "camhs", "--format", "md").stdout
    table = md[md.index("### Decisions and gate requests on the record"):]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| Entry")]
    assert [row.split(" | ")[4].split(" by ")[0] for row in rows] == [
        "asked for a decision", "**hold**", "**go**", "**go**", "**recycle** to analyse"]
    assert rows[1].endswith("| did not move the project |")
    assert rows[2].endswith(f"| passed the gate at entry {advance} |")
    html = run("report", "gate-audit", "camhs", "--format", "html").stdout
    assert "<h3>Decisions and gate requests on the record</h3>" in html
    assert html.count("<strong>hold</strong>") == 1 and "asked for a decision" in html


def test_headings_name_the_cycle_and_the_html_prints_the_whole_head(full_cycle: Cli) -> None:
    run = full_cycle
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA (cycle 2)")
    go(run, "camhs", "analyse-plan", user="chair")
    run("project", "advance", "camhs")
    md = run("report", "gate-audit", "camhs", "--format", "md").stdout
    assert "### analyse-plan: analyse -> plan, cycle 1\n" in md
    assert "### analyse-plan: analyse -> plan, cycle 2\n" in md
    head = run("audit", "checkpoint").stdout.strip()
    html = run("report", "gate-audit", "camhs", "--format", "html").stdout
    assert f"<code>{head}</code>" in html


def test_a_cut_off_tail_is_caught_against_the_checkpoint(full_cycle: Cli, db: Database) -> None:
    """The last entry a refusal, which no record reflects: only the checkpoint can tell it was cut off."""
    run = full_cycle
    run("project", "advance", "camhs", expect=3)
    checkpoint = run("audit", "checkpoint").stdout.strip()
    db.drop_audit_triggers()
    db.execute("DELETE FROM audit_entry WHERE seq = (SELECT MAX(seq) FROM audit_entry)")
    plain = run.json("report", "gate-audit")["chain"]
    assert plain["ok"] is True and plain["checked_against"].startswith("no checkpoint given")
    checked = run.json("report", "gate-audit", "--checkpoint", checkpoint, expect=1)["chain"]
    assert checked["ok"] is False and checked["checked_against"] == checkpoint


def test_report_to_a_file(full_cycle: Cli, tmp_path: Path) -> None:
    out = tmp_path / "gates.html"
    assert full_cycle("report", "gate-audit", "--format", "html", "--out", str(out)).stdout == (
        f"Wrote the gate-audit report to {out}\n")
    assert out.read_text().startswith("<!DOCTYPE html>")


# --- diagrams --------------------------------------------------------------------------------------

def test_diagram_formats(ready: Cli) -> None:
    dot = ready("workflow", "diagram", "commissioning", "--format", "dot", "--counts").stdout
    assert '"analyse" [label="Analyse\\n1 project", fillcolor="#ffdd00"];' in dot
    assert '"review" -> "analyse" [label="review-analyse"];' in dot
    mermaid = ready("workflow", "diagram", "decommissioning", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR\n") and "do -.->|terminate-immediately| review" in mermaid


@pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"), reason="Graphviz is not installed")
def test_svg_through_graphviz(ready: Cli) -> None:
    svg = ready("workflow", "diagram", "commissioning").stdout
    assert svg.startswith("<svg") and "Analyse" in svg


def test_without_graphviz_svg_says_how_to_install_and_text_still_works(ready: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = ready.runner.invoke(cycle_cli, ["workflow", "diagram", "commissioning"],
                                 env={"PATH": str(empty)})
    assert result.exit_code == 2
    assert result.stderr == ("Error: SVG needs Graphviz: install it with `sudo apt-get install graphviz` "
                             "(or use --format dot or mermaid)\n")
    assert ready.runner.invoke(cycle_cli, ["workflow", "diagram", "commissioning", "--format", "dot"],
                               env={"PATH": str(empty)}).exit_code == 0


# --- in a real browser -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed; .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (sudo apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def open_page(browser: Any, path: Path) -> tuple[Any, list[str], bytes]:
    page = browser.new_page(viewport={"width": 900, "height": 1200})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"network request: {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    return page, errors, page.screenshot(full_page=True)


def not_blank(png: bytes) -> bool:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    low, high = image.getextrema()
    dark = sum(image.histogram()[:128])
    return high - low > 100 and dark > 1000


def test_gate_audit_html_in_chromium(full_cycle: Cli, browser: Any, tmp_path: Path) -> None:
    run = full_cycle
    title = "<script>window.pwned = 1; document.title = 'pwned'</script> CAMHS & <b>friends</b>"
    run("project", "set", "camhs", "--title", title)
    out = tmp_path / "gates.html"
    run("report", "gate-audit", "camhs", "--format", "html", "--out", str(out))
    page, errors, png = open_page(browser, out)
    assert errors == []
    assert not_blank(png)
    assert page.evaluate("window.pwned") is None and page.title() == "Gate audit: camhs"
    assert title in page.inner_text("h2")  # shown as text, not run or rendered as markup
    assert page.locator("svg").count() >= 1  # the cycle diagram, drawn inline
    assert "Audit chain verified" in page.inner_text(".banner")
    pdf_ready = json.loads(page.evaluate("JSON.stringify(getComputedStyle(document.body).fontFamily)"))
    assert "Arial" in pdf_ready
    page.close()


def test_markdown_shows_a_title_as_written_never_as_formatting_or_a_link(ready: Cli) -> None:
    """A title (or a reason, a body's name) is text in the Markdown report: a hostile one could put a bold
    'Approved' or a link to anywhere into a board's pack."""
    title = "**Approved** [sign here](http://evil.example) `code` ~~old~~ _x_"
    ready("project", "new", "forged", "--title", title, "--owner", "alice")
    escaped = r"\*\*Approved\*\* \[sign here\](http://evil.example) \`code\` \~\~old\~\~ \_x\_"
    md = ready("report", "gate-audit", "forged", "--format", "md").stdout
    assert f"## forged: {escaped}\n" in md
    quarterly = ready("report", "quarterly", "--quarter", "2026-Q3").stdout
    assert title not in quarterly and escaped in quarterly


def test_one_unverified_decision_is_one_decision(ready: Cli) -> None:
    """Item 20's plurals, in the gate-audit report: '1 decision(s) were' read as a form, not a sentence."""
    ready("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m1")
    md = ready("report", "gate-audit", "camhs", "--format", "md").stdout
    assert "> **UNVERIFIED**: 1 decision recorded for a body with no approvers on record: " in md
    html = ready("report", "gate-audit", "camhs", "--format", "html").stdout
    assert "</span> 1 decision was\nrecorded for a body" in html
    assert "(s)" not in md + html
