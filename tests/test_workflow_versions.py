"""Workflows live in the database: installed versions that projects are pinned to, never a file in someone's home.

The attack this closes: a team member put their own `commissioning.toml`, the same gates with no criteria,
in $CYCLE_HOME/workflows, and advanced a project from analyse to plan with no evidence and no decision;
`audit verify` said the records matched. Now a gate reads only the version of its workflow the project is
pinned to, installing a version is for a governance lead or an admin, moving a project to another version
is for a governance lead, and `audit verify` checks every gate entry's workflow against the project's pin.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, exc, text
from sqlalchemy.pool import NullPool

import cycle.workflow.definition
from cycle.db import schema
from cycle.db.store import open_store

from .conftest import BODY, Cli, Database, PgServer, cycle_exe, go
from .test_database import _n, _psql
from .test_decommissioning import D, _decommission

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).with_name("data")
BUILTIN = (ROOT / "workflows" / "commissioning.toml").read_text()
# The built-in commissioning workflow with every criterion taken out: the same gates, nothing to meet.
NO_CRITERIA = re.sub(r"\n  \[\[gate\.criterion\]\].*?(?=\n\[\[|\Z)", "", BUILTIN, flags=re.S)
# A second version: the analyse gate also needs a paper for the board.
BOARD_PAPER = BUILTIN.replace(
    'title = "Analysis complete: agree priorities and move to planning"\n',
    'title = "Analysis complete: agree priorities and move to planning"\n\n  [[gate.criterion]]\n'
    '  id = "board-paper"\n  kind = "evidence"\n  level = "must"\n  title = "A paper for the board"\n', 1)
# A third: its first stage is called assess, so a project at analyse cannot move onto it.
ASSESS = BUILTIN.replace('"analyse"', '"assess"')


def sha(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def team_file(home: Path, source: str, name: str = "commissioning") -> Path:
    path = home / "workflows" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def versions(db: Database) -> list[tuple[object, ...]]:
    return db.rows("SELECT name, version, sha256, origin FROM workflow_version ORDER BY id")


def criteria(run: Cli, key: str) -> list[str]:
    return [c["id"] for c in run.json("gate", "check", key)["criteria"]]


def test_the_attack_is_closed_a_personal_workflow_file_opens_no_gate(ready: Cli, home: Path, db: Database) -> None:
    assert sha(NO_CRITERIA) != sha(BUILTIN) and "[[gate.criterion]]" not in NO_CRITERIA
    path = team_file(home, NO_CRITERIA)
    assert ready("workflow", "check", str(path)).stdout.startswith(f"OK: {path} defines workflow commissioning: ")
    refused = ready("project", "advance", "camhs", expect=3)
    assert refused.stderr.startswith("Refused: camhs stays at analyse; gate analyse-plan to plan needs:\n"
                                     "  - needs-assessment: No 'needs-assessment' evidence recorded in cycle 1\n")
    assert "decision" in criteria(ready, "camhs")
    assert ready.json("project", "show", "camhs")["stage"] == "analyse"
    entry = db.audit()[-1]
    payload = json.loads(entry["payload"])
    assert (entry["action"], payload["workflow_version"], payload["workflow_sha256"]) == (
        "advance.refused", 1, sha(BUILTIN))
    # The file is only something to install, and `workflow list` says so.
    assert (f"{path} differs from commissioning version 1, the newest installed; install it with: "
            f"cycle workflow install {path}") in ready("workflow", "list").stdout.splitlines()
    assert ready("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_a_new_version_is_for_new_projects_until_a_governance_lead_moves_one(ready: Cli, home: Path,
                                                                             db: Database) -> None:
    run = ready
    for name, role in (("admin", "admin"), ("gill", "governance-lead"), ("bob", "manager")):
        run("people", "add", name, "--email", f"{name}@council.gov.uk", "--role", role, user="admin")
    path = team_file(home, BOARD_PAPER)

    # Installing is for a governance lead or an admin; a refusal is audited and changes nothing else.
    kept = versions(db)
    refused = run("workflow", "install", str(path), user="bob", expect=6)
    assert refused.stderr == (f"Error: only a governance lead or an admin may install a workflow (admin, gill), and "
                              f"bob is not one; ask one of them to run: cycle workflow install {path}. The refused "
                              f"attempt is recorded in the audit log.\n")
    assert versions(db) == kept
    entry = db.audit()[-1]
    assert (entry["action"], entry["actor"], json.loads(entry["payload"])["sha256"]) == (
        "workflow.refused", "bob", sha(BOARD_PAPER))

    done = run("workflow", "install", str(path), user="gill")
    assert done.stdout == (f"Installed commissioning version 2 (SHA-256 {sha(BOARD_PAPER)}) from {path}. New "
                           f"commissioning projects run on it.\n1 project stays on earlier versions; a governance "
                           f"lead moves one with: cycle project set KEY --workflow-version 2\n")
    assert versions(db)[-1] == ("commissioning", 2, sha(BOARD_PAPER), str(path))
    install = db.audit()[-1]
    assert (install["action"], install["actor"]) == ("workflow.install", "gill")
    assert json.loads(install["payload"])["source"] == BOARD_PAPER  # the log alone can rebuild the table
    before = db.dump()
    again = run("workflow", "install", str(path), user="gill", expect=2)
    assert again.stderr == (f"Error: {path} is already installed as commissioning version 2, so nothing changed; "
                            f"see: cycle workflow list\n")
    assert db.dump() == before

    # New projects take the newest version; camhs stays on the one it was created with.
    created = run("project", "new", "p2", "--title", "P2", "--accountable-body", BODY, "--owner", "bob")
    assert created.stdout.startswith("Created p2 (P2) at analyse, workflow commissioning version 2. ")
    assert "board-paper" in criteria(run, "p2") and "board-paper" not in criteria(run, "camhs")
    assert run.json("project", "show", "camhs")["workflow_version"] == 1
    assert run("workflow", "list").stdout.splitlines()[0].endswith(
        "[version 2 (newest): 1 project; version 1: 1 project]")

    # Moving a project is for a governance lead, onto a version there is that has its stage.
    before = db.dump()
    refused = run("project", "set", "camhs", "--workflow-version", "2", user="bob", expect=6)
    assert refused.stderr == ("Error: only a governance lead may move a project to another version of its workflow "
                              "(gill), and bob is not one; ask one of them to run: cycle project set camhs "
                              "--workflow-version 2. The refused attempt is recorded in the audit log.\n")
    entry = db.audit()[-1]
    assert (entry["action"], entry["actor"], json.loads(entry["payload"])["changes"]) == (
        "project.refused", "bob", {"workflow_version": [1, 2]})
    assert {t: rows for t, rows in db.dump().items() if t != "audit_entry"} == {
        t: rows for t, rows in before.items() if t != "audit_entry"}
    before = db.dump()
    assert run("project", "set", "camhs", "--workflow-version", "9", user="gill", expect=2).stderr == (
        "Error: workflow commissioning has no version 9; its versions are: 1, 2 (see: cycle workflow list)\n")
    assert db.dump() == before
    run("workflow", "install", str(team_file(home, ASSESS)), user="gill")
    before = db.dump()
    assert run("project", "set", "camhs", "--workflow-version", "3", user="gill", expect=2).stderr == (
        "Error: camhs is at stage analyse, which commissioning version 3 does not have (its stages: assess, plan, do, "
        "review, decommission, closed); a project moves only to a version with its current stage\n")
    assert db.dump() == before

    moved = run("project", "set", "camhs", "--workflow-version", "2", user="gill")
    assert moved.stdout == "Updated camhs (version 2).\n"
    assert run.json("project", "show", "camhs")["workflow_version"] == 2
    assert "board-paper" in criteria(run, "camhs")
    moved = db.audit()[-1]
    assert (moved["action"], moved["actor"]) == ("project.set", "gill")
    assert json.loads(moved["payload"])["changes"] == {"workflow_version": [1, 2]}
    assert run("project", "set", "camhs", "--workflow-version", "2", user="gill", expect=2).stderr == (
        "Error: camhs already has workflow version 2, so nothing changed; see it with: cycle project show camhs\n")
    assert run.json("workflow", "show", "commissioning", "--version", "1")["sha256"] == sha(BUILTIN)
    assert run.json("workflow", "show", "commissioning")["version"] == 3
    assert run("audit", "verify").stdout.splitlines()[1] == (
        "Records match the log: every column of 12 rows in 24 tables (2 projects, 0 evidence, 0 decisions, 0 waivers, "
        "4 workflow versions and 6 other rows), and the workflows of 0 gate entries.")


def test_before_anyone_holds_a_role_anyone_may_install_and_move_with_a_note(ready: Cli, home: Path) -> None:
    note = ("Nobody holds the governance-lead or admin role yet, so anyone may install workflows; make someone "
            "admin: cycle people add NAME --role admin")
    assert ready("workflow", "install", str(team_file(home, BOARD_PAPER))).stdout.splitlines()[-1] == note
    assert ready("project", "set", "camhs", "--workflow-version", "2").stdout == (
        "Updated camhs (version 2).\nNobody holds the governance-lead or admin role yet, so anyone may move a project "
        "to another version of its workflow; make someone admin: cycle people add NAME --role admin\n")


def test_a_project_moved_to_another_version_by_hand_is_named_by_verify(ready: Cli, home: Path, db: Database) -> None:
    """The gate entry's workflow_sha256 cannot be changed without breaking the chain; the pin can, by hand."""
    run = ready
    run("workflow", "install", str(team_file(home, BOARD_PAPER)))
    run("project", "new", "p2", "--title", "P2", "--accountable-body", BODY)
    db.tamper("UPDATE project SET workflow_version = 1 WHERE key = 'p2'")  # back to the version without the paper
    run("evidence", "add", "p2", "needs-assessment", "--ref", "JSNA")
    run("project", "set", "p2", "--lead-commissioner", "CCGs", "--model", "joint")
    go(run, "p2", "analyse-plan")
    run("project", "advance", "p2")  # through a gate the version it was pinned to would have kept shut
    seq = db.audit()[-1]["seq"]
    result = run("audit", "verify", expect=1)
    assert result.stdout.startswith(f"Audit chain verified: {seq} entries")
    assert result.stderr.splitlines()[1:] == [
        # the next write (evidence add) found p2 so, and carried the pin on into its own image: named at that entry
        f"  project p2 was changed outside cycle before entry {seq - 3}, which found it so: workflow_version was 1 "
        f"where entry {seq - 4} left 2",
        f"  entry {seq - 1} (decision.record of p2, gate analyse-plan) was checked against a workflow with SHA-256 "
        f"{sha(BUILTIN)[:12]}..., but p2 was on commissioning version 2 (SHA-256 {sha(BOARD_PAPER)[:12]}...): the "
        f"gate was not checked against the project's workflow",
        f"  entry {seq} (advance of p2, gate analyse-plan) was checked against a workflow with SHA-256 "
        f"{sha(BUILTIN)[:12]}..., but p2 was on commissioning version 2 (SHA-256 {sha(BOARD_PAPER)[:12]}...): the "
        f"gate was not checked against the project's workflow"]
    found = json.loads(run("audit", "verify", "--json", expect=1).stdout)["records"]["discrepancies"]
    assert [(d["table"], d["id"], d["seq"]) for d in found] == [
        ("project", "p2", seq - 3), ("audit_entry", seq - 1, seq - 1), ("audit_entry", seq, seq)]


