"""docs/json.md cannot go stale: every example on it is run, in order, on the database `cycle demo` leaves, and
each command's output must have exactly the keys its example shows (at every level, but inside what is data
rather than shape: an audit entry's payload, a project's attrs, counts by table or stage)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from .conftest import Cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "json.md"
EXAMPLE = re.compile(r"```sh\n(?:CYCLE_USER=(\S+) )?cycle ([^\n]+)\n```\n\n```json\n(.*?)\n```", re.S)
SETUP = re.compile(r"Before `decision record`.*?```sh\n(.*?)```", re.S)
DATA = {"payload", "attrs", "checked", "stage_counts", "changes"}  # keys under these are data, not shape


def examples() -> list[tuple[str, list[str], Any]]:
    return [(user or "alice", shlex.split(command), json.loads(shown))
            for user, command, shown in EXAMPLE.findall(DOC.read_text(encoding="utf-8"))]


def differences(shown: Any, got: Any, where: str = "") -> list[str]:
    """Where `got` has a key `shown` has not, or lacks one it has."""
    if isinstance(shown, dict) and isinstance(got, dict):
        found = [f"{where}.{k}: not in the example" for k in got if k not in shown]
        found += [f"{where}.{k}: documented, not printed" for k in shown if k not in got]
        for k in shown:
            if k in got and k not in DATA:
                found += differences(shown[k], got[k], f"{where}.{k}")
        return found
    if isinstance(shown, list) and isinstance(got, list):
        if shown and not got:
            return [f"{where}: the example has an item, the output none (the example cannot be checked)"]
        return differences(shown[0], got[0], f"{where}[0]") if shown else []
    return []


def keys(value: Any, where: str = "") -> list[tuple[str, str, set[str]]]:
    """(where, key, its siblings) for every key of every object, outside what is data."""
    out: list[tuple[str, str, set[str]]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((where, k, set(value)))
            if k not in DATA:
                out += keys(v, f"{where}.{k}")
    elif isinstance(value, list):
        for item in value:
            out += keys(item, f"{where}[]")
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[str], Any, Any]]:
    """Every example's command run on a fresh demo: (user, argv, the example, the output)."""
    from click.testing import CliRunner

    from cycle.cli import cli

    demo = tmp_path_factory.mktemp("json-docs") / "demo"
    runner = CliRunner()
    env = {"CYCLE_HOME": str(demo), "CYCLE_DATABASE_URL": f"sqlite:///{demo / 'cycle.db'}"}
    done = runner.invoke(cli, ["demo", "--home", str(demo)], env={"CYCLE_USER": "alice"})
    assert done.exit_code == 0, done.output

    def invoke(user: str, argv: list[str]) -> Any:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(demo)
            return runner.invoke(cli, argv, env={**env, "CYCLE_USER": user}, prog_name="cycle")

    setup = SETUP.search(DOC.read_text(encoding="utf-8"))
    assert setup is not None, "docs/json.md lost the commands run before `decision record`"
    out = []
    for user, argv, shown in examples():
        if argv[:2] == ["decision", "record"]:
            for line in setup.group(1).strip().splitlines():
                who, _, command = line.partition(" cycle ") if line.startswith("CYCLE_USER=") else ("", "", line[6:])
                prep = invoke(who.removeprefix("CYCLE_USER=") or "alice", shlex.split(command))
                assert prep.exit_code == 0, prep.output
        if argv[:2] == ["workflow", "install"]:
            with (demo / "workflows" / "commissioning.toml").open("a", encoding="utf-8") as f:
                f.write("# edited for docs/json.md\n")
        result = invoke(user, argv)
        assert result.exit_code == 0, f"cycle {shlex.join(argv)} exited {result.exit_code}: {result.output}"
        out.append((user, argv, shown, json.loads(result.stdout)))
    return out


