"""adv-w3: attempts on issue 16 (several contracts per project, OCDS import and export), through the real CLI.
Each test failed on main before its fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .conftest import ON_POSTGRES, Cli, Database
from .test_ocds import award_release, contract_release, folder, release_package, write  # noqa: F401 - `folder`
from .test_several_contracts import two_contracts


def test_a_reference_differing_only_in_case_or_spacing_does_not_make_a_second_contract(run: Cli,
                                                                                      db: Database) -> None:
    """`contract set camhs --ref c-2` (the project has C-1 and C-2) said 'camhs has no contract 'c-2'; add one with:
    cycle contract add camhs --ref c-2 ...', and that command made a second contract for Trust Y's C-2: its own
    notice reminders, its own row in `contracts due`, the close gate waiting on it. A reference that differs from
    one the project holds only in case or spacing now names that one, refused with the reference as recorded."""
    two_contracts(run)
    before = db.dump()
    assert run("contract", "set", "camhs", "--ref", "c-2", "--value", "900k", expect=2).stderr == (
        "Error: camhs has no contract 'c-2', but has 'C-2': a reference is given as it was recorded, "
        "e.g. --ref C-2\n")
    assert run("contract", "notice", "camhs", "--contract", "c-1", "--served-on", "2026-01-01", "--ref", "NL",
               expect=2).stderr.startswith("Error: camhs has no contract 'c-1', but has 'C-1': ")
    for ref in ("c-2", " c-2 "):
        assert run("contract", "add", "camhs", "--ref", ref, "--provider", "Trust Y", expect=2).stderr == (
            "Error: camhs already has a contract C-2, which 'c-2' differs from only in case or spacing: a reference "
            "names one contract of a project; change that one with: cycle contract set camhs --ref C-2 ...\n")
    # a rename of one contract to (nearly) the other's reference
    assert run("contract", "set", "camhs", "--contract", "C-1", "--ref", "c-2", expect=2).stderr == (
        "Error: camhs already has a contract C-2, which 'c-2' differs from only in case or spacing: a reference "
        "names one contract of a project\n")
    assert db.dump() == before
    # a contract's own reference may still be re-cased
    run("contract", "set", "camhs", "--contract", "C-2", "--ref", "c-2")
    assert [c["ref"] for c in run.json("contracts", "list", "--status", "all")] == ["C-1", "c-2"]


def test_an_ocds_file_with_contract_ids_differing_only_in_case_is_refused_whole(ready: Cli, db: Database,
                                                                                folder: Path) -> None:  # noqa: F811
    """One release with contracts CAMHS-2025-01 and camhs-2025-01 made two contracts of one project (two rows in
    `contracts due`, two reminders); it is now refused by name, and nothing of the file is written."""
    contract = contract_release()
    second = copy.deepcopy(contract["contracts"][0])
    second["id"] = "camhs-2025-01"
    contract["contracts"].append(second)
    path = write(folder, release_package(award_release(), contract))
    before = db.dump()
    assert ready("import", "ocds", str(path), expect=2).stderr == (
        "Error: ocid ocds-b5fd17-camhs-2025 contract camhs-2025-01: ocds-b5fd17-camhs-2025 already has a contract "
        "CAMHS-2025-01, which 'camhs-2025-01' differs from only in case or spacing: a reference names one contract "
        "of a project; change that one with: cycle contract set ocds-b5fd17-camhs-2025 --ref CAMHS-2025-01 ...\n")
    assert db.dump() == before


def test_an_imported_contract_without_a_notice_period_is_in_contracts_due_at_its_end_date(ready: Cli,
                                                                                        folder: Path) -> None:  # noqa: F811
    """OCDS has no notice period, so every contract `import ocds` makes is 'incomplete' until someone sets one.
    `contracts due` passed over every incomplete contract: a £3.6m contract ending in 30 days was 'Nothing due
    within 90d'. Its end date, which the file gives, is now listed."""
    ready("import", "ocds", str(write(folder, release_package())))
    out = ready("contracts", "due", "--within", "90d", "--as-of", "2028-03-01").stdout
    assert out.startswith("2028-03-31  end date        ocds-b5fd17-camhs-2025 Trust X (CAMHS-2025-01): Unknown: ")
    [row] = ready.json("contracts", "due", "--within", "90d", "--as-of", "2028-03-01", "--json")
    assert (row["date"], row["what"], row["status"], row["ref"]) == ("2028-03-31", "end date", "incomplete",
                                                                      "CAMHS-2025-01")
    # outside the window, or once ended, it is not
    assert ready("contracts", "due", "--within", "10d", "--as-of", "2028-03-01").stdout == "Nothing due within 10d.\n"
    assert ready("contracts", "due", "--within", "90d", "--as-of", "2028-04-01").stdout == "Nothing due within 90d.\n"


