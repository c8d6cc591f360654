"""Adversarial tests of issue 19 part 4 (the governance site), through the real CLI: a team member choosing a
project key, and a careless operator pointing --out at a folder they care about."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import Cli


def _new(run: Cli, key: str, title: str) -> None:
    run("project", "new", key, "--title", title, "--workflow", "commissioning")


def test_a_key_shaped_like_another_keys_digest_page_does_not_overwrite_its_page(run: Cli, tmp_path: Path) -> None:
    """`con` (a Windows device name) gets a page named by a digest; a second project whose key is exactly that
    digest name (any team member may choose it) got the same file, so one project's page showed in place of the
    other's and the portfolio linked both to it."""
    run("init")
    twin = "p-" + hashlib.sha256(b"con").hexdigest()[:20]
    _new(run, "con", "The con project")
    _new(run, twin, "The twin project")
    _new(run, "com1", "The com1 project")
    site = tmp_path / "site"
    run("site", "build", "--out", str(site))
    index = (site / "index.html").read_text(encoding="utf-8")
    links = dict(re.findall(r'<a href="(projects/[^"]+)">([^<]+)</a>', index))
    assert len(set(links)) == 3, links
    for page, title in links.items():
        assert f"<h1>{title}</h1>" in (site / page).read_text(encoding="utf-8")
    assert "projects/com1.html" not in links  # a device name on Windows: the copy to a file share would fail


def _another_group(folder: Path) -> int:
    """A group other than the folder's that this user may give it (root: any)."""
    if os.geteuid() == 0:
        return folder.stat().st_gid + 4242
    others = [g for g in os.getgroups() if g != folder.stat().st_gid]
    if not others:
        pytest.skip("this user belongs to no group but their own")
    return others[0]


def test_a_rebuild_keeps_the_folders_permissions(run: Cli, tmp_path: Path) -> None:
    """The operator made DIR private (0700, the record is confidential); the build swapped in a folder made
    0755, readable by every account on the machine. Shared with a web server's group: the group was lost."""
    run("init")
    _new(run, "camhs", "CAMHS")
    site = tmp_path / "site"
    site.mkdir(mode=0o700)
    run("site", "build", "--out", str(site))
    assert stat.S_IMODE(site.stat().st_mode) == 0o700
    site.chmod(0o2750)
    group = _another_group(site)
    os.chown(site, -1, group)  # shared with the web server's group, say
    run("site", "build", "--out", str(site), "--force")
    assert (stat.S_IMODE(site.stat().st_mode), site.stat().st_gid) == (0o2750, group)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == []  # no temporary folder left


def test_force_does_not_delete_a_file_someone_saved_in_the_site_folder(run: Cli, tmp_path: Path) -> None:
    """A site folder on a file share, where someone saved their own notes: --force (and so every scheduler tick)
    replaced the folder whole and the notes were gone."""
    run("init")
    _new(run, "camhs", "CAMHS")
    site = tmp_path / "site"
    run("site", "build", "--out", str(site))
    (site / "Thumbs.db").write_bytes(b"a desktop's cache")  # dropped by a rebuild: nobody's file
    run("site", "build", "--out", str(site), "--force")
    (site / "notes.txt").write_text("board notes\n", encoding="utf-8")
    before = (site / "index.html").read_bytes()
    result = run("site", "build", "--out", str(site), "--force", expect=2)
    assert result.stderr == (f"Error: --out {site} holds files a site build did not write (notes.txt): move them "
                             f"elsewhere or choose another folder; --force does not change this\n")
    assert (site / "notes.txt").read_text(encoding="utf-8") == "board notes\n"
    assert (site / "index.html").read_bytes() == before


def test_a_contract_whose_notice_was_served_shows_no_notice_deadline_ahead(run: Cli, tmp_path: Path) -> None:
    """`contract show` says SERVED (nothing left to do); the site still gave its notice deadline as the project's
    next date, on its page and in the portfolio, as if notice were still to be served."""
    run("init")
    _new(run, "camhs", "CAMHS")
    run("contract", "set", "camhs", "--ref", "C1", "--start", "2025-01-01", "--end", "2099-12-31", "--notice",
        "3 months")
    run("contract", "notice", "camhs", "--served-on", "2025-06-02", "--ref", "NL-1")
    assert "SERVED" in run("contract", "show", "camhs").stdout
    site = tmp_path / "site"
    run("site", "build", "--out", str(site))
    page = (site / "projects" / "camhs.html").read_text(encoding="utf-8")
    assert "<td>2099-09-30</td><td>served</td>" in page  # the contracts table still has the deadline
    assert "notice deadline, contract C1" not in page
    assert "notice deadline, contract C1" not in (site / "index.html").read_text(encoding="utf-8")