def test_a_version_written_by_hand_is_named_by_verify(ready: Cli, db: Database) -> None:
    insert = ("INSERT INTO workflow_version (name, version, sha256, source, origin, installed_by, installed_at) "
              "VALUES ('commissioning', 2, :sha, :source, 'built-in', 'alice', '2026-11-22T10:00:00Z')")
    params = {"sha": sha(NO_CRITERIA), "source": NO_CRITERIA}
    if db.dialect == "postgresql":  # a login's own INSERT does not commit there: no audit entry holds the row
        with pytest.raises(exc.DBAPIError, match=r"workflow_version #\d+ was inserted without an audit entry"):
            db.execute(insert, params=params, user="alice")
    db.tamper(insert, params=params)  # as the owner could, with the database's checks off
    err = ready("audit", "verify", expect=1).stderr.splitlines()
    assert err[1:] == ["  workflow commissioning version 2 has no workflow.install audit entry: it was written "
                       "outside cycle"]


@pytest.mark.parametrize("statement", ["UPDATE workflow_version SET source = 'name = \"x\"'",
                                       "DELETE FROM workflow_version WHERE version = 1"])
def test_installed_versions_cannot_be_changed_or_removed(ready: Cli, db: Database, statement: str) -> None:
    before = versions(db)
    assert db.refused(statement) == f"workflow_version is append-only: {statement.split()[0]} refused"
    if db.dialect == "postgresql":
        assert db.refused("TRUNCATE workflow_version") == "workflow_version is append-only: TRUNCATE refused"
    assert versions(db) == before
    with_gap = ("INSERT INTO workflow_version (name, version, sha256, source, origin, installed_by, installed_at) "
                "VALUES ('commissioning', 5, :sha, :source, 'x', 'alice', 'now')")
    assert db.refused(with_gap, {"sha": sha(NO_CRITERIA), "source": NO_CRITERIA}, user="alice") == (
        "workflow_version: a new version of a workflow is the next number after its newest")


