"""`cycle import register`: a council's contract register (CSV) through a mapping (TOML). Every row is checked
before anything is written, all rows go in one transaction, the same file twice changes nothing, a changed row is
one audited update, and a project the import creates verifies (its entry names the file, its SHA-256 and line)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from .conftest import ON_POSTGRES, Cli, Database

DATA = Path(__file__).parent / "data" / "registers"
MAP = """\
[columns]
reference = "Ref"
title = "Title"
provider = "Supplier"
start = "Start"
end = "End date"
maximum_end = "Max end"
value = "Value"
notice = "Notice"
department = "Service"

[format]
dates = ["%d/%m/%Y"]

[project]
key = "{reference}"
workflow = "commissioning"
stage = "do"
"""
HEADER = "Ref,Title,Supplier,Start,End date,Max end,Value,Notice,Service"


def row(n: int, end: str = "31/03/2028") -> str:
    return f"R-{n:05d},Contract {n},\"Provider {n}, Ltd\",01/04/2025,{end},31/03/2030,\"£{n:,}.50\",6 months,Care"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "registers"
    made.mkdir()
    (made / "map.toml").write_text(MAP)
    return made


def write(folder: Path, rows: list[str], name: str = "register.csv", encoding: str = "utf-8",
          newline: str = "\n", bom: bool = False) -> Path:
    path = folder / name
    text = newline.join([HEADER, *rows]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


def imports(run: Cli, path: Path, folder: Path, *extra: str, expect: int = 0) -> str:
    result = run("import", "register", str(path), "--map", str(folder / "map.toml"), *extra, expect=expect)
    return result.stdout if expect == 0 else result.stderr


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("mapping", "rows", "first"), [
    ("norfolk", 3, {"project": "ncc-100234", "ref": "NCC-100234", "provider": "Tarmac Roads Ltd",
                    "start_on": "2021-04-01", "end_on": "2028-03-31", "extension_end_on": "2031-03-31",
                    "value_total": "48000000.00", "value_annual": "6857142.86"}),
    ("nhsbsa", 2, {"project": "c12345", "ref": "C12345", "provider": "Printco UK Ltd", "start_on": "2023-04-01",
                   "end_on": "2026-03-31", "extension_end_on": "2028-03-31", "value_total": "2400000.00",
                   "value_annual": None}),
    ("lgtc-2015", 2, {"project": "camhs-2025-01", "ref": "CAMHS-2025-01", "provider": "Trust X, Unit 4, Mill Lane",
                      "start_on": "2025-04-01", "end_on": "2028-03-31", "extension_end_on": None,
                      "value_total": "3600000.00", "value_annual": "1200000.00"}),
    ("birmingham", 2, {"project": "bcc-4600012", "ref": "BCC-4600012", "provider": "Kingsway Care Ltd",
                       "start_on": "2024-04-01", "end_on": "2027-03-31", "extension_end_on": None,
                       "value_total": "4200000.00", "value_annual": None}),
])
def test_each_shipped_mapping_imports_its_sample(run: Cli, mapping: str, rows: int, first: dict[str, str]) -> None:
    run("init")
    sample = DATA / f"{mapping}.csv"
    said = run("import", "register", str(sample), "--map", mapping).stdout
    assert said.startswith(f"Imported {sample} (read as UTF-8, SHA-256 {sha(sample)}): {rows} rows: {rows} projects "
                           f"created, 0 contracts added, 0 contracts changed, 0 unchanged; recorded as audit entries ")
    listed = run.json("contracts", "list", "--status", "all", "--as-of", "2026-12-01")
    assert len(listed) == rows
    assert {k: listed[0][k] for k in first} == first
    assert all(p["stage"] == "do" for p in run.json("project", "list"))
    run("audit", "verify")


def test_the_shipped_samples_carry_the_codes_details(run: Cli) -> None:
    run("init")
    run("import", "register", str(DATA / "norfolk.csv"), "--map", "norfolk")
    run("import", "register", str(DATA / "lgtc-2015.csv"), "--map", "lgtc-2015")
    advocacy = run.json("contract", "show", "ncc-100871")
    assert (advocacy["registration_number"], advocacy["sme"], advocacy["vcse"]) == ("1098765", "yes", "yes")
    assert advocacy["department"] == "Adult Social Services"
    camhs = run.json("contract", "show", "camhs-2025-01")
    assert (camhs["review_on"], camhs["awarded_by"], camhs["vat_not_recoverable"]) == ("2027-04-01", "tender", "0.00")


def test_birminghams_register_takes_the_original_value_when_no_extended_one_and_titles_by_description(
        run: Cli) -> None:
    run("init")
    run("import", "register", str(DATA / "birmingham.csv"), "--map", "birmingham")
    lighting = run.json("contract", "show", "bcc-4600355")
    assert (lighting["value_total"], lighting["department"]) == ("950000.00", "City Operations")
    assert lighting["description"] == "Highways lighting maintenance"
    titles = {p["key"]: p["title"] for p in run.json("project", "list")}
    assert titles == {"bcc-4600012": "Home support for adults, north locality",
                      "bcc-4600355": "Highways lighting maintenance"}


def test_a_birmingham_file_saved_with_commas_or_with_field_names_is_named_and_nothing_written(
        run: Cli, db: Database, tmp_path: Path) -> None:
    run("init")
    before = db.rows("SELECT count(*) FROM audit_entry"), db.rows("SELECT count(*) FROM contract")
    commas = tmp_path / "commas.csv"
    commas.write_text((DATA / "birmingham.csv").read_text().replace(";", ","))
    refused = run("import", "register", str(commas), "--map", "birmingham", expect=2).stderr
    assert refused.startswith(f"Error: {commas}: the header line has no column 'Contract Id', which ")
    assert refused.endswith("It is one column holding ',': if the file is separated by ',', say so in a copy of the "
                            "mapping: [format] delimiter = \",\"\n")
    names = tmp_path / "names.csv"  # the portal's export without the columns' labels
    names.write_text("contract_id;contract_description;vendor;directorate\nBCC-1;Meals;Cook Ltd;Adults\n")
    refused = run("import", "register", str(names), "--map", "birmingham", expect=2).stderr
    assert refused.endswith("maps; its columns are: 'contract_id', 'contract_description', 'vendor', 'directorate'\n")
    assert (db.rows("SELECT count(*) FROM audit_entry"), db.rows("SELECT count(*) FROM contract")) == before


def test_a_created_project_has_one_entry_naming_the_file_its_sha256_and_line(run: Cli, folder: Path) -> None:
    run("init")
    path = write(folder, [row(1), row(2)])
    imports(run, path, folder)
    (entry,) = [e for e in run.json("audit", "log", "r-00002")]
    assert (entry["action"], entry["to"]) == ("project.import", "do")
    assert entry["payload"]["imported"] == {"file": "register.csv", "sha256": sha(path), "line": 3}
    assert entry["payload"]["contract"]["end"] == "2028-03-31"
    assert entry["payload"]["contract"]["extension_to"] == "2030-03-31"  # current and maximum end kept apart
    shown = run.json("contract", "show", "r-00002")
    assert (shown["end_on"], shown["extension_end_on"], shown["value_total"], shown["provider"]) == (
        "2028-03-31", "2030-03-31", "2.50", "Provider 2, Ltd")
    assert run("audit", "verify").exit_code == 0


def test_a_thousand_rows_go_in_one_transaction(run: Cli, db: Database, folder: Path) -> None:
    """A failure at the last row's audit entry leaves none of the 999 rows before it: one transaction."""
    run("init")
    path = write(folder, [row(n) for n in range(1, 1001)])
    before = db.dump()
    last = int(db.rows("SELECT MAX(seq) FROM audit_entry")[0][0]) + 1000
    if db.dialect == "sqlite":
        db.execute(f"CREATE TRIGGER jam_last BEFORE INSERT ON audit_entry WHEN NEW.seq = {last} "
                   f"BEGIN SELECT RAISE(ABORT, 'jammed at the last row'); END")
    else:
        db.execute("CREATE FUNCTION jam_last() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.seq = "
                   f"{last} THEN RAISE EXCEPTION 'jammed at the last row'; END IF; RETURN NEW; END $$",
                   "CREATE TRIGGER jam_last BEFORE INSERT ON audit_entry FOR EACH ROW EXECUTE FUNCTION jam_last()")
    result = run("import", "register", str(path), "--map", str(folder / "map.toml"), expect=5)
    assert "jammed at the last row" in result.stderr
    schema_now = db.dump()
    assert {t: v for t, v in schema_now.items() if t != "schema"} == {t: v for t, v in before.items() if t != "schema"}
    if db.dialect == "sqlite":
        db.execute("DROP TRIGGER jam_last")
    else:
        db.execute("DROP TRIGGER jam_last ON audit_entry", "DROP FUNCTION jam_last()")
    said = imports(run, path, folder)
    assert "1000 rows: 1000 projects created, 0 contracts added, 0 contracts changed, 0 unchanged" in said
    assert db.rows("SELECT COUNT(*) FROM contract")[0][0] == 1000
    run("audit", "verify")


