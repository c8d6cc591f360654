"""Programmes and the hub's role (issue 20 parts 4 and 7).

Seed 002 runs its work as commissioning intentions, each a programme with projects under it: a programme is a
named row (`cycle programme add`), a project joins one with --programme (audited), `project list --programme`
filters, and the quarterly report groups its per-project detail by programme, projects in none last. Seed 001
Appendix A: the hub leads a service's commissioning, is an associate, or works in partnership: a project field
with those choices, separate from the commissioning model, on the card, in both reports and in JSON."""

from __future__ import annotations

import json

from sqlalchemy import text

from cycle.audit import chain
from cycle.calendar.clock import london_today
from cycle.calendar.quarters import quarter_of
from cycle.db import schema
from cycle.db.store import open_store
from cycle.workflow import install

from .conftest import BODY, CAMHS, Cli, Database


def _programmes(run: Cli) -> None:
    run("programme", "add", "emotional-health", "--title", "Emotional health and wellbeing")
    run("programme", "add", "early-help", "--title", "Early help for families")


def test_a_programme_is_added_listed_and_a_key_is_taken_once(run: Cli, db: Database) -> None:
    run("init")
    assert run("programme", "list").stdout == "No programmes yet. Add one with: cycle programme add KEY --title TITLE\n"
    out = run("programme", "add", "emotional-health", "--title", "Emotional health and wellbeing").stdout
    assert out == ("Added programme emotional-health (Emotional health and wellbeing). Put a project in it with: "
                   "cycle project set KEY --programme emotional-health\n")
    before = db.dump()
    err = run("programme", "add", "emotional-health", "--title", "Again", expect=2).stderr
    assert err == ("Error: a programme with key 'emotional-health' already exists (Emotional health and wellbeing); "
                   "see them with: cycle programme list\n")
    err = run("programme", "add", "Emotional Health", "--title", "X", expect=2).stderr
    assert err == ("Error: programme key 'Emotional Health' must be lower-case letters, digits and '-', e.g. "
                   "emotional-health\n")
    err = run("programme", "add", "x", "--title", "two\nlines", expect=2).stderr
    assert err.startswith("Error: --title must be a single line of text")
    assert db.dump() == before
    run(*CAMHS, "--programme", "emotional-health")
    assert run("programme", "list").stdout == "emotional-health  1 project    Emotional health and wellbeing\n"
    (listed,) = run.json("programme", "list")
    assert (listed["programme"], listed["title"], listed["projects"]) == (
        "emotional-health", "Emotional health and wellbeing", 1)
    assert run.json("audit", "log")[-2]["action"] == "programme.add"
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_a_project_joins_a_programme_and_gets_a_hub_role_on_the_record(run: Cli, db: Database) -> None:
    run("init")
    _programmes(run)
    run(*CAMHS, "--programme", "emotional-health", "--hub-role", "lead")
    shown = run("project", "show", "camhs").stdout.splitlines()
    assert "  hub role          lead" in shown
    assert "  programme         Emotional health and wellbeing (emotional-health)" in shown
    card = run.json("project", "show", "camhs")
    assert (card["programme"], card["programme_title"], card["hub_role"], card["model"]) == (
        "emotional-health", "Emotional health and wellbeing", "lead", "integrated")
    run("project", "set", "camhs", "--programme", "early-help", "--hub-role", "associate")
    (entry,) = [e for e in run.json("audit", "log", "camhs") if e["action"] == "project.set"]
    assert entry["payload"]["changes"] == {"programme": ["emotional-health", "early-help"],
                                           "hub_role": ["lead", "associate"]}
    assert run.json("project", "list")[0]["programme"] == "early-help"
    assert run.json("project", "list")[0]["hub_role"] == "associate"
    err = run("project", "set", "camhs", "--hub-role", "associate", expect=2).stderr
    assert err == ("Error: camhs already has hub role associate, so nothing changed; see it with: cycle project "
                   "show camhs\n")
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_an_unknown_hub_role_or_programme_is_refused_and_nothing_is_written(run: Cli, db: Database) -> None:
    run("init")
    run("programme", "add", "emotional-health", "--title", "Emotional health and wellbeing")
    run(*CAMHS)
    before = db.dump()
    choices = ("is not one of: lead, associate, partnership (the hub leads the commissioning, is an associate to "
               "another lead commissioner, or works in partnership)\n")
    for command in (["project", "new", "x", "--title", "X"], ["project", "set", "camhs"]):
        for role in ("Lead", "partner", "integrated", ""):
            err = run(*command, "--hub-role", role, expect=2).stderr
            assert err == f"Error: --hub-role {role!r} {choices}", (command, role)
        err = run(*command, "--programme", "emotional-helth", expect=2).stderr
        assert err == ("Error: --programme 'emotional-helth': there is no programme with that key (the programmes "
                       "are: emotional-health); add it with: cycle programme add emotional-helth --title TITLE\n")
        err = run(*command, "--programme", "Not A Key;rm", expect=2).stderr
        assert err.endswith("add it with: cycle programme add KEY --title TITLE\n")
    assert db.dump() == before