def _theirs(release: dict[str, Any]) -> dict[str, Any]:
    """A release of another organisation's cycle export: its prefix, the same project key and contract id."""
    release = copy.deepcopy(release)
    release["ocid"], release["id"] = "ocds-zzzzzz-camhs-1", f"ocds-zzzzzz-camhs-1-{release['id']}"
    for contract in release.get("contracts", []):
        contract["id"], contract["description"] = "1", "Reference THEIR-CAMHS-1"
    return release


def test_another_organisations_export_does_not_overwrite_our_contract_of_the_same_key_and_id(
        ready: Cli, db: Database, folder: Path) -> None:  # noqa: F811
    """A partner council running cycle exports its camhs contract 1 with its own prefix (ocds-zzzzzz-camhs-1).
    Imported here, where camhs's contract 1 is ours (another provider, £5m, ends 2029), it matched ours and replaced
    its provider, dates and value, and recorded their ocid on it: our contract was overwritten, not a new one made.
    An ocid is taken for one of ours only when this database's own `export ocds` entry names its prefix."""
    ready("contract", "set", "camhs", "--ref", "OURS-1", "--provider", "Our Trust", "--start", "2024-04-01",
          "--end", "2029-03-31", "--value", "5m", "--notice", "6 months")
    path = write(folder, release_package(_theirs(award_release()), _theirs(contract_release())))
    ready("import", "ocds", str(path), "--project", "camhs")
    ours = [c for c in ready.json("contracts", "list", "--status", "all") if c["ref"] == "OURS-1"]
    assert [(c["provider"], c["end_on"], c["value_total"]) for c in ours] == [("Our Trust", "2029-03-31", "5000000.00")]


# --- import register (issue 16 part 3) -------------------------------------------------------------------------

REGISTER_MAP = """\
[columns]
reference = "Ref"
title = "Title"
provider = "Supplier"
start = "Start"
end = "End"
notice = "Notice"
value = "Value"

[project]
key = "{reference}"
workflow = "WORKFLOW"
stage = "STAGE"
"""
TWO_ENDS = """\
name = "ends"
title = "Two ends"
about = "A team's workflow with a final stage besides its stop stage."
initial = "do"
stop = "stopped"

[[stage]]
id = "do"
title = "Do"

[[stage]]
id = "completed"
title = "Completed"
final = true

[[stage]]
id = "stopped"
title = "Stopped"
final = true

[[gate]]
id = "do-completed"
from = "do"
to = "completed"
title = "Complete"

  [[gate.criterion]]
  id = "decision"
  kind = "decision"
  level = "must"
  title = "Decision to complete"
"""


def register(tmp_path: Path, lines: list[str], workflow: str = "commissioning", stage: str = "do") -> tuple[str, str]:
    """(the register, its mapping) written in tmp_path."""
    (tmp_path / "map.toml").write_text(REGISTER_MAP.replace("WORKFLOW", workflow).replace("STAGE", stage))
    (tmp_path / "register.csv").write_text("\n".join(["Ref,Title,Supplier,Start,End,Notice,Value", *lines]) + "\n")
    return str(tmp_path / "register.csv"), str(tmp_path / "map.toml")