def test_a_bad_row_at_line_731_writes_nothing_and_names_line_731(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    rows = [row(n) for n in range(1, 1001)]
    rows[729] = row(730, end="31/02/2028")  # line 731: the header is line 1
    path = write(folder, rows)
    before = db.dump()
    said = imports(run, path, folder, expect=2)
    assert said == (f"Error: line 731, column 'End date': '31/02/2028' is not a date written as the mapping says "
                    f"(%d/%m/%Y); correct it in {path} (or the mapping) and import again. Nothing was imported.\n")
    assert db.dump() == before
    assert imports(run, path, folder, "--dry-run", expect=2) == said


def test_the_same_file_twice_changes_nothing_and_says_so(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    path = write(folder, [row(1), row(2), row(3)])
    imports(run, path, folder)
    before = db.dump()
    assert imports(run, path, folder) == (f"Nothing to change: the 3 rows of {path} match the database (SHA-256 "
                                          f"{sha(path)}); nothing was written.\n")
    assert db.dump() == before


def test_a_changed_end_date_is_one_audited_update(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    imports(run, write(folder, [row(1), row(2)]), folder)
    entries = len(db.audit())
    path = write(folder, [row(1), row(2, end="30/09/2028")])
    dry = imports(run, path, folder, "--dry-run")
    assert dry.splitlines()[:2] == ["line 2: unchanged: contract R-00001 of r-00001",
                                    "line 3: would change contract R-00002 of r-00002: end 2028-03-31 -> 2028-09-30"]
    assert len(db.audit()) == entries
    said = imports(run, path, folder)
    assert "2 rows: 0 projects created, 0 contracts added, 1 contract changed, 1 unchanged" in said
    (entry,) = db.audit()[entries:]
    payload = json.loads(entry["payload"])
    assert (entry["action"], entry["project"]) == ("contract.set", "r-00002")
    assert payload["changes"] == {"end": ["2028-03-31", "2028-09-30"]}
    assert payload["imported"] == {"file": "register.csv", "sha256": sha(path), "line": 3}
    assert db.rows("SELECT COUNT(*) FROM contract")[0][0] == 2  # updated, never duplicated
    assert run.json("contract", "show", "r-00002")["extension_end_on"] == "2030-03-31"
    run("audit", "verify")


def test_a_blank_cell_leaves_what_the_contract_has(run: Cli, folder: Path) -> None:
    run("init")
    imports(run, write(folder, [row(1)]), folder)
    said = imports(run, write(folder, ["R-00001,Contract 1,,,,,,,"]), folder)
    assert said.startswith("Nothing to change")
    assert run.json("contract", "show", "r-00001")["provider"] == "Provider 1, Ltd"


@pytest.mark.parametrize(("encoding", "bom", "newline"), [("cp1252", False, "\r\n"), ("utf-8", True, "\r\n"),
                                                          ("utf-8", False, "\n")])
def test_windows_1252_utf8_with_bom_crlf_and_quoted_commas(run: Cli, folder: Path, encoding: str, bom: bool,
                                                           newline: str) -> None:
    run("init")
    rows = ['Q-1,"Caf\u00e9 services, east",\u201cCaf\u00e9 & Co\u201d Ltd,01/04/2025,31/03/2028,,"\u00a31,250",'
            '3 months,"Care, adults"']
    path = write(folder, rows, encoding=encoding, bom=bom, newline=newline)
    said = imports(run, path, folder)
    read_as = {"cp1252": "Windows-1252", "utf-8": "UTF-8 with a byte order mark" if bom else "UTF-8"}[encoding]
    assert said.startswith(f"Imported {path} (read as {read_as}, ")
    shown = run.json("contract", "show", "q-1")
    assert (shown["provider"], shown["value_total"], shown["department"], shown["title"]) == (
        "\u201cCaf\u00e9 & Co\u201d Ltd", "1250.00", "Care, adults", "Caf\u00e9 services, east")
    assert run.json("project", "show", "q-1")["title"] == "Caf\u00e9 services, east"


def test_dry_run_says_per_row_and_writes_nothing(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    path = write(folder, [row(1), row(2)])
    before = db.dump()
    said = imports(run, path, folder, "--dry-run")
    assert said == ("line 2: would create project r-00001 at do, with contract R-00001\n"
                    "line 3: would create project r-00002 at do, with contract R-00002\n"
                    f"Dry run of {path} (read as UTF-8, SHA-256 {sha(path)}): 2 rows: 2 to create, 0 to add, 0 to "
                    f"change, 0 unchanged. Nothing was written.\n")
    assert db.dump() == before
    data = json.loads(imports(run, path, folder, "--dry-run", "--json"))
    assert [r["what"] for r in data["each"]] == ["create", "create"] and data["created"] == 2


# --- problems: one line, exit 2, nothing written -------------------------------------------------------------

@pytest.mark.parametrize(("rows", "said"), [
    ([row(1), row(1)], "line 3, column 'Ref': reference 'R-00001' is on line 2 too; a register names each contract "
                       "once"),
    (["R-1,T,S,01/04/2025,31/03/2024,,1,6 months,C"], "line 2, column 'End date': the end date 2024-03-31 is before "
                                                      "the start date 2025-04-01"),
    (["R-1,T,S,01/04/2025,31/03/2028,31/03/2027,1,6 months,C"],
     "line 2, column 'Max end': the maximum end date 2027-03-31 is before the current end date 2028-03-31; it is "
     "the latest end the extensions allow"),
    (["R-1,T,S,01/04/2025,31/03/2028,,=1+2,6 months,C"],
     "line 2, column 'Value': '=1+2' is not an amount in pounds (write e.g. £1,234.50, 1234.5, 1.2m or 350k)"),
    (["R-1,T,S,01/04/2025,31/03/2028,,99999999999999999,6 months,C"],
     "line 2, column 'Value': '99999999999999999' is more than £1,000,000,000,000"),
    (["R-1,T,S,01/04/2025,31/03/2028,,1,soon,C"],
     "line 2, column 'Notice': the notice period 'soon' is not a period; write e.g. '6 months', '90 days' or "
     "'60 working days'"),
    ([",T,S,01/04/2025,31/03/2028,,1,6 months,C"],
     "line 2, column 'Ref': no reference: every contract needs one, to be found again"),
    (["!!!,T,S,01/04/2025,31/03/2028,,1,6 months,C"],
     "line 2: the project key the mapping makes ({reference}) is empty or not a key (lower-case letters, digits "
     "and '-', up to 64)"),
    (["R-1,T,S,01/04/2025,31/03/2028,,1,6 months"], "line 2 has 8 fields, the header line 9: a comma outside "
                                                    "quotes, or a quote not closed?"),
    (["R-1,T\x1b[2J,S,01/04/2025,31/03/2028,,1,6 months,C"], None),
    (["R-1,T,S,01/04/1066,31/03/2028,,1,6 months,C"],
     "line 2, column 'Start': 1066-04-01 is out of range; cycle takes dates from 1990-01-01 to 2100-12-31"),
])
def test_a_bad_row_is_one_line_exit_2_and_nothing_written(run: Cli, db: Database, folder: Path, rows: list[str],
                                                           said: str | None) -> None:
    run("init")
    path = write(folder, rows)
    before = db.dump()
    err = imports(run, path, folder, expect=2)
    assert len(err.strip().splitlines()) == 1, err
    if said is not None:
        tail = (f" Correct it in {path}" if "fields" in said else
                f"; correct it in {path} (or the mapping) and import again. Nothing was imported.")
        assert err == f"Error: {said}{tail}\n"
    assert db.dump() == before


def test_a_new_reference_on_an_existing_project_adds_a_second_contract(run: Cli, db: Database,
                                                                      folder: Path) -> None:
    run("init")
    run("project", "new", "care", "--title", "Care at home")
    run("contract", "set", "care", "--ref", "LOT-1", "--provider", "Someone")
    (folder / "map.toml").write_text(MAP.replace('key = "{reference}"', 'key = "{department}"'))
    path = write(folder, [row(1), row(2)])  # both rows' Service is Care: project care
    assert imports(run, path, folder, "--dry-run").splitlines()[:2] == [
        "line 2: would add contract R-00001 to project care", "line 3: would add contract R-00002 to project care"]
    said = imports(run, path, folder)
    assert "2 rows: 0 projects created, 2 contracts added, 0 contracts changed, 0 unchanged" in said
    refs = [c["ref"] for c in run.json("contracts", "list", "--status", "all") if c["project"] == "care"]
    assert sorted(refs) == ["LOT-1", "R-00001", "R-00002"]
    added = [e for e in run.json("audit", "log", "care") if e["action"] == "contract.add"]
    assert [e["payload"]["imported"]["line"] for e in added] == [2, 3]
    assert imports(run, path, folder).startswith("Nothing to change")
    run("audit", "verify")


def test_a_contract_without_a_reference_stops_the_whole_import(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    run("project", "new", "r-00002", "--title", "Already here")
    run("contract", "set", "r-00002", "--provider", "Someone")  # no reference: cannot be told from a second one
    path = write(folder, [row(1), row(2)])
    before = db.dump()
    err = imports(run, path, folder, expect=2)
    assert err.startswith("Error: line 3: r-00002's contract with Someone has no reference, and once it has a "
                          "second contract each is named by its own; give it one first with: cycle contract set "
                          "r-00002 --ref REF; correct it in ")
    assert db.dump() == before  # line 2's project, created first in the transaction, is gone with it


def test_an_owner_nobody_registered_is_refused_at_its_line(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    run("people", "add", "bob", "--email", "bob@example.org")
    (folder / "map.toml").write_text(MAP.replace('stage = "do"', 'stage = "do"\nowner = "{department}"'))
    path = write(folder, [row(1)])
    before = db.dump()
    err = imports(run, path, folder, expect=2)
    assert err.startswith("Error: line 2: the owner care is not a registered person")
    assert db.dump() == before


@pytest.mark.parametrize(("mapping", "said"), [
    ("[columns]\ntitle = \"Title\"\n", "{map}: columns.reference: missing: the contract's reference names it on "
                                       "every import"),
    ("[columns]\nreference = \"Ref\"\nwibble = \"X\"\n", "{map}: columns.wibble: not a field; the fields are: "
                                                         "reference, title"),
    ("[columns]\nreference = \"Ref\"\n[project]\nkey = \"{{reference.__class__}}\"\n",
     "{map}: project.key: {{reference.__class__}} is not a field"),
    ("[columns]\nreference = \"Ref\"\n[format]\ndates = [\"%Q\"]\n", "{map}: format.dates: '%Q' is not a date format"),
    ("[columns]\nreference = \"Ref\"\n[format]\nencoding = \"ebcdic\"\n",
     "{map}: format.encoding: 'ebcdic' is not one of: 'auto', 'utf-8', 'utf-8-sig', 'windows-1252'"),
    ("[columns]\nreference = \"Nope\"\n", "{csv}: the header line has no column 'Nope', which {map} maps; its columns "
                                          "are: 'Ref', 'Title'"),
    ("[columns]\nreference = \"Ref\"\n[project]\nstage = \"limbo\"\n",
     "{map}: project.stage: 'limbo' is not a stage of workflow commissioning a project can be imported at"),
    ("[columns]\nreference = \"Ref\"\n[project]\nworkflow = \"nope\"\n", None),
    ("columns = 5", "{map}: [columns]: missing"),
    ("[columns\n", "{map}: not valid TOML"),
])
def test_a_bad_mapping_is_one_line_naming_the_entry(run: Cli, db: Database, folder: Path, mapping: str,
                                                    said: str | None) -> None:
    run("init")
    (folder / "map.toml").write_text(mapping)
    path = write(folder, [row(1)])
    before = db.dump()
    err = imports(run, path, folder, expect=2)
    assert len(err.strip().splitlines()) == 1, err
    if said is not None:
        assert err.startswith("Error: " + said.format(map=folder / "map.toml", csv=path).replace("{{", "{")
                              .replace("}}", "}")), err
    assert db.dump() == before


# --- hostile files ------------------------------------------------------------------------------------------

def _hostile(run: Cli, db: Database, file: str, map_file: str) -> str:
    before = db.dump()
    result = run("import", "register", file, "--map", map_file, expect=2)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
    assert db.dump() == before
    return result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_as_file_or_map(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    path = write(folder, [row(1)])
    assert _hostile(run, db, str(fifo), str(folder / "map.toml")) == (
        f"Error: {fifo}: not a regular file; give the path of the register, a CSV file\n")
    assert _hostile(run, db, str(path), str(fifo)).startswith(f"Error: {fifo}: not a regular file")


def test_dev_zero_as_file_or_map(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    path = write(folder, [row(1)])
    assert _hostile(run, db, "/dev/zero", str(folder / "map.toml")).startswith("Error: /dev/zero: not a regular file")
    assert _hostile(run, db, str(path), "/dev/zero").startswith("Error: /dev/zero: not a regular file")


def test_a_huge_line_a_50_mb_file_and_binary_junk(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    huge = folder / "huge.csv"
    huge.write_text(HEADER + "\n" + "R-1," + "x" * 200_000 + ",S,01/04/2025,31/03/2028,,1,6 months,C\n")
    assert _hostile(run, db, str(huge), str(folder / "map.toml")) == (
        f"Error: line 2 is longer than 65,536 bytes; is {huge} a CSV file (a register)?\n")
    big = folder / "big.csv"
    with big.open("wb") as f:
        f.write((HEADER + "\n").encode())
        f.truncate(50 * 1024 * 1024)
    assert _hostile(run, db, str(big), str(folder / "map.toml")) == (
        f"Error: {big}: 52,428,800 bytes, more than a register may have (33,554,432); split it\n")
    junk = folder / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 64)
    assert _hostile(run, db, str(junk), str(folder / "map.toml")).startswith("Error: line 1 holds a NUL character")
    png = folder / "map.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert "not UTF-8 text" in _hostile(run, db, str(junk), str(png))
    empty = folder / "empty.csv"
    empty.write_bytes(b"")
    assert _hostile(run, db, str(empty), str(folder / "map.toml")) == (
        f"Error: {empty} is empty: a register starts with a header line naming its columns\n")
    utf16 = folder / "utf16.csv"
    utf16.write_bytes((HEADER + "\n" + row(1) + "\n").encode("utf-16"))
    assert _hostile(run, db, str(utf16), str(folder / "map.toml")) == (
        f"Error: {utf16}: UTF-16 text; save it as CSV UTF-8 and import that\n")
    assert "cannot read the file" in _hostile(run, db, str(folder / "missing.csv"), str(folder / "map.toml"))


def test_a_register_not_windows_1252_either_names_its_line(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    path = folder / "odd.csv"
    path.write_bytes((HEADER + "\n" + row(1) + "\n").encode("cp1252") + b"R-2,T\x81,S,01/04/2025,31/03/2028,,1,6m,C\n")
    assert _hostile(run, db, str(path), str(folder / "map.toml")) == (
        f"Error: line 3: byte 0x81 is not Windows-1252 text; is {path} a CSV file? Save it as CSV UTF-8, or name "
        f"its encoding in the mapping ([format] encoding)\n")


def test_a_register_mixing_utf8_and_another_encoding_is_refused(run: Cli, db: Database, folder: Path) -> None:
    """Read as Windows-1252, its UTF-8 '£' would become 'Â£' without a word: refused instead."""
    run("init")
    path = folder / "mixed.csv"
    path.write_bytes((HEADER + "\n" + row(1) + "\n").encode() + "R-2,Caf\u00e9,S,01/04/2025,31/03/2028,,1,6m,C\n"
                     .encode("cp1252"))
    assert _hostile(run, db, str(path), str(folder / "map.toml")) == (
        f"Error: line 3: byte 0xe9 is not UTF-8 text, though line 2 is: {path} mixes encodings; save it again as "
        f"CSV UTF-8\n")


# --- audit verify: a project imported at `do` verifies; one written by hand there does not ---------------------

def test_a_hand_written_project_at_do_does_not_verify(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    imports(run, write(folder, [row(1)]), folder)
    run("audit", "verify")
    version = db.rows("SELECT workflow_version FROM project WHERE key = 'r-00001'")[0][0]
    db.insert_on_record("project", "INSERT INTO project (key, title, workflow, workflow_version, stage, cycle, visit, "
                        "attrs, created_at, updated_at, version) VALUES ('sneaky', 'Sneaky', 'commissioning', "
                        f"{version}, 'do', 1, 1, '{{}}', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', 1)")
    result = run("audit", "verify", expect=1)
    assert ("(by-hand) brought project sneaky onto the record; only a project.create entry (or a project.import "
            "entry naming the register it came from) creates a project") in result.stdout + result.stderr


def test_an_import_entry_that_names_no_register_does_not_verify(run: Cli, db: Database) -> None:
    run("init")
    from sqlalchemy import text

    from cycle.audit import chain

    version = db.rows("SELECT MAX(version) FROM workflow_version WHERE name = 'commissioning'")[0][0]
    with (db.login("alice") if ON_POSTGRES else db.engine).begin() as conn:
        pid = conn.execute(text(
            "INSERT INTO project (key, title, workflow, workflow_version, stage, cycle, visit, attrs, created_at, "
            "updated_at, version) VALUES ('forged', 'Forged', 'commissioning', :v, 'do', 1, 1, '{}', "
            "'2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', 1) RETURNING id"), {"v": version}).scalar_one()
        image = dict(conn.execute(text("SELECT * FROM project WHERE id = :i"), {"i": pid}).one()._mapping)
        chain.append(conn, actor="alice", action="project.import", project="forged", to_stage="do",
                     payload={"imported": {"file": "x.csv"}, "rows": [{"table": "project", "id": pid, "row": image}]})
    result = run("audit", "verify", expect=1)
    assert ("(project.import of forged) does not name the register it was imported from (file, SHA-256 and line)"
            in result.stdout + result.stderr)


def test_shipped_mappings_are_installed_with_the_package() -> None:
    from cycle.interchange.mapping import load, shipped

    assert set(shipped()) == {"lgtc-2015", "norfolk", "nhsbsa", "birmingham"}
    for path in shipped().values():
        load(path)  # each one checks


def test_a_file_named_like_a_shipped_mapping_is_the_file(run: Cli, folder: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    run("init")
    shutil.copy(folder / "map.toml", tmp_path / "norfolk")
    monkeypatch.chdir(tmp_path)
    said = run("import", "register", str(write(folder, [row(1)])), "--map", "norfolk").stdout
    assert "1 project created" in said


# --- found by attacking it ------------------------------------------------------------------------------------

def test_two_references_making_one_key_give_one_project_two_contracts(run: Cli, folder: Path) -> None:
    run("init")
    path = write(folder, [row(1).replace("R-00001", "A/1", 1), row(2).replace("R-00002", "A-1", 1)])
    assert imports(run, path, folder, "--dry-run").splitlines()[:2] == [
        "line 2: would create project a-1 at do, with contract A/1", "line 3: would add contract A-1 to project a-1"]
    assert "1 project created, 1 contract added" in imports(run, path, folder)
    assert sorted(c["ref"] for c in run.json("contracts", "list", "--status", "all")) == ["A-1", "A/1"]
    run("audit", "verify")


def test_a_carriage_return_alone_ends_no_line(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    path = folder / "mac.csv"
    path.write_bytes(f"{HEADER}\r{row(1)}\r".encode())
    assert _hostile(run, db, str(path), str(folder / "map.toml")) == (
        f"Error: line 1: a line ends with a carriage return alone (an old Mac line end); save {path} again as CSV, "
        f"with CRLF or LF line ends\n")


def test_a_quote_never_closed_is_named(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    path = write(folder, [row(1).replace("Contract 1", '"Contract 1', 1).replace('"Provider 1, Ltd"', "P", 1),
                          row(2), row(3)])
    err = _hostile(run, db, str(path), str(folder / "map.toml"))
    assert err.startswith("Error: line 2")


def test_a_decommissioning_project_is_not_given_a_contract_of_its_own(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    imports(run, write(folder, [row(1)]), folder)
    db.tamper("UPDATE project SET stage = 'review' WHERE key = 'r-00001'")  # a shortcut: the link is what counts
    parent = db.rows("SELECT id FROM project WHERE key = 'r-00001'")[0][0]
    run("project", "new", "r-00002", "--title", "Decommissioning", "--workflow", "decommissioning")
    child = db.rows("SELECT id FROM project WHERE key = 'r-00002'")[0][0]
    db.tamper(f"INSERT INTO link (project_id, kind, other_id, created_at) VALUES ({child}, 'decommissions', "
              f"{parent}, '2026-12-01T00:00:00Z')")
    path = write(folder, [row(2)])
    err = imports(run, path, folder, expect=2)
    assert err.startswith("Error: line 2: project r-00002 decommissions r-00001 and works with its contracts; map the "
                          "row to r-00001")


def test_a_formula_reference_is_stored_as_text_and_neutralised_on_the_way_out(run: Cli, folder: Path,
                                                                              tmp_path: Path) -> None:
    run("init")
    path = write(folder, ['"=cmd|\' /C calc\'!A0",T,"@SUM(1)",01/04/2025,31/03/2028,,"£9,000",6 months,"+Care"'])
    imports(run, path, folder)
    out = tmp_path / "q.csv"
    run("export", "transparency", "--quarter", "2026-Q3", "--out", str(out))
    text = out.read_bytes().decode("utf-8")
    assert "\r\n'=cmd|' /C calc'!A0,T,'+Care,,'@SUM(1),9000.00," in text


def test_a_huge_or_deeply_nested_mapping_and_empty_names(run: Cli, db: Database, folder: Path) -> None:
    run("init")
    path = write(folder, [row(1)])
    big = folder / "big.toml"
    big.write_text(MAP + "#" * 100_000 + "\n")
    assert _hostile(run, db, str(path), str(big)) == (
        f"Error: {big}: {len(big.read_bytes())} bytes, more than a mapping file may have (65536); is it the right "
        f"file?\n")
    deep = folder / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert _hostile(run, db, str(path), str(deep)).startswith(f"Error: {deep}: not valid TOML")
    assert _hostile(run, db, str(path), "").startswith("Error: .: a folder")
    assert "cannot read the file" in _hostile(run, db, "", str(folder / "map.toml"))


def _service_rows(n: int, repeat: dict[int, int]) -> list[str]:
    """`n` rows, each of its own service (the project key below) but those `repeat` maps to an earlier row's."""
    made = []
    for k in range(1, n + 1):
        service = f"Service {repeat.get(k, k)}"
        made.append(f"R-{k:05d},Contract {k},Provider {k % 7},01/04/2025,31/03/2028,31/03/2030,£{k},6 months,{service}")
    return made


def test_projects_created_a_batch_at_a_time_keep_their_entries_in_the_order_of_the_lines(
        run: Cli, db: Database, folder: Path) -> None:
    """Rows that create projects are written a hundred at a time; a row that adds to a project made by an earlier
    row (line 152 to line 3's, in the second batch) comes between them in the log as in the file."""
    run("init")
    (folder / "map.toml").write_text(MAP.replace('key = "{reference}"', 'key = "{department}"'))
    path = write(folder, _service_rows(250, {151: 2}))
    entries = len(db.audit())
    said = imports(run, path, folder)
    assert "250 rows: 249 projects created, 1 contract added, 0 contracts changed, 0 unchanged" in said
    made = db.audit()[entries:]
    lines = [json.loads(e["payload"])["imported"]["line"] for e in made]
    assert lines == list(range(2, 252))
    assert [e["action"] for e in made].count("contract.add") == 1
    assert made[150]["action"] == "contract.add" and made[150]["project"] == "service-2"
    assert db.rows("SELECT COUNT(*) FROM contract")[0][0] == 250
    assert run("audit", "verify").exit_code == 0
    assert imports(run, path, folder).startswith("Nothing to change")


def test_an_owner_nobody_registered_in_the_third_batch_writes_nothing(run: Cli, db: Database, folder: Path) -> None:
    """Two batches of projects were ready to go when line 252 names an owner nobody registered: nothing is written."""
    run("init")
    run("people", "add", "bob", "--email", "bob@example.org")
    (folder / "map.toml").write_text(MAP.replace('stage = "do"', 'stage = "do"\nowner = "{department}"'))
    rows = [r.replace(",Care", ",bob") for r in (row(n) for n in range(1, 301))]
    rows[250] = row(251).replace(",Care", ",zed")
    path = write(folder, rows)
    before = db.dump()
    err = imports(run, path, folder, expect=2)
    assert err.startswith("Error: line 252: the owner zed is not a registered person (see: cycle people list); "
                          "register them first with: cycle people add zed --email ADDRESS; correct it in ")
    assert db.dump() == before


@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL refuses text that is not UTF-8 on the way in")
def test_a_hand_written_person_whose_name_is_not_utf8_does_not_stop_an_import(run: Cli, db: Database,
                                                                             folder: Path) -> None:
    """The owners are checked against every registered login, read at once: a row of `person` written by hand in
    bytes that are not UTF-8 is read too (matching nobody), not a database error."""
    run("init")
    run("people", "add", "bob", "--email", "bob@example.org")
    db.tamper("INSERT INTO person (name, email, created_at) VALUES (CAST(X'62ff6f62' AS TEXT), 'x@example.org', "
              "'2026-01-01T00:00:00Z')")
    (folder / "map.toml").write_text(MAP.replace('stage = "do"', 'stage = "do"\nowner = "{department}"'))
    said = imports(run, write(folder, [row(1).replace(",Care", ",bob"), row(2).replace(",Care", ",BOB")]), folder)
    assert "2 rows: 2 projects created" in said
    assert run.json("project", "show", "r-00002")["owner"] == "bob"
    err = imports(run, write(folder, [row(3).replace(",Care", ",zed")], name="more.csv"), folder, expect=2)
    assert err.startswith("Error: line 2: the owner zed is not a registered person")


def test_a_first_import_does_not_load_the_orm(run: Cli, folder: Path) -> None:
    """What keeps a first import quick (bench [8]): projects it creates are written in plain SQL, so SQLModel, the
    models and the ORM's events stay unloaded; only a row that changes a contract (contracts.set_terms) loads them."""
    import subprocess
    import sys

    run("init")
    path = write(folder, [row(n) for n in range(1, 151)])
    code = ("import sys\nfrom cycle import cli\n"
            f"try:\n    cli.cli.main(['import', 'register', {str(path)!r}, '--map', {str(folder / 'map.toml')!r}], "
            f"prog_name='cycle')\nexcept SystemExit as e:\n    assert not e.code\n"
            "heavy = [m for m in ('sqlmodel', 'sqlalchemy.orm', 'pydantic', 'cycle.db.models') if m in sys.modules]\n"
            "print('heavy=' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "150 rows: 150 projects created" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "heavy="
    assert run("audit", "verify").exit_code == 0
