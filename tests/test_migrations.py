"""Schema migrations: `cycle init` creates or upgrades, `cycle db status` says where a database stands.

The upgrade test keeps a small database made by cycle's first revision (tests/data/revision-0001.sql,
written by commit 0b38308's own commands), loads it at revision 0001 and upgrades it to the newest:
every row is still there, the audit chain still verifies, and the projects carry on.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import cycle.db.models  # noqa: F401 - the tables the models describe
from cycle.audit import chain
from cycle.db import schema
from cycle.db.store import open_store

from .conftest import BODY, CAMHS, Cli, Database, cycle_exe

DATA = Path(__file__).with_name("data") / "revision-0001.sql"
FIRST = {  # revision 0001's tables and columns, in the order the first revision wrote them
    "project": "id, key, title, workflow, stage, cycle, visit, lead_commissioner, model, accountable_body, owner, "
               "attrs, created_at, updated_at, version",
    "evidence": "id, project_id, cycle, name, ref, note, recorded_by, recorded_at",
    "decision": "id, project_id, cycle, visit, gate, outcome, body, ref, recycle_to, decided_on, note, recorded_by, "
                "recorded_at",
    "audit_entry": "seq, at, actor, project, action, from_stage, to_stage, payload, prev_hash, hash",
}
HEAD = schema.head()
INSTALLED = "Installed workflows commissioning version 1 (built-in), decommissioning version 1 (built-in).\n"


def first_revision_rows(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return {t: db.rows(f"SELECT {cols} FROM {t} ORDER BY 1") for t, cols in FIRST.items()}


def test_revision_files_are_alembics_chain() -> None:
    assert schema.revision_ids() == [rev for rev, _ in schema.revisions()]
    assert schema.revision_ids()[0] == "0001" and len(set(schema.revision_ids())) == len(schema.revision_ids())


@pytest.fixture
def real_migrations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Alembic itself for this test's `cycle init`, not the suite's replay of the first one (tests/fastinit.py)."""
    from alembic import command

    from . import fastinit

    if fastinit._real_upgrade is not None:
        monkeypatch.setattr(command, "upgrade", fastinit._real_upgrade)


def test_the_migrations_build_what_the_models_describe(run: Cli, db: Database, real_migrations: None) -> None:
    run("init")
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diffs == []


def test_replayed_migrations_make_the_same_schema(run: Cli, db: Database, monkeypatch: pytest.MonkeyPatch,
                                                  request: pytest.FixtureRequest) -> None:
    """The suite's replay of `cycle init`'s migrations on an empty database (tests/fastinit.py) leaves the schema,
    the rows and the output that Alembic itself does, so no test sees a difference: one of these two databases is
    made by Alembic, the other by the replay."""
    from alembic import command

    from . import fastinit

    if fastinit._real_upgrade is None:
        pytest.skip("CYCLE_TEST_REAL_MIGRATIONS=1: every init runs Alembic")
    recorded_before = bool(fastinit._recorded)
    outs = [run("init").stdout.replace(open_store().describe(), "DATABASE")]  # recorded now, or replayed
    other = Database(db.dialect, db.home.parent / "other", request.getfixturevalue("pg_server") if db.server else None)
    try:
        monkeypatch.setenv("CYCLE_HOME", str(other.home))
        if db.server is not None:
            monkeypatch.setenv("CYCLE_DATABASE_URL", other.url("alice"))
        with monkeypatch.context() as m:
            if recorded_before:  # the first was replayed: this one by Alembic (and not recorded)
                m.setattr(command, "upgrade", fastinit._real_upgrade)
            outs.append(run("init").stdout.replace(open_store().describe(), "DATABASE"))
        made = [db.dump(), other.dump()]
        actions = [[e["action"] for e in d.audit()] for d in (db, other)]
    finally:
        other.close()
    assert outs[0] == outs[1] == f"Created cycle database at DATABASE (schema revision {HEAD}).\n{INSTALLED}"
    assert fastinit._recorded  # one of the two was replayed
    assert made[0]["schema"] == made[1]["schema"] and len(made[0]["schema"]) > 50
    assert made[0]["alembic_version"] == made[1]["alembic_version"] == [(HEAD,)]
    assert {t: len(rows) for t, rows in made[0].items()} == {t: len(rows) for t, rows in made[1].items()}
    assert actions[0] == actions[1] == ["db.init", "workflow.install", "workflow.install"]