def test_a_register_cannot_put_a_project_at_a_final_stage_past_its_contract_rule(run: Cli, db: Database,
                                                                                 tmp_path: Path) -> None:
    """A team's workflow may have a final stage besides its stop stage (`completed`). `import register` refused only
    the stop stage, so a mapping with `stage = "completed"` put a project there with a live contract whose notice
    was never served (the gate into a final stage refuses exactly that), and `audit verify` accepted it. Both now
    refuse a final stage."""
    run("init")
    (tmp_path / "ends.toml").write_text(TWO_ENDS)
    run("workflow", "install", str(tmp_path / "ends.toml"))
    path, mapping = register(tmp_path, ["CAMHS-1,CAMHS,Trust X,2025-04-01,2028-03-31,6 months,3600000"],
                             workflow="ends", stage="completed")
    before = db.dump()
    assert run("import", "register", path, "--map", mapping, expect=2).stderr == (
        f"Error: {mapping}: project.stage: 'completed' is not a stage of workflow ends a project can be imported "
        f"at; its stages are: do\n")
    assert db.dump() == before
    # written as the import would have written it (a login may append entries under its own name), audit verify
    # names it
    from sqlalchemy import text

    from cycle.audit import chain

    version = db.rows("SELECT MAX(version) FROM workflow_version WHERE name = 'ends'")[0][0]
    with (db.login("alice") if ON_POSTGRES else db.engine).begin() as conn:
        pid = conn.execute(text(
            "INSERT INTO project (key, title, workflow, workflow_version, stage, cycle, visit, attrs, created_at, "
            "updated_at, version) VALUES ('camhs-1', 'CAMHS', 'ends', :v, 'completed', 1, 1, '{}', "
            "'2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', 1) RETURNING id"), {"v": version}).scalar_one()
        image = dict(conn.execute(text("SELECT * FROM project WHERE id = :i"), {"i": pid}).one()._mapping)
        chain.append(conn, actor="alice", action="project.import", project="camhs-1", to_stage="completed",
                     payload={"imported": {"file": "register.csv", "sha256": "0" * 64, "line": 2},
                              "rows": [{"table": "project", "id": pid, "row": image}]})
    result = run("audit", "verify", expect=1)
    assert ("(project.import of camhs-1) created camhs-1 at completed, visit 1 of cycle 1; an import creates a "
            "project at a stage of ends that is not final, visit 1 of cycle 1") in result.stdout + result.stderr


def test_a_register_dry_run_says_what_the_import_then_refuses(run: Cli, db: Database, tmp_path: Path) -> None:
    """--dry-run said 'would add contract camhs-1 to project camhs-1' where the import itself then refused the row
    (the project's contract CAMHS-1 differs only in case; or it has a contract with no reference): the dry run
    now refuses it the same, at its line."""
    run("init")
    run("project", "new", "camhs-1", "--title", "CAMHS")
    run("contract", "set", "camhs-1", "--provider", "Trust X", "--start", "2025-04-01")
    path, mapping = register(tmp_path, ["camhs-1,CAMHS,Trust X,2025-04-01,2028-03-31,6 months,3600000"])
    before = db.dump()
    for dry in (["--dry-run"], []):
        assert run("import", "register", path, "--map", mapping, *dry, expect=2).stderr == (
            "Error: line 2: camhs-1's contract with Trust X has no reference, and once it has a second contract each "
            "is named by its own; give it one first with: cycle contract set camhs-1 --ref REF; correct it in "
            f"{path} (or the mapping) and import again. Nothing was imported.\n")
    run("contract", "set", "camhs-1", "--ref", "CAMHS-1")
    before = db.dump()
    for dry in (["--dry-run"], []):
        assert run("import", "register", path, "--map", mapping, *dry, expect=2).stderr == (
            "Error: line 2: camhs-1 already has a contract CAMHS-1, which 'camhs-1' differs from only in case or "
            "spacing: a reference names one contract of a project; change that one with: cycle contract set "
            f"camhs-1 --ref CAMHS-1 ...; correct it in {path} (or the mapping) and import again. Nothing was "
            "imported.\n")
    assert db.dump() == before


def test_a_semicolon_register_with_a_field_too_many_names_the_semicolon(run: Cli, db: Database,
                                                                        tmp_path: Path) -> None:
    """A European spreadsheet's register (`delimiter = ";"`) with a stray separator was told of 'a comma outside
    quotes', a character the line may not even hold; the message names the mapping's delimiter."""
    run("init")
    (tmp_path / "map.toml").write_text('[columns]\nreference = "Ref"\nprovider = "Supplier"\n'
                                       '[format]\ndelimiter = ";"\n[project]\nkey = "{reference}"\n')
    (tmp_path / "register.csv").write_bytes(b"Ref;Supplier\r\nA-1;Caf\xe9; Ltd\r\n")  # Windows-1252, CRLF
    before = db.dump()
    assert run("import", "register", str(tmp_path / "register.csv"), "--map", str(tmp_path / "map.toml"),
               expect=2).stderr == (f"Error: line 2 has 3 fields, the header line 2: a semicolon outside quotes, or a "
                                    f"quote not closed? Correct it in {tmp_path / 'register.csv'}\n")
    assert db.dump() == before