def test_every_command_with_json_has_an_example(run: Cli) -> None:
    from cycle.cli import cli

    documented = {" ".join(argv[:2]) if argv[0] not in ("remind", "performance") else argv[0]
                  for _, argv, _ in examples()}
    wanted = set()
    for group_name, group in cli.commands.items():  # type: ignore[attr-defined]
        subs = getattr(group, "commands", None)
        for name, command in (subs.items() if subs else [(None, group)]):
            if any("--json" in p.opts for p in command.params):
                wanted.add(f"{group_name} {name}" if name else group_name)
    missing = wanted - documented - {"outbox retry"}  # a failed delivery to retry is no part of the demo
    assert not missing, f"docs/json.md has no example of: {', '.join(sorted(missing))}"


def test_each_example_has_exactly_the_keys_its_command_prints(outputs: list[tuple[str, list[str], Any, Any]]) -> None:
    problems = [f"cycle {shlex.join(argv)}: {d}" for _, argv, shown, got in outputs for d in differences(shown, got)]
    assert not problems, "\n".join(problems)


def test_one_vocabulary(outputs: list[tuple[str, list[str], Any, Any]]) -> None:
    """A project's key is `project`; a date `*_on`; an old name stays only beside its new one."""
    from cycle.commands.output import CONTRACT_NAMES, DUE_NAMES, MILESTONE_NAMES, PROJECT_NAMES, REPORT_NAMES

    old_to_new = {old: new for names in (PROJECT_NAMES, CONTRACT_NAMES, DUE_NAMES, MILESTONE_NAMES, REPORT_NAMES)
                  for new, old in names.items()}
    problems = []
    for _, argv, _, got in outputs:
        for where, key, siblings in keys(got):
            if key.endswith("_date") and key.removesuffix("_date") + "_on" not in siblings:
                problems.append(f"cycle {shlex.join(argv)}: {where}.{key} is a date not named *_on")
            if key == "key" and "project" not in siblings and argv[0] == "project":
                problems.append(f"cycle {shlex.join(argv)}: {where}.key without `project` beside it")
            if key in old_to_new and old_to_new[key] not in siblings and (key != "key" or argv[0] == "project") \
                    and not (key in ("start", "end", "date", "due", "generated") and _elsewhere(argv, where)):
                problems.append(f"cycle {shlex.join(argv)}: {where}.{key} without its new name {old_to_new[key]}")
    assert not problems, "\n".join(problems)


def _elsewhere(argv: list[str], where: str) -> bool:
    """Whether a generic name (start, end, date ...) sits where the renaming does not apply: a report's inner
    objects, or an object that is not a contract, a due row, a milestone or a report's top."""
    return argv[0] not in ("contract", "contracts", "milestone", "report", "project") or (
        argv[0] == "report" and where != "") or (argv[0] == "project" and ".contract" not in where and where != "")


def test_scheduler_status_is_an_object_when_none_runs(run: Cli) -> None:
    run("init")
    assert run.json("scheduler", "status") == {"running": False, "holder": None, "host": None, "pid": None,
                                              "started_at": None, "expires_at": None}


def test_a_write_command_prints_what_it_wrote(run: Cli) -> None:
    run("init")
    made = run.json("project", "new", "camhs", "--title", "CAMHS", "--owner", "alice")
    assert made["project"] == "camhs"
    [entry] = made["entries"]
    assert entry["action"] == "project.create" and entry["actor"] == "alice"
    [image] = [r for r in entry["payload"]["rows"] if r["table"] == "project"]
    assert image["row"]["key"] == "camhs" and image["row"]["title"] == "CAMHS"
    assert run.json("audit", "log", "--limit", "1") == made["entries"]
    added = run.json("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026")
    assert [e["action"] for e in added["entries"]] == ["evidence.add"]


def test_a_refused_write_with_json_prints_nothing_on_stdout(run: Cli) -> None:
    run("init")
    run("project", "new", "camhs", "--title", "CAMHS")
    result = run("project", "advance", "camhs", "--json", expect=3)
    assert result.stdout == ""
    assert result.stderr.startswith("Refused: camhs stays at analyse")
