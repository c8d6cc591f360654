"""Issue 18 part 5: `cycle report gate-audit` prints a project's procurement: the route, each step (date, reference,
who recorded it), PSR reg 24's record where a step carries it, and the clocks as they stood when the gate was passed.
User text is escaped in HTML and Markdown."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Cli, Database
from .test_procurement import at, on, step
from .test_procurement_builtin import to_do

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def passed(ready: Cli) -> Cli:
    """camhs on PSR Direct Award C, walked to review through the built-in award gate on 2027-01-26, then a
    modification recorded after the gate."""
    run = ready
    at(run, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    to_do(run)
    step(run, "camhs", "decision", "2027-01-05", "--decided-by", "ICB contracting committee", "--criteria",
         "quality and innovation; value; integration", "--reasons", "existing provider satisfies the contract",
         "--conflicts", "GP member: provider board", "--conflicts-managed", "left the room " + SCRIPT)
    step(run, "camhs", "intention-notice", "2027-01-11", "--ref", "FTS 001234-2027", "--note", SCRIPT)
    step(run, "camhs", "award", "2027-01-25")
    step(run, "camhs", "award-notice", "2027-01-26", "--ref", "FTS 005678-2027")
    at(run, "2027-01-26", "project", "advance", "camhs")
    step(run, "camhs", "modification", "2027-03-01")
    return run


def report(run: Cli, fmt: str) -> Any:
    with on("2027-03-02"):
        if fmt == "json":
            return run.json("report", "gate-audit", "camhs")["projects"][0]["procurement"]
        return run("report", "gate-audit", "camhs", "--format", fmt).stdout


def test_the_gate_audit_report_prints_the_procurement(passed: Cli) -> None:
    text = report(passed, "md")
    part = text[text.index("### Procurement"):]
    assert part.startswith(
        "### Procurement: Provider Selection Regime (SI 2023/1348), Direct Award Process C (existing provider "
        "satisfying the contract, no considerable change)\n\nreg 6(5), (10)-(12); reg 9. Started by ")
    assert ("| intention-notice | 2027-01-11 | FTS 001234-2027 | &lt;script&gt;alert('x')&lt;/script&gt; | alice, "
            "2027-01-11 |") in part
    assert "| modification | 2027-03-01 | - | - | alice, 2027-03-01 |" in part
    assert ("Record of the decision of 2027-01-05 (PSR reg 24): decided by ICB contracting committee; key criteria "
            "applied: quality and innovation; value; integration; reasons: existing provider satisfies the contract; "
            "conflicts of interest: GP member: provider board; how they were managed: left the room "
            "&lt;script&gt;alert('x')&lt;/script&gt;.") in part
    # Worked by hand: the standstill from Tue 12 Jan ended at the end of Fri 22 Jan (8 PSR working days); the award
    # notice is due within 30 days of the award on 25 Jan, the award day counted: by 23 Feb. The modification
    # recorded after the gate is not among the clocks the gate saw.
    assert ("Clocks when do-review was passed on 2027-01-26 (entry ") in part
    assert ("): Standstill period ended at the end of 2027-01-22; Notice of the award submitted: done on 2027-01-26, "
            "due by 2027-02-23.") in part
    assert "Clocks when analyse-plan was passed on 2027-01-04 (entry " in part  # begun that day: none yet
    assert "): none had started." in part
    assert "<script>" not in text


def test_the_html_report_escapes_the_notes_and_json_holds_the_record(passed: Cli) -> None:
    html = report(passed, "html")
    assert "<script>alert" not in html
    assert "<td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td>" in html
    assert "how they were managed: left the room &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;.</p>" in html
    assert "<h3>Procurement: Provider Selection Regime (SI 2023/1348), Direct Award Process C" in html
    found = report(passed, "json")
    assert (found["regime"], found["route"], found["problem"]) == ("psr", "direct-award-c", None)
    assert [(s["step"], s["on"], s["ref"]) for s in found["steps"]] == [
        ("decision", "2027-01-05", None), ("intention-notice", "2027-01-11", "FTS 001234-2027"),
        ("award", "2027-01-25", None), ("award-notice", "2027-01-26", "FTS 005678-2027"),
        ("modification", "2027-03-01", None)]
    assert found["steps"][0]["decided_by"] == "ICB contracting committee"
    gate = next(g for g in found["at_gates"] if g["gate"] == "do-review")
    assert gate["on"] == "2027-01-26" and len(gate["clocks"]) == 2


def test_a_project_without_procurement_has_none_and_a_hand_edit_is_named(passed: Cli, db: Database) -> None:
    run = passed
    with on("2027-03-02"):
        run("project", "new", "p2", "--title", "P2", "--workflow", "commissioning")
        found = run.json("report", "gate-audit")["projects"]
        text = run("report", "gate-audit").stdout
    assert [(p["key"], p["procurement"] is None) for p in found] == [("camhs", False), ("p2", True)]
    assert text.count("### Procurement") == 1 and text.index("### Procurement") < text.index("## p2")
    db.tamper("UPDATE procurement SET route = 'direct-award-z'")
    with on("2027-03-02"):
        result = run("report", "gate-audit", "camhs", expect=1)  # the check at the top fails: exit 1, report written
    assert ("> **UNREADABLE**: camhs's procurement: psr has no route 'direct-award-z'; give --process one of: "
            "direct-award-a, direct-award-b, direct-award-c, most-suitable-provider, competitive (this cycle's "
            "regimes.toml); see what changed with: cycle audit verify") in result.stdout