def test_project_list_by_programme(run: Cli) -> None:
    run("init")
    _programmes(run)
    run(*CAMHS, "--programme", "emotional-health")
    run("project", "new", "school-nursing", "--title", "School Nursing 5-19", "--programme", "early-help")
    run("project", "new", "respite", "--title", "Short breaks")
    assert [p["project"] for p in run.json("project", "list", "--programme", "emotional-health")] == ["camhs"]
    out = run("project", "list", "--programme", "early-help").stdout
    assert out.startswith("school-nursing  analyse") and "camhs" not in out
    run("programme", "add", "empty", "--title", "Nothing yet")
    assert run("project", "list", "--programme", "empty").stdout == (
        "No projects in programme empty. See them all with: cycle project list\n")
    assert run("project", "list", "--programme", "empty", "--stage", "plan").stdout == (
        "No projects in programme empty at stage plan. See them all with: cycle project list\n")
    err = run("project", "list", "--programme", "nope", expect=2).stderr
    assert err.startswith("Error: --programme 'nope': there is no programme with that key (the programmes are: "
                          "early-help, emotional-health, empty)")


def test_the_quarterly_report_groups_projects_by_programme_with_none_last(run: Cli) -> None:
    run("init")
    _programmes(run)
    run("project", "new", "respite", "--title", "Additional short breaks", "--accountable-body", BODY)
    run(*CAMHS, "--programme", "emotional-health", "--hub-role", "lead")
    run("project", "new", "school-nursing", "--title", "School Nursing 5-19", "--programme", "early-help",
        "--hub-role", "partnership")
    run("project", "new", "kooth", "--title", "Online counselling", "--programme", "emotional-health",
        "--hub-role", "associate")
    quarter = str(quarter_of(london_today()))
    report = run.json("report", "quarterly", "--quarter", quarter)
    assert report["by_programme"] == [
        {"programme": "early-help", "title": "Early help for families", "projects": ["school-nursing"]},
        {"programme": "emotional-health", "title": "Emotional health and wellbeing", "projects": ["camhs", "kooth"]},
        {"programme": None, "title": "Not in a programme", "projects": ["respite"]}]
    assert [(p["project"], p["programme"], p["hub_role"]) for p in report["by_project"]] == [
        ("school-nursing", "early-help", "partnership"), ("camhs", "emotional-health", "lead"),
        ("kooth", "emotional-health", "associate"), ("respite", None, None)]
    md = run("report", "quarterly", "--quarter", quarter).stdout
    section = md[md.index("## Projects by programme"):md.index("## Stage moves")]
    assert [line for line in section.splitlines() if line.startswith(("###", "- "))] == [
        "### Early help for families (early-help)",
        "- School Nursing 5-19 (school-nursing): Analyse; hub role partnership",
        "### Emotional health and wellbeing (emotional-health)",
        "- CAMHS Tiers 2 and 3 (camhs): Analyse; hub role lead",
        "- Online counselling (kooth): Analyse; hub role associate",
        "### Not in a programme",
        "- Additional short breaks (respite): Analyse"]
    html = run("report", "quarterly", "--quarter", quarter, "--format", "html").stdout
    heads = [html.index(h) for h in ("Early help for families <span", "CAMHS Tiers 2 and 3 <span",
                                     "Online counselling <span", "Not in a programme: 1 project",
                                     "Additional short breaks <span")]
    assert heads == sorted(heads) and "Hub role: partnership." in html


def test_the_gate_audit_report_shows_the_hub_role_and_programme(run: Cli) -> None:
    run("init")
    _programmes(run)
    run(*CAMHS, "--programme", "early-help", "--hub-role", "associate")
    (p,) = run.json("report", "gate-audit")["projects"]
    assert (p["programme"], p["hub_role"]) == ("early-help", "associate")
    assert "hub role associate; programme early-help." in run("report", "gate-audit").stdout