def test_a_database_made_at_the_first_revision_upgrades_with_nothing_lost(run: Cli, db: Database, home: Path) -> None:
    store = open_store()
    schema.upgrade(store, target="0001")
    store.dispose()
    db.load(DATA.read_text())
    kept = first_revision_rows(db)
    assert [len(kept[t]) for t in FIRST] == [2, 3, 2, 11]

    status = run.json("db", "status")
    assert (status["current"], status["head"], status["behind"]) == ("0001", HEAD, True)
    assert status["pending"] == schema.revision_ids()[1:]
    refused = run("project", "list", expect=2)
    assert refused.stderr == (f"Error: The cycle database at {open_store().describe()} is at schema revision 0001; "
                              f"this cycle needs revision {HEAD}. Upgrade it with: cycle init (on PostgreSQL, as the "
                              f"owner role)\n")

    unmatched = (f"the workflow file its log last used (SHA-256 95b751521fcd) is neither built in nor in "
                 f"{home / 'workflows'}; now on commissioning version 1, the newest")
    assert run("init").stdout == (
        f"Upgraded cycle database at {open_store().describe()} from schema revision 0001 to {HEAD}.\n"
        f"Installed workflows commissioning version 1 (built-in), decommissioning version 1 (built-in).\n"
        f"Pinned 0 projects to the version of its workflow its log last used; 2 could not be matched (a governance "
        f"lead moves one with: cycle project set KEY --workflow-version N):\n"
        f"  camhs: {unmatched}\n  school-nursing: {unmatched}\n")
    after = first_revision_rows(db)
    assert after["audit_entry"][:11] == kept["audit_entry"]
    assert {t: after[t] for t in ("project", "evidence", "decision")} == {
        t: kept[t] for t in ("project", "evidence", "decision")}
    # Revision 0011's baseline: one entry per project, holding the images of its rows as they stood; then
    # the workflows installed (each entry with its version's image) and the projects pinned, whose images the
    # upgrade's own entry holds.
    *baselines, install1, install2, upgrade = db.audit()[11:]
    assert [(e["seq"], e["action"], e["project"], json.loads(e["payload"])["revision"]) for e in baselines] == [
        (12, "record.baseline", "camhs", "0011"), (13, "record.baseline", "school-nursing", "0011"),
        (14, "record.baseline", "camhs", "0015"), (15, "record.baseline", "school-nursing", "0015")]
    images = [(i["table"], i["id"]) for e in baselines[:2] for i in json.loads(e["payload"])["rows"]]
    assert images == [("project", 1), ("evidence", 1), ("evidence", 2), ("decision", 1),
                      ("project", 2), ("evidence", 3), ("decision", 2)]
    # Revision 0015's: each project's row again, with its new columns (a programme, the hub's role), empty.
    added = [i["row"] for e in baselines[2:] for i in json.loads(e["payload"])["rows"]]
    assert [(r["key"], r["programme"], r["hub_role"]) for r in added] == [("camhs", None, None),
                                                                          ("school-nursing", None, None)]
    assert [(e["seq"], e["action"]) for e in (install1, install2, upgrade)] == [
        (16, "workflow.install"), (17, "workflow.install"), (18, "db.upgrade")]
    assert [(i["table"], i["id"]) for i in json.loads(install1["payload"])["rows"]] == [("workflow_version", 1)]
    assert json.loads(upgrade["payload"])["from"] == "0001" and json.loads(upgrade["payload"])["to"] == HEAD
    assert json.loads(upgrade["payload"])["workflows"]["pinned"] == {
        "camhs": ["commissioning", 1], "school-nursing": ["commissioning", 1]}
    pinned = {i["row"]["key"]: i["row"] for i in json.loads(upgrade["payload"])["rows"]}
    assert pinned["camhs"] == db.dicts("SELECT * FROM project WHERE key = 'camhs'")[0]
    assert pinned["camhs"]["workflow_version"] == 1
    assert run("audit", "verify").stdout.startswith("Audit chain verified: 18 entries")
    assert run.json("db", "status")["behind"] is False
    # Revision 0008 rebuilt the audit table on SQLite: it is as append-only as before.
    assert db.refused("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3") == (
        "audit_entry is append-only: UPDATE refused")
    assert db.refused("DELETE FROM audit_entry WHERE seq = 14") == "audit_entry is append-only: DELETE refused"

    # The old projects carry on under the new schema: programme cards, contracts, new rows with new ids.
    camhs = run.json("project", "show", "camhs")
    assert (camhs["stage"], camhs["version"], camhs["sro"]) == ("plan", 5, None)
    assert [e["ref"] for e in camhs["evidence"]] == ["JSNA 2026 children chapter", "EIA v1"]
    run("project", "set", "camhs", "--sro", "dr-jones")
    run("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
        "--notice", "6 months")
    run("evidence", "add", "camhs", "consultation", "--ref", "Consultation report")
    run("project", "new", "respite", "--title", "Short breaks", "--accountable-body", BODY)
    run("decision", "record", "school-nursing", "--gate", "analyse-plan", "--outcome", "go", "--body",
        "Health and Wellbeing Board", "--ref", "HWB 2026-12-07 item 2", user="chair")
    assert run.json("project", "show", "camhs")["version"] == 8
    assert run.json("project", "show", "respite")["stage"] == "analyse"
    assert run("audit", "verify").stdout.startswith("Audit chain verified: 23 entries")