TWO_WAYS = """name = "two-ways"
initial = "a"
stop = "c"
[[stage]]
id = "a"
[[stage]]
id = "b"
[[stage]]
id = "c"
final = true
[[gate]]
id = "a-b"
from = "a"
to = "b"
  [[gate.criterion]]
  id = "x"
  kind = "evidence"
  level = "must"
[[gate]]
id = "a-c"
from = "a"
to = "c"
  [[gate.criterion]]
  id = "y"
  kind = "evidence"
  level = "should"
[[gate]]
id = "b-c"
from = "b"
to = "c"
  [[gate.criterion]]
  id = "z"
  kind = "evidence"
  level = "should"
"""


def test_a_stage_with_two_ways_out_shows_both_as_project_show_does(run: Cli, tmp_path: Path) -> None:
    """`project show` says a-b waits on x and a-c is open (the project may move to c today); the site gave only the
    first gate, so the board read that the project waits on x."""
    run("init")
    (tmp_path / "two-ways.toml").write_text(TWO_WAYS, encoding="utf-8")
    run("workflow", "install", str(tmp_path / "two-ways.toml"))
    run("project", "new", "p1", "--title", "P1", "--workflow", "two-ways")
    shown = run("project", "show", "p1").stdout
    assert "next: a-b -> b: waiting on: x\n" in shown and "next: a-c -> c: open\n" in shown
    site = tmp_path / "site"
    run("site", "build", "--out", str(site))
    ways = "a-b to b: waits on x: No &#39;x&#39; evidence recorded in cycle 1<br>a-c to c: open"
    assert f"<dt>Next gate</dt><dd>{ways}" in (site / "projects" / "p1.html").read_text(encoding="utf-8")
    assert f"<td>{ways}" in (site / "index.html").read_text(encoding="utf-8")


def test_a_folder_name_too_long_is_one_line_not_a_traceback(run: Cli, tmp_path: Path) -> None:
    """A name past the file system's 255 bytes: `site build` and `scheduler run --site` ended in a traceback."""
    run("init")
    out = str(tmp_path / ("s" * 300))
    for args in (("site", "build", "--out", out), ("scheduler", "run", "--site", out)):
        result = run(*args, expect=2)
        assert result.stderr == f"Error: cannot use {args[2]} {out}: File name too long; choose another folder\n"
    assert [p for p in tmp_path.iterdir() if "sss" in p.name] == []