def test_a_database_from_revision_0013_upgrades_and_verifies(run: Cli, db: Database) -> None:
    """Existing projects keep working: no programme, no hub role, and `audit verify` passes before and after
    they get one."""
    store = open_store()
    schema.upgrade(store, target="0013", actor="alice",
                   after=lambda conn, done, tables: install._after_upgrade(conn, done, tables, "alice"))
    store.dispose()
    # what `project new` wrote at revision 0013: the row, and its entry holding its image
    with db.login("alice").begin() as conn:
        conn.execute(text("INSERT INTO project (key, title, workflow, workflow_version, stage, cycle, visit, "
                          "accountable_body, owner, attrs, created_at, updated_at, version) VALUES ('camhs', 'CAMHS', "
                          "'commissioning', 1, 'analyse', 1, 1, :body, 'alice', '{}', '2026-11-01T09:00:00.000000Z', "
                          "'2026-11-01T09:00:00.000000Z', 1)"), {"body": BODY})
        row = dict(conn.execute(text("SELECT * FROM project")).mappings().one())
        digest = conn.execute(text("SELECT sha256 FROM workflow_version WHERE name = 'commissioning'")).scalar()
        chain.append(conn, actor="alice", action="project.create", project="camhs", to_stage="analyse", payload={
            "workflow": "commissioning", "workflow_version": 1, "workflow_sha256": digest, "title": "CAMHS",
            "rows": [{"table": "project", "id": row["id"], "row": row}]})
    assert "programme" not in row and run("audit", "verify", expect=2).stderr.startswith(
        "Error: The cycle database at ")
    out = run("init").stdout
    assert out.startswith(f"Upgraded cycle database at {open_store().describe()} from schema revision 0013 to "
                          f"{schema.head()}.")
    (baseline,) = [e for e in db.audit() if e["action"] == "record.baseline"]
    (image,) = json.loads(baseline["payload"])["rows"]
    assert (image["row"]["key"], image["row"]["programme"], image["row"]["hub_role"]) == ("camhs", None, None)
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
    card = run.json("project", "show", "camhs")
    assert (card["programme"], card["hub_role"]) == (None, None)
    run("programme", "add", "emotional-health", "--title", "Emotional health and wellbeing")
    run("project", "set", "camhs", "--programme", "emotional-health", "--hub-role", "lead")
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
    # a raw edit of the new column is named like any other
    db.tamper("UPDATE project SET hub_role = 'partnership' WHERE key = 'camhs'")
    err = run("audit", "verify", expect=1).stderr
    assert "hub_role is 'partnership' but entry" in err and "recorded 'lead'" in err


def test_a_programme_edited_outside_cycle_is_named_by_verify(run: Cli, db: Database) -> None:
    """Someone with a text editor (or sqlite3) renames a programme: its title is on the record, so verify says so."""
    run("init")
    _programmes(run)
    db.tamper("UPDATE programme SET title = 'Renamed' WHERE key = 'early-help'")
    err = run("audit", "verify", expect=1).stderr
    assert "title is 'Renamed' but entry" in err and "recorded 'Early help for families'" in err


def test_odd_input_for_a_programme_or_hub_role_is_one_line_and_exit_2(run: Cli, db: Database) -> None:
    run("init")
    _programmes(run)
    run(*CAMHS)
    before = db.dump()
    for argv, line in (
            (["programme", "add", "x" * 65, "--title", "T"],
             "Error: programme key '" + "x" * 65 + "' must be lower-case letters, digits and '-', e.g. "
             "emotional-health"),
            (["programme", "add", "ok", "--title", "   "], "Error: --title must not be empty"),
            (["programme", "add", "ok", "--title", "a\u202eb"], "Error: --title must not hold right-to-left or other "
                                                               "direction controls (U+202A-U+202E, U+2066-U+2069)"),
            (["project", "list", "--programme", ""], "Error: --programme '': there is no programme with that key "
                                                     "(the programmes are: early-help, emotional-health); add it with: "
                                                     "cycle programme add KEY --title TITLE"),
            (["project", "set", "camhs", "--hub-role", "lead\n"], "Error: --hub-role 'lead\\n' is not one of: lead, "
                                                                   "associate, partnership (the hub leads the "
                                                                   "commissioning, is an associate to another lead "
                                                                   "commissioner, or works in partnership)")):
        result = run(*argv, expect=2)
        assert result.stderr.splitlines()[0].startswith(line), argv
        assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert db.dump() == before