def make_database_the_old_way(db: Database) -> None:
    """What `cycle init` did before migrations: create_all on the models, then the append-only triggers."""
    spec = importlib.util.spec_from_file_location("revision_0001", schema.MIGRATIONS / "versions" / "0001_engine.py")
    assert spec is not None and spec.loader is not None
    first = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(first)
    with db.engine.begin() as conn:
        SQLModel.metadata.create_all(conn)
        for statement in first.SQLITE_APPEND_ONLY if db.dialect == "sqlite" else first.POSTGRES_APPEND_ONLY:
            conn.exec_driver_sql(statement)
        # what revisions 0010 (workflows in the database) and 0011 (the audit table's txid) added came after
        # migrations
        conn.exec_driver_sql("DROP TABLE workflow_version")
        conn.exec_driver_sql("ALTER TABLE project DROP COLUMN workflow_version")
        conn.exec_driver_sql("DROP INDEX ix_audit_entry_txid")
        conn.exec_driver_sql("ALTER TABLE audit_entry DROP COLUMN txid")
        # and what revision 0015 (programmes, the hub's role) added
        conn.exec_driver_sql("DROP TABLE programme")
        conn.exec_driver_sql("DROP INDEX ix_project_programme")
        conn.exec_driver_sql("ALTER TABLE project DROP COLUMN programme")
        conn.exec_driver_sql("ALTER TABLE project DROP COLUMN hub_role")
        conn.exec_driver_sql("ALTER TABLE evidence DROP COLUMN counts_for")  # and revision 0016's columns
        conn.exec_driver_sql("ALTER TABLE contract DROP COLUMN termination_costs")
        # and revision 0017's: one contract per project again
        conn.exec_driver_sql("DROP INDEX uq_contract_ref")
        conn.exec_driver_sql("DROP INDEX ix_contract_project_id")
        conn.exec_driver_sql("CREATE UNIQUE INDEX ix_contract_project_id ON contract (project_id)")
        for column in ("title", "description", "department", "review_date", "awarded_by", "sme", "vcse",
                       "registration_number", "vat_not_recoverable"):  # and revision 0019's
            conn.exec_driver_sql(f"ALTER TABLE contract DROP COLUMN {column}")
        conn.exec_driver_sql("DROP INDEX ix_contract_ocid")  # and revision 0018's
        for column in ("ocid", "ocds_id", "buyer"):
            conn.exec_driver_sql(f"ALTER TABLE contract DROP COLUMN {column}")
        conn.exec_driver_sql("DROP TABLE kpi_assessment")  # and revision 0023's: no regime, no assessments
        for column in ("regime", "kpis_exempt"):
            conn.exec_driver_sql(f"ALTER TABLE contract DROP COLUMN {column}")
        conn.exec_driver_sql("DROP TABLE procurement_step")  # and revision 0022's: no procurement recorded
        conn.exec_driver_sql("DROP TABLE procurement")
        conn.exec_driver_sql("ALTER TABLE contract DROP COLUMN provider_contact")  # and revision 0024's
        conn.exec_driver_sql("DROP TABLE deputy")  # and revision 0025's: nobody stands in
        # (revision 0026 added only triggers and a function, cycle_day, which create_all does not make)
        conn.exec_driver_sql("DROP TABLE contract_funder")  # and revision 0021's: nobody paying yet
        for table in ("action", "kpi_value", "kpi_target", "kpi"):  # and revision 0020's tables and columns
            conn.exec_driver_sql(f"DROP TABLE {table}")
        conn.exec_driver_sql("ALTER TABLE review_meeting DROP COLUMN attendees")
        conn.exec_driver_sql("ALTER TABLE review_meeting DROP COLUMN snapshot")