def test_an_out_folder_named_with_dot_dot_is_rebuilt(run: Cli, tmp_path: Path) -> None:
    """`--out site/projects/..` is the site: the new folder was made inside projects/ and the swap failed with
    "Device or resource busy"."""
    run("init")
    _new(run, "camhs", "CAMHS")
    site = tmp_path / "site"
    run("site", "build", "--out", str(site))
    run("project", "set", "camhs", "--title", "CAMHS renamed")
    assert run("site", "build", "--out", f"{site}/projects/..", "--force").stdout.startswith(
        f"Wrote the governance site to {site};")
    assert "CAMHS renamed" in (site / "index.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in (site / "projects").iterdir()) == ["camhs.html"]


def test_a_stream_given_as_the_site_folder_is_refused_as_it_is_for_a_bundle(
        run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--out -` made a folder named "-" (and /dev/stdout was "a symbolic link"): the check of where a command may
    write is outfile's, the same for a report, a bundle and a site."""
    run("init")
    monkeypatch.chdir(tmp_path)
    for out in ("-", "/dev/stdout"):
        assert run("site", "build", "--out", out, expect=2).stderr == (
            f"Error: --out {out} is a stream, not a folder: name a new folder\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_a_gate_that_cannot_be_checked_waits_on_why_and_the_other_ways_still_show(run: Cli, db: Any,
                                                                                   tmp_path: Path) -> None:
    """A procurement row edited by hand stops the check of the gate whose criterion reads it. The site gave only
    "- to -" for the project, losing the gate that was merely waiting; the quarterly report named the gate. Both now
    read one list of the ways out (cycle.reporting._ways_out)."""
    run("init")
    procured = TWO_WAYS.replace('id = "y"\n  kind = "evidence"',
                                'id = "y"\n  kind = "procurement"\n  require = "route"')
    (tmp_path / "two-ways.toml").write_text(procured, encoding="utf-8")
    run("workflow", "install", str(tmp_path / "two-ways.toml"))
    run("project", "new", "p1", "--title", "P1", "--workflow", "two-ways")
    run("procurement", "start", "p1", "--regime", "psr", "--process", "direct-award-c")
    db.tamper("UPDATE procurement SET light_touch = 'maybe'")
    site = tmp_path / "site"
    run("site", "build", "--out", str(site), expect=1)  # the check at the top names the row edited
    page = (site / "projects" / "p1.html").read_text(encoding="utf-8")
    ways = re.search(r"<dt>Next gate</dt><dd>(.*?)</dd>", page, re.DOTALL)
    assert ways is not None
    assert ways.group(1).startswith("a-b to b: waits on x: No &#39;x&#39; evidence recorded in cycle 1<br>a-c to c: "
                                    "waits on p1&#39;s procurement has light_touch &#39;maybe&#39;, not yes or no"), \
        ways.group(1)


#: A site build in a process of its own that writes the first page, then (argv[2]) is killed there, or says so and
#: waits for a line on its standard input: the folder it was writing is left beside DIR as a build leaves it.
BUILD = """
import os, signal, sys
from cycle import site

def pages():
    yield "index.html", ["<p>half a site</p>"]
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    print("writing", flush=True)
    sys.stdin.readline()

site.write(sys.argv[1], pages(), force=True)
"""


def test_a_killed_build_leaves_a_folder_the_next_build_clears_and_no_other(run: Cli, home: Path,
                                                                           tmp_path: Path) -> None:
    """A build killed half way left its `.part` folder beside DIR for good (one per kill: a scheduler killed each
    night would fill the disk). The next build clears it, but not one a build still running is writing, nor a folder
    a build did not name."""
    import subprocess
    import sys

    run("init")
    _new(run, "camhs", "CAMHS")
    site = tmp_path / "out" / "site"
    site.parent.mkdir()
    env = {**os.environ, "CYCLE_HOME": str(home), "XDG_CONFIG_HOME": str(home / "config")}
    killed = subprocess.run([sys.executable, "-c", BUILD, str(site), "kill"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert killed.returncode == -9, killed.stderr
    [stale] = [p.name for p in site.parent.iterdir()]
    assert stale.startswith(".site.") and stale.endswith(".part")
    someone = site.parent / ".site.mine.part"  # not a name a build gives
    someone.mkdir()
    (someone / "index.html").write_text("kept")
    with subprocess.Popen([sys.executable, "-c", BUILD, str(site), "wait"], env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as running:
        try:
            assert running.stdout is not None and running.stdout.readline() == "writing\n"
            [theirs] = [p.name for p in site.parent.iterdir() if p.name not in (stale, someone.name)]
            run("site", "build", "--out", str(site))
            assert sorted(p.name for p in site.parent.iterdir()) == sorted([someone.name, theirs, "site"])
            assert "CAMHS" in (site / "index.html").read_text(encoding="utf-8")
        finally:
            running.kill()


@contextmanager
def _unwritable(folder: Path) -> Iterator[None]:
    """`folder` made so that nothing can be created in it: its permissions taken away, and for root (whom they do
    not stop) the file system's immutable flag set (chattr +i)."""
    import subprocess

    folder.chmod(0o500)
    locked = False
    try:
        try:
            (folder / ".probe").mkdir()
        except PermissionError:
            pass
        else:
            (folder / ".probe").rmdir()
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"root, and chattr +i does not work here: {done.stderr.strip()}")
            locked = True
        yield
    finally:
        if locked:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o700)


def test_a_site_folder_nothing_can_be_written_beside_is_refused_before_the_scheduler_starts(
        run: Cli, tmp_path: Path) -> None:
    """The parent of DIR not writable: `scheduler run --site` started, and every tick failed to rebuild the site;
    `site build` read the whole record before it failed. Both refuse at once (exit 2), naming the option given."""
    run("init")
    _new(run, "camhs", "CAMHS")
    parent = tmp_path / "out"
    parent.mkdir()
    with _unwritable(parent):
        for args in (("site", "build", "--out"), ("scheduler", "run", "--site")):
            said = run(*args, str(parent / "site"), expect=2).stderr
            assert said.startswith(f"Error: cannot write the site to {args[2]} {parent / 'site'}: "), said
            assert said.endswith(f" (making a folder in {parent}); choose another folder\n"), said
    assert run.json("scheduler", "status")["running"] is False
    assert list(parent.iterdir()) == []
