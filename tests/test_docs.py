"""The docs are part of the product: every command has help with an example, the command reference is the help
as it is now, the links lead somewhere, and the commands the README and the docs pages show run."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

from cycle.cli import cli

from .conftest import Cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _commands(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


COMMANDS = _commands(cli)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "cycle")
def test_every_command_has_help_and_short_h(run: Cli, path: tuple[str, ...]) -> None:
    long = run(*path, "--help").stdout
    assert run(*path, "-h").stdout == long
    assert long.startswith("Usage: cycle")
    cmd = cli
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    if not isinstance(cmd, click.Group):
        assert "Example:" in long, f"cycle {' '.join(path)} --help has no example"


def test_version(run: Cli) -> None:
    from cycle import __version__

    assert run("--version").stdout == f"cycle, version {__version__}\n"


def _block(path: Path, heading: str | None = None, lang: str = "sh") -> str:
    """The first ```lang block of a page, or of its section under `heading` (any level)."""
    text = path.read_text(encoding="utf-8")
    if heading is not None:
        parts = re.split(rf"^#+ {re.escape(heading)}\n", text, maxsplit=1, flags=re.M)
        assert len(parts) == 2, f"{path.name} has no heading {heading!r}"
        text = parts[1]
    block = re.search(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)
    assert block, f"{path.name} has no {lang} block" + (f" under {heading!r}" if heading else "")
    return block.group(1)


def _lines(path: Path, heading: str | None = None) -> list[str]:
    """The lines of a page's sh block, comments dropped."""
    return [line.split("  #")[0].strip() for line in _block(path, heading).splitlines() if line.strip()]


def _readme_block(heading: str) -> list[str]:
    return _lines(ROOT / "README.md", heading)


def _run_lines(run: Cli, lines: list[str]) -> list[int]:
    """Run each `cycle ...` line of a docs block through the real CLI; their exit codes."""
    exits = []
    for line in lines:
        args = shlex.split(line)
        assert args[0] == "cycle", line
        exits.append(run(*args[1:], expect=None).exit_code)
    return exits


def test_readme_quick_start_runs(run: Cli) -> None:
    exits = _run_lines(run, _readme_block("Quick start"))
    # the one refused advance is the point of the example; everything else succeeds
    assert exits == [0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]


def test_readme_names_the_ci_test_command() -> None:
    assert _readme_block("Two commands") == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: put the detail in a docs/ page and link it"


# --- the command reference: docs/commands.md is the CLI's own help, as it is now ----------------------------

def _commands_doc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("commands_doc", ROOT / "scripts" / "commands_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_reference_is_up_to_date() -> None:
    doc = _commands_doc()
    page = (DOCS / "commands.md").read_text(encoding="utf-8")
    if page != doc.render():
        fresh = doc.render().splitlines()
        first = next((i for i, (a, b) in enumerate(zip(page.splitlines(), fresh, strict=False)) if a != b),
                     min(len(page.splitlines()), len(fresh)))
        section = next((line for line in reversed(fresh[:first + 1]) if line.startswith("## ")), "the header")
        pytest.fail(f"docs/commands.md is stale (first difference in {section}, line {first + 1}): "
                    f"regenerate it with {doc.REGENERATE}", pytrace=False)


def test_command_reference_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _commands_doc()
    monkeypatch.setenv("COLUMNS", "40")
    narrow = doc.render()
    monkeypatch.setenv("COLUMNS", "300")
    assert doc.render() == narrow


def test_command_reference_has_every_command() -> None:
    headings = re.findall(r"^## (cycle.*)$", (DOCS / "commands.md").read_text(encoding="utf-8"), re.M)
    assert sorted(headings) == sorted(" ".join(("cycle", *path)) for path in COMMANDS)


# --- links: every page is on the map, and every link leads somewhere ---------------------------------------

PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "bench" / "README.md", *sorted(DOCS.glob("*.md"))]


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_leads_somewhere(page: Path) -> None:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        assert path.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
        if anchor:
            assert anchor in _anchors(path), f"{page.relative_to(ROOT)} links to {target}: no such heading"


def test_every_docs_page_is_on_the_map() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"docs/index.md does not link {page.name}"
    assert "](docs/index.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


# --- the examples on the docs pages run, and say what the product does --------------------------------------

def test_contracts_page_example_runs(ready: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run_lines(ready, _lines(DOCS / "contracts.md")) == [0, 0, 0]
    shown = ready.json("contract", "show", "camhs", "--as-of", "2027-10-01")  # the date the page asks about
    assert (shown["notice_deadline"], shown["status"], shown["run_on_to"]) == ("2027-09-30", "passed", "2029-03-31")


def test_governance_page_examples_run(ready: Cli) -> None:
    lines = _lines(DOCS / "governance.md", "Who may decide") + _lines(DOCS / "governance.md", "Who may grant roles")
    assert _run_lines(ready, lines) == [0, 0, 0]
    roles = ready.json("people", "list")
    assert {(p["name"], r["role"]) for p in roles for r in p["roles"]} >= {
        ("chair", "approver"), ("gill", "governance-lead"), ("root", "admin")}


# The reminders page's commands: tests/test_reminders.py runs them after the quick start.


def test_audit_page_example_runs(ready: Cli) -> None:
    assert _run_lines(ready, _lines(DOCS / "audit.md")) == [0, 0, 0, 0, 0]  # keygen, then a signed checkpoint


def test_reports_page_example_runs(ready: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run_lines(ready, _lines(DOCS / "reports.md")) == [0, 0]
    assert (tmp_path / "camhs-gates.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_workflows_page_example_is_a_workflow(run: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mini.toml"  # the page says the name must be the file's
    path.write_text(_block(DOCS / "workflows.md", "A workflow file", "toml"), encoding="utf-8")
    run("init")
    out = run("workflow", "check", str(path)).stdout
    assert out == f"OK: {path} defines workflow mini: 2 stages, 1 gate, 1 criterion.\n"


def test_exit_codes_page_lists_every_code(run: Cli) -> None:
    from cycle import errors

    table = {int(code) for code in re.findall(r"^\| (\d) \|", (DOCS / "exit-codes.md").read_text(), re.M)}
    assert table == set(range(7))
    raised = {cls.exit_code for cls in vars(errors).values()
              if isinstance(cls, type) and issubclass(cls, errors.CycleError)}
    assert raised <= table
    help_line = " ".join(run("--help").stdout.split()).split("Exit codes: ")[1]
    assert {int(code) for code in re.findall(r"(\d) [a-z]", help_line)} == table


def test_help_does_not_import_the_database_stack() -> None:
    code = ("import sys\nfrom cycle import cli\n"
            "try:\n    cli.cli.main(['--help'], prog_name='cycle')\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('sqlmodel', 'sqlalchemy', 'transitions', 'pydantic') if m in sys.modules]\n"
            "print('heavy=' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == "heavy="


@pytest.mark.parametrize("command", [["project", "show", "camhs"], ["gate", "check", "camhs", "--json"],
                                     ["project", "list"], ["audit", "log", "camhs"]])
def test_read_commands_do_not_load_the_orm(ready: Cli, command: list[str]) -> None:
    """What keeps `project show` quick to start: reads are plain SQL, so SQLModel and its pydantic stay unloaded."""
    code = ("import sys\nfrom cycle import cli\n"
            f"try:\n    cli.cli.main({command!r}, prog_name='cycle')\nexcept SystemExit as e:\n    assert not e.code\n"
            "heavy = [m for m in ('sqlmodel', 'sqlalchemy.orm', 'pydantic', 'transitions') if m in sys.modules]\n"
            "print('heavy=' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "camhs" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "heavy="


def test_demo_runs_and_verifies(run: Cli, tmp_path: Path) -> None:
    out = run("demo", "--home", str(tmp_path / "demo")).stdout
    assert "$ CYCLE_USER=alice cycle project advance camhs --to analyse" in out
    assert "Audit chain verified: " in out
    assert out.rstrip().endswith("cycle project list")
    assert len(list((tmp_path / "demo" / "mail" / "new").iterdir())) == 2  # the request and one reminder, once each
    assert (tmp_path / "demo" / "gate-audit.html").read_text().startswith("<!DOCTYPE html>")
    log = run.runner.invoke(cli, ["audit", "log", "camhs"], env={
        "CYCLE_HOME": str(tmp_path / "demo"), "CYCLE_DATABASE_URL": None}).stdout
    assert "outbox.sent  #2 notice 2027-03-31/120d to alice sent" in log  # #1: the request to the chair


@pytest.mark.parametrize(("args", "line"), [
    (["project", "advance"], "Error: Missing argument 'KEY'. See: cycle project advance --help"),
    (["frob"], "Error: No such command 'frob'. See: cycle --help"),
    (["decision", "record", "camhs", "--gate", "g", "--outcome", "go", "--body", "B"],
     "Error: Missing option '--ref'. See: cycle decision record --help"),
    (["contracts", "due", "--within"], "Error: Option '--within' requires an argument. See: cycle --help"),
    (["audit", "log", "--limit", "0"],
     "Error: Invalid value for '--limit': 0 is not in the range x>=1. See: cycle audit log --help"),
])
def test_usage_errors_are_one_line_with_the_next_step(run: Cli, args: list[str], line: str) -> None:
    result = run(*args, expect=2)
    assert result.stderr == line + "\n" and result.stdout == ""


def test_a_bad_attr_is_one_line_with_an_example(ready: Cli) -> None:
    result = ready("project", "new", "x", "--title", "X", "--attr", "procurement_route", expect=2)
    assert result.stderr == ("Error: Invalid value for --attr: 'procurement_route' is not NAME=VALUE, e.g. "
                             "--attr procurement_route=open. See: cycle project new --help\n")
