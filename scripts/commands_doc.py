#!/usr/bin/env python3
"""Write docs/commands.md from the CLI's own --help (as cog does for sqlite-utils and llm).

    make docs                                  # or: .venv/bin/python scripts/commands_doc.py
    .venv/bin/python scripts/commands_doc.py --check   # exit 1 when docs/commands.md is stale

The help is rendered at a fixed width (what a terminal of 100 columns or more shows), so the page does not
depend on the terminal it was generated in. tests/test_docs.py fails when the page is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "commands.md"
WIDTH = 98  # click's width on a terminal of 100 columns or more (cli.py's max_content_width is 100, less 2)
REGENERATE = "make docs (or: .venv/bin/python scripts/commands_doc.py)"

HEADER = f"""# Command reference

Every `cycle` command and group, with its `--help` text (`-h` prints the same). Every read command takes
`--json` ([JSON output](json.md)); the exit codes are in [Exit codes](exit-codes.md).

<!-- Generated from the CLI's own help by scripts/commands_doc.py. Do not edit by hand: run
     {REGENERATE}. tests/test_docs.py fails when this page is stale. -->
"""


def _walk(cmd: click.Command, ctx: click.Context) -> Iterator[tuple[click.Command, click.Context]]:
    yield cmd, ctx
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):  # list_commands/get_command: works for lazily loaded groups too
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, click.Context(sub, info_name=name, parent=ctx, **sub.context_settings))


def render() -> str:
    """The whole page, from the help of every command and group."""
    from cycle.cli import cli

    settings = {**cli.context_settings, "terminal_width": WIDTH}  # -h as well as --help, as a user sees them
    root = click.Context(cli, info_name="cycle", **settings)
    out = [HEADER]
    for cmd, ctx in _walk(cli, root):
        out.append(f"\n## {ctx.command_path}\n\n```text\n{cmd.get_help(ctx).rstrip()}\n```\n")
    return "".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        if PAGE.exists() and PAGE.read_text(encoding="utf-8") == text:
            return 0
        print(f"docs/commands.md is stale: regenerate it with {REGENERATE}", file=sys.stderr)
        return 1
    if argv:
        print("usage: scripts/commands_doc.py [--check]", file=sys.stderr)
        return 2
    PAGE.write_text(text, encoding="utf-8")
    print(f"Wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