@pytest.mark.postgresql_only
def test_on_postgresql_the_database_vouches_for_who_installed_a_version_and_its_sha256(ready: Cli,
                                                                                      db: Database) -> None:
    insert = ("INSERT INTO workflow_version (name, version, sha256, source, origin, installed_by, installed_at) "
              "VALUES ('commissioning', 2, :sha, :source, 'built-in', :by, 'now')")
    assert db.refused(insert, {"sha": sha(BUILTIN), "source": NO_CRITERIA, "by": "alice"}, user="alice") == (
        "workflow_version: sha256 is not the SHA-256 of source")
    assert db.refused(insert, {"sha": sha(NO_CRITERIA), "source": NO_CRITERIA, "by": "gill"}, user="alice") == (
        "a workflow version must be installed under the database login that installs it (alice), not gill")


@pytest.mark.postgresql_only
def test_as_the_application_role_a_personal_file_opens_no_gate_and_versions_stay_put(
        run: Cli, pg_server: PgServer, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = f"{os.getpid()}_{next(_n)}"
    owner, app, pat, gill, database = f"own_{n}", f"app_{n}", f"pat_{n}", f"gill_{n}", f"cycle_wf_{n}"
    _psql(pg_server, run("db", "roles-sql", "--database", database, "--owner", owner, "--app", app, "--person", pat,
                         "--person", gill).stdout, tmp_path)

    def as_login(login: str) -> None:
        monkeypatch.setenv("CYCLE_DATABASE_URL", pg_server.url(login, database))

    try:
        as_login(owner)
        run("init")
        as_login(gill)
        run("people", "add", gill, "--email", "gill@council.example", "--role", "governance-lead")
        as_login(pat)  # a member of the application role: no superuser, owns nothing
        run("people", "add", pat, "--email", "pat@council.example")
        run("project", "new", "camhs", "--title", "CAMHS", "--accountable-body", BODY, "--owner", pat)
        path = team_file(home, NO_CRITERIA)
        run("project", "advance", "camhs", expect=3)
        assert run("workflow", "install", str(path), expect=6).stderr.startswith(
            f"Error: only a governance lead or an admin may install a workflow ({gill}), and {pat} is not one; ")
        engine = create_engine(pg_server.url(pat, database), poolclass=NullPool)
        try:
            for statement, refusal in [
                ("UPDATE workflow_version SET source = ''", "permission denied for table workflow_version"),
                ("DELETE FROM workflow_version", "permission denied for table workflow_version"),
                ("TRUNCATE workflow_version", "permission denied for table workflow_version"),
                ("ALTER TABLE workflow_version DISABLE TRIGGER ALL", "must be owner of table workflow_version"),
            ]:
                with engine.connect() as conn, pytest.raises(exc.DBAPIError) as caught:
                    conn.execute(text(statement))
                assert str(caught.value.orig).splitlines()[0] == refusal, statement
            # A version of its own, written by hand, is refused (a governance lead's or an admin's to install, audit
            # entry or not: revision 0012); and so is a project's pin (no audit entry holds it).
            with engine.connect() as conn, pytest.raises(exc.DBAPIError) as caught:
                conn.execute(text("INSERT INTO workflow_version (name, version, sha256, source, origin, installed_by, "
                                  "installed_at) VALUES ('commissioning', 2, :sha, :source, 'built-in', :by, 'now')"),
                             {"sha": sha(NO_CRITERIA), "source": NO_CRITERIA, "by": pat})
            assert str(caught.value.orig).splitlines()[0] == (
                f"only a governance lead or an admin may install a workflow ({gill}), and {pat} is not one")
            with engine.connect() as conn, pytest.raises(exc.DBAPIError) as caught:
                conn.execute(text("UPDATE project SET workflow_version = 2 WHERE key = 'camhs'"))
            assert str(caught.value.orig).splitlines()[0] == (
                f"only a governance lead may move camhs to another version of its workflow ({gill}), and {pat} is not "
                f"one")
        finally:
            engine.dispose()
        run("project", "advance", "camhs", expect=3)  # still on the version it was pinned to: its gate holds
        assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
    finally:
        pg_server.drop_database(database)
        for role in (pat, gill, app, owner):
            pg_server.sql(f"DROP ROLE IF EXISTS {role}")


def test_a_gate_that_opens_a_project_pins_the_newest_version_of_its_workflow(ready: Cli, home: Path) -> None:
    source = (ROOT / "workflows" / "decommissioning.toml").read_text()
    changed = re.sub(r'^title = ".*"$', 'title = "Decommissioning, as the team runs it"', source, count=1, flags=re.M)
    ready("workflow", "install", str(team_file(home, changed, "decommissioning")))
    _decommission(ready)
    child = ready.json("project", "show", D)
    assert (child["workflow"], child["workflow_version"]) == ("decommissioning", 2)
    assert ready.json("project", "show", "camhs")["workflow_version"] == 1
    assert ready("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_init_installs_a_changed_built_in_workflow_as_the_next_version(ready: Cli, db: Database, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """As after upgrading cycle: a governance lead's or admin's `cycle init` installs it; projects stay put."""
    shipped = tmp_path / "shipped"
    shutil.copytree(ROOT / "workflows", shipped)
    (shipped / "commissioning.toml").write_text(BOARD_PAPER)
    monkeypatch.setattr(cycle.workflow.definition, "builtin_dir", lambda: shipped)
    for name, role in (("admin", "admin"), ("gill", "governance-lead"), ("bob", "manager")):
        ready("people", "add", name, "--email", f"{name}@council.gov.uk", "--role", role, user="admin")
    before = db.dump()
    assert ready("init", user="bob").stdout.splitlines()[1:] == [
        "This cycle's built-in workflow commissioning is not installed: only a governance lead or an admin may "
        "install this cycle's built-in workflows (admin, gill), and bob is not one; ask one of them to run: "
        "cycle init."]
    assert db.dump() == before
    assert ready("init", user="gill").stdout.splitlines()[1:] == [
        "Installed workflow commissioning version 2 (built-in).",
        "Projects stay on the version they run on; a governance lead moves one with: "
        "cycle project set KEY --workflow-version N"]
    assert versions(db)[-1] == ("commissioning", 2, sha(BOARD_PAPER), "built-in")
    assert ready.json("project", "show", "camhs")["workflow_version"] == 1
    assert ready("init", user="gill").stdout.count("\n") == 1  # nothing more to install


# --- files that are no workflow ----------------------------------------------------------------------

def _deep(kind: str) -> str:
    return "x = " + ("[" * 5000 + "]" * 5000 if kind == "arrays" else "{a = " * 5000 + "1" + "}" * 5000)


@pytest.mark.parametrize("kind", ["fifo", "device", "too big", "not utf-8", "deep arrays", "deep tables"])
def test_a_file_that_is_no_workflow_gives_one_line(run: Cli, tmp_path: Path, db: Database, kind: str) -> None:
    path = tmp_path / "commissioning.toml"
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes to it: reading must not wait for a writer
        problem = "not a regular file; give the path of a .toml file"
    elif kind == "device":
        path = Path("/dev/zero")
        problem = "not a regular file; give the path of a .toml file"
    elif kind == "too big":
        path.write_text("# " + "x" * 1_000_000 + "\n")
        problem = "1000003 bytes, more than a workflow file may have (1000000); is it the right file?"
    elif kind == "not utf-8":
        path.write_bytes(b'name = "caf\xe9"\n')
        problem = "not valid TOML: not UTF-8 text (invalid continuation byte at byte 11)"
    else:
        path.write_text(_deep(kind.split()[1]))
        problem = "its arrays or tables are nested too deeply to read (a workflow needs only a few levels)"
    run("init")
    before = db.dump()
    for command in ("check", "install"):
        if kind in ("fifo", "device"):  # a separate process, so that a read that never ends fails, not hangs
            result = subprocess.run([*cycle_exe(), "workflow", command, str(path)], capture_output=True, text=True,
                                    timeout=60, preexec_fn=_a_gigabyte)
            assert (result.returncode, result.stdout, result.stderr) == (2, "", f"Error: {path}: {problem}\n")
            continue
        done = run("workflow", command, str(path), expect=2)
        assert (done.stdout, done.stderr) == ("", f"Error: {path}: {problem}\n")
    assert db.dump() == before


def _a_gigabyte() -> None:
    """Reading /dev/zero to its end would take all the memory there is: stop at this."""
    resource.setrlimit(resource.RLIMIT_AS, (2 ** 30, 2 ** 30))


# --- a database from before workflows lived in it -----------------------------------------------------

REVISION_0008 = DATA / "revision-0008.sql"
MINI = (DATA / "revision-0008-mini.toml").read_text()
MALLORYS = "ae4ca34950fc114dbae6a007611c56050c51ebba51ed0f3ccfdf3c6541a1e6c9"  # her criterion-less copy
# The built-in commissioning workflow that cycle shipped then (workflows/earlier-builtins/1), and her copy of it.
EARLIER = (ROOT / "workflows" / "earlier-builtins" / "1" / "commissioning.toml").read_text()
HERS = re.sub(r"\n  \[\[gate\.criterion\]\].*?(?=\n\[\[|\Z)", "", EARLIER, flags=re.S)


def load_revision_0008(db: Database) -> None:
    store = open_store()
    schema.upgrade(store, target="0008")
    store.dispose()
    if db.dialect == "postgresql":  # its entries and decisions name other logins than the one loading them
        db.execute("ALTER TABLE audit_entry DISABLE TRIGGER USER", "ALTER TABLE decision DISABLE TRIGGER USER")
    db.load(REVISION_0008.read_text())
    if db.dialect == "postgresql":
        db.execute("ALTER TABLE audit_entry ENABLE TRIGGER USER", "ALTER TABLE decision ENABLE TRIGGER USER")


def test_a_database_from_revision_0008_gets_the_workflows_its_log_shows(run: Cli, db: Database, home: Path) -> None:
    load_revision_0008(db)
    kept = {t: db.rows(f"SELECT * FROM {t} ORDER BY 1") for t in ("project", "evidence", "decision", "audit_entry")}
    assert [len(rows) for rows in kept.values()] == [4, 4, 2, 16]
    mini = team_file(home, MINI, "mini")  # the team's file, as it was when the log used it

    out = run("init").stdout
    assert out == (
        f"Upgraded cycle database at {open_store().describe()} from schema revision 0008 to {schema.head()}.\n"
        f"Installed workflows commissioning version 1 (built-in), mini version 1 ({mini}), commissioning version 2 "
        f"(built-in), decommissioning version 1 (built-in).\n"
        f"Pinned 3 projects to the version of its workflow its log last used; 1 could not be matched (a governance "
        f"lead moves one with: cycle project set KEY --workflow-version N):\n"
        f"  respite: the workflow file its log last used (SHA-256 {MALLORYS[:12]}) is neither built in nor in "
        f"{home / 'workflows'}; now on commissioning version 2, the newest\n")
    # the built-in file the log shows, as cycle shipped it then (workflows/earlier-builtins/1); today's is newest
    assert versions(db) == [("commissioning", 1, sha(EARLIER), "built-in"), ("mini", 1, sha(MINI), str(mini)),
                            ("commissioning", 2, sha(BUILTIN), "built-in"),
                            ("decommissioning", 1, sha((ROOT / "workflows" / "decommissioning.toml").read_text()),
                             "built-in")]
    assert {p["key"]: (p["workflow"], p["workflow_version"], p["stage"]) for p in run.json("project", "list")} == {
        "camhs": ("commissioning", 1, "plan"), "pilot": ("mini", 1, "plan"), "respite": ("commissioning", 2, "plan"),
        "school-nursing": ("commissioning", 1, "analyse")}
    log = db.audit()
    # revision 0011's baseline (one entry per project), revision 0015's (the same), the installs, then the upgrade
    # with the pinned rows
    assert [e["action"] for e in log[16:]] == ["record.baseline"] * 8 + ["workflow.install"] * 4 + ["db.upgrade"]
    upgrade = json.loads(log[-1]["payload"])
    assert upgrade["workflows"]["pinned"] == {"camhs": ["commissioning", 1], "pilot": ["mini", 1],
                                              "respite": ["commissioning", 2], "school-nursing": ["commissioning", 1]}
    assert list(upgrade["workflows"]["unmatched"]) == ["respite"]
    assert run("audit", "log", "--limit", "1").stdout.endswith(
        f"db.upgrade  schema upgraded from 0008 to {schema.head()}; 4 projects pinned to a workflow version, "
        "1 not matched to their log\n")
    # Nothing was lost: every old row is as it was, but for its new pin.
    assert [r[:10] for r in db.rows("SELECT * FROM audit_entry ORDER BY 1")[:16]] == kept["audit_entry"]  # + txid
    assert {t: [r[:len(kept[t][0])] for r in db.rows(f"SELECT * FROM {t} ORDER BY 1")]  # + 0016's counts_for
            for t in ("evidence", "decision")} == {t: kept[t] for t in ("evidence", "decision")}
    assert db.rows("SELECT counts_for FROM evidence") == [(None,)] * 4
    columns = ", ".join(c for c in db.dicts("SELECT * FROM project")[0]
                        if c not in ("workflow_version", "programme", "hub_role"))  # (revisions 0010, 0015)
    assert db.rows(f"SELECT {columns} FROM project ORDER BY 1") == kept["project"]
    assert run("audit", "verify").stdout.startswith("Audit chain verified: 29 entries")

    # The projects carry on, on the versions the database holds, whatever files are about.
    team_file(home, NO_CRITERIA)
    run("project", "advance", "respite", expect=3)
    run("project", "advance", "camhs", expect=3)
    assert "warning: should-criterion owner-set not met" not in run("project", "advance", "pilot").stderr
    assert run.json("project", "show", "pilot")["stage"] == "closed"
    assert run("audit", "verify").stdout.splitlines()[1] == (
        "Records match the log: every column of 14 rows in 24 tables (4 projects, 4 evidence, 2 decisions, 0 waivers, "
        "4 workflow versions and 0 other rows), and the workflows of 3 gate entries.")
    assert run("init").stdout.count("\n") == 1  # upgraded once: nothing more to install or pin



def test_the_upgrade_keeps_a_team_file_that_replaced_a_built_in_one_as_the_newest(run: Cli, db: Database,
                                                                                  home: Path) -> None:
    """Before, a team's commissioning.toml replaced the built-in one for new projects: it still does, as the
    newest version, when the log shows it (here the criterion-less copy respite ran on, found in the home of
    whoever upgrades: a governance lead sees it in `workflow list` and in the log, with its whole text)."""
    assert sha(HERS) == MALLORYS
    load_revision_0008(db)
    mini, copy = team_file(home, MINI, "mini"), team_file(home, HERS)
    out = run("init").stdout.splitlines()
    # the built-in file of then (workflows/earlier-builtins/1), today's, then the team's copy as the newest
    assert out[1:] == [f"Installed workflows commissioning version 1 (built-in), commissioning version 2 (built-in), "
                       f"mini version 1 ({mini}), commissioning version 3 ({copy}), decommissioning version 1 "
                       f"(built-in).",
                       "Pinned 4 projects to the version of its workflow its log last used."]
    assert {p["key"]: p["workflow_version"] for p in run.json("project", "list")} == {
        "camhs": 1, "pilot": 1, "respite": 3, "school-nursing": 1}
    assert run("workflow", "list").stdout.splitlines()[0].endswith(
        "[version 3 (newest): 1 project; version 2: 0 projects; version 1: 2 projects]")
    run("audit", "verify")