def test_a_database_made_before_migrations_is_adopted_then_upgraded(run: Cli, db: Database) -> None:
    make_database_the_old_way(db)
    db.execute("INSERT INTO audit_entry (seq, at, actor, project, action, from_stage, to_stage, payload, prev_hash, "
               "hash) VALUES (1, '2026-11-01T09:00:00.000000Z', 'alice', NULL, 'db.init', NULL, NULL, '{}', "
               f"'{'0' * 64}', :hash)",
               params={"hash": chain.entry_hash("0" * 64, 1, "2026-11-01T09:00:00.000000Z", "alice", None,
                                                      "db.init", None, None, "{}")})
    assert run.json("db", "status")["made_before_migrations"] is True
    run("project", "list", expect=2)

    out = run("init").stdout
    assert out == (f"Upgraded cycle database at {open_store().describe()}: made before migrations, its tables "
                   f"matched revision 0006; now at {HEAD}.\n{INSTALLED}")
    entry = db.audit()[-1]
    assert entry["action"] == "db.upgrade" and json.loads(entry["payload"])["adopted_at"] == "0006"
    run(*CAMHS)
    assert run("audit", "verify").stdout.startswith("Audit chain verified: 5 entries")
    assert run("init").stdout.startswith("Already set up: cycle database at ")


def test_a_database_whose_tables_match_no_revision_is_left_alone(run: Cli, db: Database) -> None:
    make_database_the_old_way(db)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text VARCHAR)")
    before = db.dump()
    err = run("init", expect=2).stderr
    assert err.startswith(f"Error: the database at {open_store().describe()} was made before cycle had migrations, "
                          f"and its tables match no revision (unexpected tables: notes; missing: none; ")
    assert err.endswith("Nothing was changed. Back it up, then either restore it to a database made by cycle or "
                        "load its data into a new one made with: cycle init\n")
    assert db.dump() == before


def test_a_database_of_someone_elses_tables_is_refused(run: Cli, db: Database) -> None:
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    err = run("init", expect=2).stderr
    assert err == (f"Error: the database at {open_store().describe()} already holds tables that are not cycle's "
                   f"(invoices); give cycle a database of its own\n")


def test_a_schema_from_a_newer_cycle_is_named(ready: Cli, db: Database) -> None:
    db.execute("UPDATE alembic_version SET version_num = '0999'")
    err = ready("project", "list", expect=2).stderr
    assert err == ("Error: the database is at schema revision 0999, which this version of cycle does not know "
                   "(a newer cycle upgraded it); upgrade cycle itself\n")
    assert ready("init", expect=2).stderr == err


def test_db_status_before_and_after_init(run: Cli) -> None:
    where = open_store().describe()
    assert run("db", "status").stdout == f"No cycle database at {where} yet. Create it with: cycle init\n"
    assert run.json("db", "status") == {"database": where, "current": None, "head": HEAD, "behind": True,
                                        "pending": schema.revision_ids(), "made_before_migrations": False}
    assert run("init").stdout == f"Created cycle database at {where} (schema revision {HEAD}).\n{INSTALLED}"
    assert run("db", "status").stdout.startswith(f"The database at {where} is at schema revision {HEAD}, the newest: ")
    assert run("init").stdout == f"Already set up: cycle database at {where} (schema revision {HEAD}, the newest).\n"


def test_two_inits_at_once_create_the_schema_once(run: Cli, db: Database) -> None:
    procs = [subprocess.Popen([*cycle_exe(), "init"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    outs = sorted(out.split(" cycle database")[0] for _, out, _ in results)
    assert outs == ["Already set up:", "Already set up:", "Created"]
    assert [e["action"] for e in db.audit()] == ["db.init", "workflow.install", "workflow.install"]
    assert run.json("db", "status")["current"] == HEAD


@pytest.mark.parametrize("revision", ["0008", HEAD])
def test_a_database_that_lost_its_alembic_version_is_adopted_by_init(run: Cli, db: Database, revision: str) -> None:
    """`db status` says `init` adopts it, and it does: at 0008 (0007 and 0008 made the same tables as 0006)
    and at the newest (0011 to 0013 make the same tables), whatever triggers the later ones made. It is
    stamped at the oldest of those revisions whose later migrations apply cleanly (0008's apply again as
    they are; on SQLite, 0012 makes nothing)."""
    store = open_store()
    schema.upgrade(store, target=revision)
    store.dispose()
    if revision == HEAD:
        run("init")  # the workflows and the entries as a real installation has them
        run(*CAMHS)
    db.execute("DROP TABLE alembic_version")
    assert run.json("db", "status")["made_before_migrations"] is True

    out = run("init").stdout
    # (0025 on PostgreSQL: 0026 made no table, and its functions apply again as they are)
    matched = {"0008": ("0007", "0008"), HEAD: ("0011", "0012", "0025", HEAD)}[revision]
    assert any(out.startswith(f"Upgraded cycle database at {open_store().describe()}: made before migrations, its "
                              f"tables matched revision {m}; now at {HEAD}.\n") for m in matched), out
    assert run.json("db", "status")["current"] == HEAD
    assert run("audit", "verify").stdout.startswith("Audit chain verified: ")
    run("project", "list")
