"""Load: many processes, mixed commands, a few projects. Prints what happened; asserts nothing was lost.

16 processes x 200 commands on PostgreSQL, 8 x 100 on SQLite (CYCLE_LOAD_SCALE multiplies both),
on four projects. Each process calls the library, as the CLI does, with a seeded mix: evidence for
the next gate (half with --expect-version from a fresh read), a decision on the next gate and an
advance (both with the version read), a gate check, and a project set (half with the version).
Each result is counted as a success, a conflict (StaleProject or a busy database: exit 4), a gate
refusal (exit 3), or anything else. The assertions are about correctness, not speed: no lost update (each project's
version is 1 + its successful writes, and its audit entries match those writes and refusals one
for one), the chain verifies, and every failure was a CycleError.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from collections import Counter
from typing import Any

import pytest

from cycle.audit import chain as log
from cycle.audit.verify import verify_chain
from cycle.db import rows
from cycle.db.store import Store, open_store
from cycle.errors import CycleError, DatabaseBusy, GateNotMet, StaleProject
from cycle.projects import engine, views
from cycle.workflow import gates, registry

from .conftest import BODY, ON_POSTGRES, Cli

pytestmark = pytest.mark.load

SCALE = float(os.environ.get("CYCLE_LOAD_SCALE", "1"))
WORKERS, COMMANDS = (16, 200) if ON_POSTGRES else (8, 100)
WORKERS, COMMANDS = max(2, int(WORKERS * SCALE)), max(10, int(COMMANDS * SCALE))
PROJECTS = ("camhs", "school-nursing", "respite", "speech")
WRITES = ("evidence", "decision", "advance", "set")  # each success bumps the project's version by one
MIX = ("evidence",) * 4 + ("decision",) * 3 + ("advance",) * 3 + ("check",) * 2 + ("set",) * 1
DEADLINE_SECONDS = 600  # a safety net: a worker stops early rather than hang the suite (reported, not asserted)


def _next_gate(store: Store, key: str) -> tuple[Any, int, str | None]:
    """The gate out of the project's stage (review: back round to analyse), its version, and --to."""
    with store.reading() as sql:
        project = rows.project(sql, key)
        wf = registry.pinned(store, sql, project)
        to = "analyse" if project.stage == "review" else None
        gate = gates.choose(wf, project, to)
        return gate, project.version, to


def _command(store: Store, rng: random.Random, op: str, key: str, n: str) -> None:
    gate, version, to = _next_gate(store, key)
    if op == "evidence":
        names = [c.evidence or c.id for c in gate.criteria if c.kind == "evidence" and c.must]
        engine.add_evidence(store, key, rng.choice(names), f"ref {n}", actor="load",
                            expect_version=version if rng.random() < 0.5 else None)
    elif op == "decision":
        outcome = "hold" if rng.random() < 0.1 else "go"
        engine.record_decision(store, key, actor="load", gate=gate.id, outcome=outcome, body=BODY, ref=f"minutes {n}",
                               expect_version=version)
    elif op == "advance":  # with the version read: a project that moved meanwhile is a conflict, not a surprise
        engine.advance(store, key, actor="load", to=to, expect_version=version)
    elif op == "check":
        views.check_gate(store, key, to)
    else:
        engine.set_project(store, key, actor="load", changes={"aim": f"aim {n}"},
                           expect_version=version if rng.random() < 0.5 else None)


def worker(url: str, seed: int, commands: int, deadline: float) -> list[tuple[str, str, str, str]]:
    """Run `commands` seeded commands; (project, op, outcome, detail) for each."""
    store = Store(url)
    rng = random.Random(seed)
    out = []
    try:
        for i in range(commands):
            if time.monotonic() > deadline:
                out.append(("-", "-", "stopped", f"deadline after {i} commands"))
                break
            key, op = rng.choice(PROJECTS), rng.choice(MIX)
            try:
                _command(store, rng, op, key, f"{seed}-{i}")
                out.append((key, op, "ok", ""))
            except (StaleProject, DatabaseBusy) as exc:
                out.append((key, op, "conflict", str(exc)))
            except GateNotMet as exc:
                out.append((key, op, "refused", str(exc)))
            except CycleError as exc:
                out.append((key, op, f"other:{type(exc).__name__}", str(exc)))
            except Exception as exc:  # noqa: BLE001 - exactly what must never happen: counted and reported
                out.append((key, op, "raw", repr(exc)))
    finally:
        store.dispose()
    return out


def test_mixed_commands_under_load_lose_nothing(run: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    run("init")
    for key in PROJECTS:
        run("project", "new", key, "--title", key.title(), "--lead-commissioner", "CCGs", "--model", "joint",
            "--accountable-body", BODY, "--owner", "alice")
    url = open_store().url
    deadline = time.monotonic() + DEADLINE_SECONDS
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        results = pool.starmap(worker, [(url, seed, COMMANDS, deadline) for seed in range(WORKERS)])
    elapsed = time.monotonic() - started
    rows = [r for rs in results for r in rs]

    store = open_store()
    try:
        versions = {p.key: p.version for p in views.list_projects(store)}
        with store.reading() as sql:
            entries = log.entries(sql)
        chain = verify_chain(store)
    finally:
        store.dispose()

    outcomes = Counter(outcome for _, _, outcome, _ in rows)
    by_op = {op: Counter(o for _, op2, o, _ in rows if op2 == op) for op in dict.fromkeys(MIX)}
    lost = 0
    per_project = []
    for key in PROJECTS:
        writes = sum(1 for k, op, o, _ in rows if k == key and op in WRITES and o == "ok")
        refusals = sum(1 for k, _, o, _ in rows if k == key and o == "refused")
        logged = Counter(e.action for e in entries if e.project == key)
        logged_writes = sum(logged[a] for a in ("evidence.add", "decision.record", "advance", "project.set"))
        lost += abs(versions[key] - (1 + writes)) + abs(logged_writes - writes) + abs(
            logged["advance.refused"] - refusals)
        per_project.append(f"  {key:<15} version {versions[key]:>4} = 1 + {writes:<4} successful writes; "
                           f"audit: {logged_writes} writes, {logged['advance.refused']} refused advances")
    with capsys.disabled():
        print(f"\nLoad on {store.dialect}: {WORKERS} processes x {COMMANDS} commands on {len(PROJECTS)} projects "
              f"in {elapsed:.1f} s")
        print(f"  attempts {len(rows)}, successes {outcomes['ok']}, conflicts (exit 4) {outcomes['conflict']}, "
              f"gate refusals (exit 3) {outcomes['refused']}, other CycleErrors "
              f"{sum(v for k, v in outcomes.items() if k.startswith('other:'))}, raw database errors "
              f"{outcomes['raw']}, lost updates {lost}")
        for op, counts in by_op.items():
            print(f"  {op:<9} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        print("\n".join(per_project))
        print(f"  audit chain: {'verified' if chain.ok else 'FAILED'}, {chain.entries} entries")

    assert outcomes["raw"] == 0, [r for r in rows if r[2] == "raw"][:5]
    assert lost == 0
    assert chain.ok, chain.problem
    assert chain.entries == len(entries) == 3 + len(PROJECTS) + sum(  # db.init and two workflow.install
        1 for _, op, o, _ in rows if (op in WRITES and o == "ok") or o == "refused")
    assert outcomes["ok"] > 0 and outcomes["stopped"] == 0
