"""Writers racing on one project: one winner, clear refusals for the rest, nothing lost, chain intact.

The races run as separate OS processes on the real SQLite file. Two ways of starting them:
"console-script" launches the installed `cycle` command N times at once and lets them race;
"barrier" starts N interpreters that import the CLI first, wait until every one is ready, then all
call the same entry point (`cli:main`) at once, so the database work itself overlaps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cycle.db import rows
from cycle.db.store import open_store
from cycle.errors import StaleProject
from cycle.projects import engine
from cycle.workflow import registry
from cycle.workflow.definition import builtin

from .conftest import BODY, Cli, Database, cycle_exe, go, run_process

RACERS = 6
PER_PROJECT = 4  # evidence writers per project, two projects at once

BARRIER = """\
import sys, time
from pathlib import Path
import cycle.cli, cycle.audit.chain, cycle.projects.engine, cycle.workflow.gates, cycle.db.store  # load before the race
import cycle.workflow.definition, cycle.commands.output
ready, start = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not start.exists():
    time.sleep(0.001)
sys.argv = ["cycle", *sys.argv[3:]]
cycle.cli.main()
"""


def race(tmp_path: Path, how: str, commands: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Run each command in its own process, all at once; return their results in the same order."""
    env = dict(os.environ)
    procs: list[subprocess.Popen[str]] = []
    if how == "console-script":
        for args in commands:
            procs.append(subprocess.Popen([*cycle_exe(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, env=env))
    else:
        gate_dir = tmp_path / f"barrier-{time.monotonic_ns()}"
        gate_dir.mkdir()
        script = gate_dir / "racer.py"
        script.write_text(BARRIER)
        start = gate_dir / "start"
        for i, args in enumerate(commands):
            procs.append(subprocess.Popen([sys.executable, str(script), str(gate_dir / f"ready-{i}"), str(start),
                                           *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          env=env))
        deadline = time.monotonic() + 120  # a safety net for a hung start-up, not a timing assertion
        while not all((gate_dir / f"ready-{i}").exists() for i in range(len(commands))):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                    p.communicate()
                pytest.fail("a racer died or hung before the start line")
            time.sleep(0.005)
        start.touch()
    results = []
    for p, args in zip(procs, commands, strict=True):
        out, err = p.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(args, p.returncode, out, err))
    return results


def audit_rows(db: Database) -> list[dict[str, object]]:
    return db.audit()


def verified(db: Database) -> str:
    result = run_process("audit", "verify")
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- many processes advance the same project at once --------------------------------------------------

@pytest.mark.parametrize("how", ["barrier", "console-script"])
def test_racing_advances_have_exactly_one_winner(ready: Cli, db: Database, tmp_path: Path, how: str) -> None:
    run = ready
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026 children chapter")
    go(run, "camhs", "analyse-plan")
    assert run.json("project", "show", "camhs")["version"] == 3
    entries_before = len(audit_rows(db))

    results = race(tmp_path, how, [["project", "advance", "camhs"]] * RACERS)

    codes = sorted(r.returncode for r in results)
    assert codes.count(0) == 1, [(r.returncode, r.stderr) for r in results]
    assert set(codes) <= {0, 3, 4}, [(r.returncode, r.stderr) for r in results]
    winner = next(r for r in results if r.returncode == 0)
    assert winner.stdout.startswith("camhs moved analyse -> plan through gate analyse-plan (cycle 1, version 4, ")
    for loser in (r for r in results if r.returncode != 0):
        assert "Traceback" not in loser.stderr and loser.stdout == ""
        if loser.returncode == 4:  # read version 3 before the winner committed
            assert loser.stderr == ("Error: camhs changed since you read it (version 3, now 4); nothing was "
                                    "written. Look again with: cycle project show camhs\n")
        else:  # read after the winner committed: the project is at plan, whose gate is closed
            assert loser.stderr.startswith("Refused: camhs stays at plan; gate plan-do to do needs:\n")

    shown = run.json("project", "show", "camhs")
    assert (shown["stage"], shown["version"]) == ("plan", 4)
    new = audit_rows(db)[entries_before:]
    assert [e["action"] for e in new if e["action"] == "advance"] == ["advance"]
    advance = next(e for e in new if e["action"] == "advance")
    assert (advance["project"], advance["from_stage"], advance["to_stage"]) == ("camhs", "analyse", "plan")
    assert sorted(e["action"] for e in new) == sorted(
        ["advance"] + ["advance.refused"] * codes.count(3))
    assert all(e["from_stage"] == "plan" for e in new if e["action"] == "advance.refused")
    assert verified(db).startswith(f"Audit chain verified: {entries_before + 1 + codes.count(3)} entries")


# --- the two phases of advance, interleaved deterministically in one process --------------------------

def read_phase(key: str):  # type: ignore[no-untyped-def]
    """What `engine.advance` does before it takes the write lock: read the project, choose its gate."""
    store = open_store()
    with store.reading() as sql:
        project = rows.project(sql, key)
        wf = registry.pinned(store, sql, project)
    return store, wf, wf.gates_from(project.stage)[0], project


def db_dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return db.dump(("project", "evidence", "decision", "audit_entry"))


def test_stale_gate_check_is_not_applied(ready: Cli, db: Database) -> None:
    ready("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026 children chapter")
    go(ready, "camhs", "analyse-plan")
    store, wf, gate, project = read_phase("camhs")
    assert project.version == 3

    competitor = open_store()
    moved = engine.advance(competitor, "camhs", actor="bob")  # the competitor commits first
    competitor.dispose()
    assert (moved.source, moved.dest, moved.version) == ("analyse", "plan", 4)
    after_competitor = db_dump(db)

    with pytest.raises(StaleProject) as caught:
        engine.commit_advance(store, wf, gate, project, actor="alice")
    assert str(caught.value) == ("camhs changed since you read it (version 3, now 4); nothing was written. "
                                 "Look again with: cycle project show camhs")
    assert db_dump(db) == after_competitor
    assert [e["action"] for e in audit_rows(db)].count("advance") == 1
    store.dispose()


def test_stale_refusal_is_not_recorded(ready: Cli, db: Database) -> None:
    """A check that found the gate closed is not recorded as a refusal once the project has moved on."""
    store, wf, gate, project = read_phase("camhs")
    competitor = open_store()
    engine.add_evidence(competitor, "camhs", "needs-assessment", "JSNA 2026", actor="bob")
    competitor.dispose()
    after_competitor = db_dump(db)

    with pytest.raises(StaleProject):
        engine.commit_advance(store, wf, gate, project, actor="alice")
    assert db_dump(db) == after_competitor
    assert "advance.refused" not in [e["action"] for e in audit_rows(db)]
    store.dispose()


def test_fresh_gate_check_is_applied(ready: Cli, db: Database) -> None:
    """The same two phases without a competitor do move the project (so the stale tests can fail)."""
    ready("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026 children chapter")
    go(ready, "camhs", "analyse-plan")
    store, wf, gate, project = read_phase("camhs")
    moved = engine.commit_advance(store, wf, gate, project, actor="alice")
    assert (moved.dest, moved.version) == ("plan", 4)
    assert ready.json("project", "show", "camhs")["stage"] == "plan"
    store.dispose()


# --- many processes add evidence at once --------------------------------------------------------------

def test_concurrent_evidence_additions_are_all_kept(ready: Cli, db: Database, tmp_path: Path) -> None:
    ready("project", "new", "respite", "--title", "Short breaks")
    names = builtin("commissioning").evidence_names()
    commands = [["evidence", "add", key, names[i % len(names)], "--ref", f"{key} doc {i}"]
                for i in range(PER_PROJECT) for key in ("camhs", "respite")]

    results = race(tmp_path, "barrier", commands)

    assert [r.returncode for r in results] == [0] * len(commands), [r.stderr for r in results]
    assert all(r.stderr == "" for r in results)
    stored = db.rows("SELECT p.key, e.ref FROM evidence e JOIN project p ON p.id = e.project_id")
    versions = dict(db.rows("SELECT key, version FROM project"))
    assert sorted(stored) == sorted((c[2], c[5]) for c in commands)
    assert versions == {"camhs": 1 + PER_PROJECT, "respite": 1 + PER_PROJECT}
    added = [json.loads(str(e["payload"])) for e in audit_rows(db) if e["action"] == "evidence.add"]
    assert sorted(a["ref"] for a in added) == sorted(c[5] for c in commands)
    # Each write saw the version the one before it left: the version steps form one unbroken chain per project.
    for key in ("camhs", "respite"):
        steps = [tuple(json.loads(str(e["payload"]))["version"]) for e in audit_rows(db)
                 if e["action"] == "evidence.add" and e["project"] == key]
        assert steps == [(v, v + 1) for v in range(1, 1 + PER_PROJECT)]
    assert verified(db).startswith(f"Audit chain verified: {5 + len(commands)} entries")


def test_concurrent_evidence_with_expect_version_has_one_winner(ready: Cli, db: Database, tmp_path: Path) -> None:
    commands = [["evidence", "add", "camhs", "eia", "--ref", f"EIA v{i}", "--expect-version", "1"]
                for i in range(RACERS)]

    results = race(tmp_path, "barrier", commands)

    assert sorted(r.returncode for r in results) == [0] + [4] * (RACERS - 1), [r.stderr for r in results]
    for r in results:
        if r.returncode == 4:
            assert r.stderr == ("Error: camhs changed since you read it (version 1, now 2); nothing was written. "
                                "Look again with: cycle project show camhs\n")
    winner = next(c for c, r in zip(commands, results, strict=True) if r.returncode == 0)
    shown = ready.json("project", "show", "camhs")
    assert shown["version"] == 2
    assert [e["ref"] for e in shown["evidence"]] == [winner[5]]
    assert verified(db).startswith("Audit chain verified: 5 entries")


# --- one Store, several threads (a long-running process: the scheduler, a service) --------------------

def test_threads_sharing_one_store_each_advance_on_their_own_connection(ready: Cli, db: Database) -> None:
    """Each thread keeps a SQLite connection of its own between transactions; none sees another's."""
    keys = [f"svc-{i}" for i in range(8)]
    for key in keys:
        ready("project", "new", key, "--title", f"Service {key}", "--lead-commissioner", "CCGs",
              "--model", "integrated", "--accountable-body", BODY, "--owner", "alice")
        ready("evidence", "add", key, "needs-assessment", "--ref", f"JSNA {key}")
        go(ready, key, "analyse-plan")
    store = open_store()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def advance_each(chunk: list[str]) -> None:
        try:
            start.wait()
            for key in chunk:
                with store.reading() as sql:  # a read between writes, on the same thread
                    assert rows.project(sql, key).stage == "analyse"
                engine.advance(store, key, actor="alice")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=advance_each, args=(keys[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.dispose()

    assert errors == []
    assert {p["key"]: p["stage"] for p in ready.json("project", "list")} == {
        "camhs": "analyse", **{key: "plan" for key in keys}}
    assert ready("audit", "verify").stdout.startswith(f"Audit chain verified: {4 + 8 * 3 + 8} entries")
