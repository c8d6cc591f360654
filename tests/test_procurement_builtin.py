"""Issue 18 part 3: the built-in commissioning workflow's do -> review gate (the contract awarded) waits for the
procurement: route chosen, standstill ended with no representations outstanding, award notice published. A project
with no procurement recorded passes as before, and a database made before keeps its projects on their version."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import cycle.workflow.definition

from .conftest import CAMHS, Cli, Database, go
from .test_procurement import at, on, step

ROOT = Path(__file__).parents[1]
PROCUREMENT = ("procurement-route", "standstill-ended", "award-notice")


def to_do(run: Cli, key: str = "camhs", day: str = "2027-01-04") -> None:
    """Project `key` walked through analyse and plan to do on `day`, each must evidence recorded."""
    for gate in ("analyse-plan", "plan-do"):
        with on(day):
            for c in run.json("gate", "check", key)["criteria"]:
                if c["kind"] == "evidence" and c["must"] and not c["met"]:
                    run("evidence", "add", key, c["id"], "--ref", "R1")
            go(run, key, gate)
            run("project", "advance", key)
    with on(day):
        assert run.json("project", "show", key)["stage"] == "do"
        run("evidence", "add", key, "contract-award", "--ref", "Contract CR-1")
        go(run, key, "do-review")


def criteria(run: Cli, day: str, key: str = "camhs") -> dict[str, tuple[bool, bool, str, str | None]]:
    with on(day):
        found = run.json("gate", "check", key)
    assert found["gate"] == "do-review"
    return {c["id"]: (c["met"], c["must"], c["reason"], c["hint"]) for c in found["criteria"] if c["id"] in PROCUREMENT}


def refused(run: Cli, db: Database, day: str) -> str:
    """`project advance` refused (exit 3): the project stays at do; what the refusal names."""
    before = db.dump(("project",))
    result = at(run, day, "project", "advance", "camhs", expect=3)
    assert db.dump(("project",)) == before
    return str(result.stderr)


def test_the_built_in_award_gate_waits_for_the_standstill_representations_and_the_award_notice(
        ready: Cli, db: Database) -> None:
    run = ready
    at(run, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    to_do(run)
    assert criteria(run, "2027-01-05")["standstill-ended"] == (
        False, True, "Standstill period has not begun: no intention-notice recorded (psr direct-award-c)",
        "cycle procurement step camhs intention-notice --on DATE")
    step(run, "camhs", "decision", "2027-01-05")
    step(run, "camhs", "intention-notice", "2027-01-11")
    # The standstill begins on Tue 12 Jan (reg 12(2)); its 8th working day after that is Fri 22 Jan (reg 12(3)).
    assert criteria(run, "2027-01-22")["standstill-ended"] == (
        False, True, "Standstill period ends at the end of 2027-01-22; award not before 2027-01-23",
        "cycle procurement show camhs")
    assert "standstill-ended" in refused(run, db, "2027-01-22")
    step(run, "camhs", "representations", "2027-01-20")
    held = criteria(run, "2027-01-25")["standstill-ended"]
    assert held[:2] == (False, True) and held[2].startswith("Standstill period: held by representations")
    assert held[3] == "cycle procurement step camhs further-decision --on DATE"
    assert "standstill-ended" in refused(run, db, "2027-01-25")
    step(run, "camhs", "further-decision", "2027-01-25")
    # 5 working days after Mon 25 Jan: Tue 26, Wed 27, Thu 28, Fri 29, Mon 1 Feb; the award from Tue 2 Feb.
    assert criteria(run, "2027-02-01")["standstill-ended"][0] is False
    assert "standstill-ended" in refused(run, db, "2027-02-01")
    found = criteria(run, "2027-02-02")
    assert found["standstill-ended"] == (True, True, "Standstill period ended at the end of 2027-02-01", None)
    assert found["award-notice"] == (False, True, "No award notice recorded (psr direct-award-c)",
                                     "cycle procurement step camhs award-notice --on DATE --ref REF")
    assert "award-notice" in refused(run, db, "2027-02-02")
    step(run, "camhs", "award", "2027-02-02", "--decided-by", "ICB contracting committee")
    step(run, "camhs", "award-notice", "2027-02-03", "--ref", "FTS 009999-2027")
    assert criteria(run, "2027-02-03")["award-notice"] == (
        True, True, "Award notice recorded on 2027-02-03 (FTS 009999-2027)", None)
    at(run, "2027-02-03", "project", "advance", "camhs")
    assert run.json("project", "show", "camhs")["stage"] == "review"
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_a_project_with_no_procurement_passes_the_built_in_gate_as_before(ready: Cli) -> None:
    run = ready
    to_do(run)
    found = criteria(run, "2027-01-05")
    assert {k: v[0] for k, v in found.items()} == dict.fromkeys(PROCUREMENT, True)
    assert found["award-notice"][2].startswith("Not required: no procurement recorded for camhs")
    at(run, "2027-01-05", "project", "advance", "camhs")
    assert run.json("project", "show", "camhs")["stage"] == "review"


def _without_procurement(text: str) -> str:
    """The built-in commissioning workflow as main shipped it before this change: no procurement criteria."""
    text = re.sub(r"\n  # The procurement's statutory steps[^\n]*\n(?:  #[^\n]*\n)*", "\n", text)
    return re.sub(r"\n  \[\[gate\.criterion\]\]\n  id = \"[a-z-]+\"\n  kind = \"procurement\"\n(?:  [^\n]+\n)*", "",
                  text)


def test_a_database_made_before_keeps_its_projects_on_their_version(run: Cli, db: Database, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Projects on the earlier built-in workflow stay on it after `cycle init` installs this one (so a procurement
    recorded for them does not hold their gate); new projects take the new version."""
    new = (ROOT / "workflows" / "commissioning.toml").read_text(encoding="utf-8")
    old = _without_procurement(new)
    assert old != new and 'kind = "procurement"' not in old
    shipped = tmp_path / "shipped"
    shutil.copytree(ROOT / "workflows", shipped)
    (shipped / "commissioning.toml").write_text(old, encoding="utf-8")
    shipping = cycle.workflow.definition.builtin_dir
    monkeypatch.setattr(cycle.workflow.definition, "builtin_dir", lambda: shipped)
    run("init")
    at(run, "2027-01-04", *CAMHS)
    monkeypatch.setattr(cycle.workflow.definition, "builtin_dir", shipping)  # the upgrade
    assert "commissioning version 2 (built-in)" in run("init").stdout
    assert run.json("project", "show", "camhs")["workflow_version"] == 1
    at(run, "2027-01-04", *[("p2" if a == "camhs" else a) for a in CAMHS])
    assert run.json("project", "show", "p2")["workflow_version"] == 2
    for key in ("camhs", "p2"):
        at(run, "2027-01-04", "procurement", "start", key, "--regime", "psr", "--process", "direct-award-c")
        to_do(run, key)
    assert criteria(run, "2027-01-05", "camhs") == {}  # version 1 has no procurement criterion
    at(run, "2027-01-05", "project", "advance", "camhs")
    assert not criteria(run, "2027-01-05", "p2")["standstill-ended"][0]
    at(run, "2027-01-05", "project", "advance", "p2", expect=3)
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_a_database_migrated_from_the_first_revision_passes_the_award_gate_as_before(run: Cli, db: Database) -> None:
    """A database made at schema revision 0001 (before procurement existed) upgraded by `cycle init`: its camhs, at
    plan, walks through do -> review with no procurement recorded, the procurement criteria reading "Not required"."""
    from cycle.db import schema
    from cycle.db.store import open_store

    store = open_store()
    schema.upgrade(store, target="0001")
    store.dispose()
    db.load((ROOT / "tests" / "data" / "revision-0001.sql").read_text(encoding="utf-8"))
    run("init")
    with on("2027-01-04"):
        assert run.json("project", "show", "camhs")["stage"] == "plan"
        for c in run.json("gate", "check", "camhs")["criteria"]:
            if c["kind"] == "evidence" and c["must"] and not c["met"]:
                run("evidence", "add", "camhs", c["id"], "--ref", "R1")
        go(run, "camhs", "plan-do")
        run("project", "advance", "camhs")
        run("evidence", "add", "camhs", "contract-award", "--ref", "Contract CR-1")
        go(run, "camhs", "do-review")
    found = criteria(run, "2027-01-05")
    assert [(k, v[0], v[2][:13]) for k, v in found.items()] == [(k, True, "Not required:") for k in PROCUREMENT]
    at(run, "2027-01-05", "project", "advance", "camhs")
    assert run.json("project", "show", "camhs")["stage"] == "review"
