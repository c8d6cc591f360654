"""The governance site (issue 19 part 4): built for the demo's data and read in real Chromium; every internal link
resolves, axe-core finds nothing serious, a title's <script> stays text, and DIR is always a whole site."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner

from cycle.cli import cli as cycle_cli
from cycle.errors import BadInput

from .conftest import CAMHS, Cli
from .test_reports import CHROMIUM

#: axe-core from the npm registry, pinned (scripts/system-packages installs the same into the same cache).
AXE_VERSION = "4.10.2"
HOSTILE = "<script>window.pwned = 1</script> CAMHS & <b>friends</b>"


def _cli(home: Path, *args: str, user: str = "alice", code: int = 0) -> str:
    env = {"CYCLE_HOME": str(home), "CYCLE_DATABASE_URL": f"sqlite:///{home / 'cycle.db'}", "CYCLE_USER": user,
           "XDG_CONFIG_HOME": str(home / "config")}
    result = CliRunner().invoke(cycle_cli, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cycle demo`'s home (its step builds home/site); then a title with a script in it, and the site rebuilt."""
    home = tmp_path_factory.mktemp("site") / "demo"
    result = CliRunner().invoke(cycle_cli, ["demo", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert (home / "site" / "index.html").is_file()
    _cli(home, "project", "set", "camhs", "--title", HOSTILE)
    assert _cli(home, "site", "build", "--out", str(home / "site"), "--force").startswith(
        f"Wrote the governance site to {home / 'site'}")
    return home


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed; .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (sudo apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def axe() -> Path:
    """axe.min.js, installed from the npm registry into a cache folder on first use."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cycle-tests" / f"axe-core-{AXE_VERSION}"
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        done = subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(cache),
                               f"axe-core@{AXE_VERSION}"], capture_output=True, text=True, timeout=300) if npm else None
        if done is None or done.returncode != 0 or not script.is_file():
            why = "npm is not installed" if done is None else done.stderr[-500:]
            if os.environ.get("CI"):
                pytest.fail(f"cannot install axe-core@{AXE_VERSION}: {why}")
            pytest.skip(f"cannot install axe-core@{AXE_VERSION} (scripts/system-packages does): {why}")
    return script


def open_page(browser: Any, path: Path) -> tuple[Any, list[str], None]:
    """The page in a new tab, and the errors it logs and requests outside file: it makes (none expected)."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"network request: {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    return page, errors, None


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html"))


def test_every_internal_link_resolves_in_chromium(demo: Path, browser: Any) -> None:
    """Crawl from the portfolio: every link is to a page of the site that exists, every #anchor to an element on
    it; every page is reached; no page asks for anything outside the folder or logs an error."""
    site = demo / "site"
    ids: dict[Path, set[str]] = {}
    links: list[tuple[Path, str]] = []
    todo, seen = [site / "index.html"], set()
    while todo:
        page_path = todo.pop()
        if page_path in seen:
            continue
        seen.add(page_path)
        page, errors, _ = open_page(browser, page_path)
        assert errors == [], (page_path, errors)
        ids[page_path] = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
        for href in page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"):
            parts = urlsplit(href)
            assert parts.scheme == "file", (page_path, href)  # nothing outside the site
            target = Path(unquote(parts.path))
            assert target.is_file() and target.is_relative_to(site), (page_path, href)
            links.append((target, parts.fragment))
            todo.append(target)
        page.close()
    assert seen == set(_pages(site))  # every page reached from the portfolio
    bodies = [p for p in seen if p.parent.name == "bodies" and p.name != "index.html"]
    assert len(bodies) >= 3 and len([p for p in seen if p.parent.name == "projects"]) == 6
    for target, fragment in links:
        assert not fragment or fragment in ids[target], (target, fragment)
    assert sum(1 for _, f in links if f.startswith("entry-")) > 5  # the bodies' decisions point into the trails


@pytest.mark.parametrize("page", ["index.html", "projects/camhs.html", "bodies/index.html", "body"])
def test_axe_finds_no_serious_or_critical_violation(demo: Path, browser: Any, axe: Path, page: str) -> None:
    site = demo / "site"
    path = (next(p for p in _pages(site / "bodies") if p.name != "index.html") if page == "body" else site / page)
    context = browser.new_context(bypass_csp=True)  # the page's own policy would refuse axe's script too
    tab = context.new_page()
    tab.goto(path.as_uri())
    tab.add_script_tag(path=str(axe))
    found = tab.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
                         "v => ({id: v.id, impact: v.impact, nodes: v.nodes.length})))")
    context.close()
    assert [v for v in found if v["impact"] in ("serious", "critical")] == []


def test_a_script_in_a_project_title_does_not_run_and_shows_as_text(demo: Path, browser: Any) -> None:
    site = demo / "site"
    for path in (site / "index.html", site / "projects" / "camhs.html"):
        page, errors, _ = open_page(browser, path)
        assert page.evaluate("window.pwned") is None
        assert page.locator("b").count() == 0  # the title's <b> is text, not bold
        assert HOSTILE in page.inner_text("main")
        assert errors == []
        page.close()
    page, _, _ = open_page(browser, site / "index.html")
    assert page.title() == "Portfolio - governance record"
    # The site's own filter script runs (it is allowed by its hash): the table filters as one types
    page.fill("#filter-text", "friends")
    assert page.locator("#portfolio tbody tr:visible").count() == 1
    assert page.inner_text("#filter-count") == "1 of 6 projects shown"
    page.close()


def test_every_page_has_the_chain_check_and_the_latest_signed_checkpoint(demo: Path) -> None:
    for path in _pages(demo / "site"):
        html = path.read_text(encoding="utf-8")
        assert "<strong>Audit chain verified</strong>" in html, path
        assert "Latest signed checkpoint: entry " in html and " with key <code>" in html, path
        assert '<html lang="en-GB">' in html and '<a class="skip" href="#content">' in html


def test_the_project_page_holds_its_record(demo: Path) -> None:
    html = (demo / "site" / "projects" / "camhs.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt; CAMHS &amp; &lt;b&gt;friends&lt;/b&gt;" in html
    for heading in ("Gates passed", "Decisions", "Waivers", "Refused attempts", "Contracts", "Milestones",
                    "Audit trail"):
        assert f"<h2>{heading}</h2>" in html
    assert "authority: approver for Children&#39;s Trust Board" in html
    school = (demo / "site" / "projects" / "school-nursing.html").read_text(encoding="utf-8")
    assert "<h2>Procurement</h2>" in school and "Regime pa2023" in school


# --- the folder ------------------------------------------------------------------------------------------------------

def test_a_reader_sees_the_old_site_or_the_new_one_never_half(demo: Path, tmp_path: Path) -> None:
    """Rebuilds swap the folder in whole while another thread reads it: every read finds whole pages."""
    (tmp_path / "out").mkdir()
    site = tmp_path / "out" / "site"
    _cli(demo, "site", "build", "--out", str(site))
    stop, seen, torn = threading.Event(), [0], []

    def read() -> None:
        while not stop.is_set():
            try:
                pages = [(site / name).read_text(encoding="utf-8") for name in ("index.html", "projects/camhs.html")]
                mark = (site / ".cycle-site").is_file()
            except OSError as exc:
                torn.append(repr(exc))
                continue
            seen[0] += 1
            if not mark or not all(p.endswith("</html>\n") for p in pages):
                torn.append("a page cut short or the mark missing")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(3):
            _cli(demo, "site", "build", "--out", str(site), "--force")
    finally:
        stop.set()
        reader.join()
    assert torn == [] and seen[0] > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["site"]  # no temporary folder left beside it


def test_a_build_that_fails_half_way_leaves_the_old_site(demo: Path, tmp_path: Path) -> None:
    from cycle import site as data

    (tmp_path / "out").mkdir()
    site = tmp_path / "out" / "site"
    _cli(demo, "site", "build", "--out", str(site))
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}

    def pages() -> Iterator[tuple[str, Iterator[str]]]:
        yield "index.html", iter(["<!DOCTYPE html>"])
        raise OSError(28, "No space left on device")

    with pytest.raises(BadInput, match="cannot write the site to .*: No space left on device"):
        data.write(str(site), pages(), force=True)
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["site"]


def test_a_folder_that_is_not_a_site_the_database_or_a_file_is_refused(run: Cli, home: Path, tmp_path: Path) -> None:
    run("init")
    run(*CAMHS)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("someone's notes")
    for force in ([], ["--force"]):
        assert run("site", "build", "--out", str(mine), *force, expect=2).stderr == (
            f"Error: --out {mine} holds files that are not a site cycle built: give a new or empty folder; "
            f"--force does not change this\n")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    database = home / "cycle.db"
    assert run("site", "build", "--out", str(database), "--force", expect=2).stderr.startswith(
        f"Error: --out {database} is or holds one of cycle's own files")
    assert run("site", "build", "--out", str(home), "--force", expect=2).stderr.startswith(
        f"Error: --out {home} is or holds one of cycle's own files")
    assert run("site", "build", "--out", str(mine / "notes.txt"), expect=2).stderr == (
        f"Error: --out {mine / 'notes.txt'} is not a folder: give a new folder, or one a site was built in\n")
    assert run("site", "build", "--out", "", expect=2).stderr == (
        "Error: --out is empty: give a folder for the site, e.g. --out governance-site\n")
    site = tmp_path / "site"
    run("site", "build", "--out", str(site))
    assert run("site", "build", "--out", str(site), expect=2).stderr == (
        f"Error: --out {site} already holds a site: add --force to replace it, or choose another folder\n")
    link = tmp_path / "link"
    link.symlink_to(site)
    assert run("site", "build", "--out", str(link), "--force", expect=2).stderr == (
        f"Error: --out {link} is a symbolic link: give the folder itself\n")


# --- the scheduler ---------------------------------------------------------------------------------------------------

def test_the_scheduler_rebuilds_the_site_after_each_tick(run: Cli, home: Path, tmp_path: Path) -> None:
    from cycle.commands.reminders import rebuild_site
    from cycle.db.store import open_store
    from cycle.notifications.scheduler import ReminderScheduler

    run("init")
    run(*CAMHS)
    site, said = tmp_path / "site", []
    store = open_store()
    try:
        sched = ReminderScheduler(store, actor="scheduler", log=said.append,
                                  on_tick=rebuild_site(store, str(site), said.append))
        assert sched.acquire()
        sched.tick()
        assert said[-1] == f"  site rebuilt in {site}"
        assert "CAMHS Tiers 2 and 3" in (site / "index.html").read_text(encoding="utf-8")
        run("project", "set", "camhs", "--title", "CAMHS renamed")
        sched.tick()  # the site it built is replaced without asking
        assert "CAMHS renamed" in (site / "index.html").read_text(encoding="utf-8")
        (site / ".cycle-site").unlink()  # no longer a site cycle built: left alone, said once a tick
        sched.tick()
        assert said[-1] == (f"  site not rebuilt: --site {site} holds files that are not a site cycle built: give a "
                            f"new or empty folder; --force does not change this")
        sched.lease.release(store, actor="scheduler")
    finally:
        store.dispose()


def test_scheduler_run_refuses_a_site_folder_it_may_not_write_before_it_starts(run: Cli, tmp_path: Path) -> None:
    run("init")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("someone's notes")
    assert run("scheduler", "run", "--site", str(mine), expect=2).stderr == (
        f"Error: --site {mine} holds files that are not a site cycle built: give a new or empty folder; "
        f"--force does not change this\n")
    assert run.json("scheduler", "status")["running"] is False


# --- careless and hostile use ----------------------------------------------------------------------------------------

def test_a_key_edited_by_hand_into_a_path_stays_inside_the_site(run: Cli, db: Any, tmp_path: Path) -> None:
    """A key written straight into the database (../../escape, <i>): its page is named by a digest, inside DIR;
    the check at the top says the records do not match, and the command exits 1 once the site is written."""
    run("init")
    run(*CAMHS)
    db.tamper("UPDATE project SET key = '../../<i>escape' WHERE key = 'camhs'")
    site = tmp_path / "out" / "site"
    site.parent.mkdir()
    result = run("site", "build", "--out", str(site), expect=1)
    assert result.stdout.startswith(f"Wrote the governance site to {site}")
    assert result.stderr.startswith("Records FAILED: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "out"] and sorted(
        p.name for p in (tmp_path / "out").iterdir()) == ["site"]
    [page] = (site / "projects").iterdir()
    assert page.name.startswith("p-") and page.suffix == ".html"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert f'href="projects/{page.name}"' in index and "../../&lt;i&gt;escape" in index and "<i>" not in index
    assert '<div class="banner bad"><strong>Records FAILED</strong>' in index


def test_an_out_folder_whose_parent_is_missing_or_the_current_folder_is_refused(
        run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("init")
    missing = tmp_path / "no" / "site"
    assert run("site", "build", "--out", str(missing), expect=2).stderr == (
        f"Error: folder {missing.parent} does not exist: create it or choose another --out\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "work.txt").write_text("work")
    monkeypatch.chdir(work)
    assert run("site", "build", "--out", ".", "--force", expect=2).stderr == (
        "Error: --out . holds files that are not a site cycle built: give a new or empty folder; "
        "--force does not change this\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "work"]
    assert run("site", "build", "--out", str(tmp_path), "--force", expect=2).stderr.startswith(
        f"Error: --out {tmp_path} is or holds one of cycle's own files")  # the folder holding cycle's home


def test_the_site_reads_without_javascript_and_prints_without_its_navigation(demo: Path, browser: Any) -> None:
    site = demo / "site"
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto((site / "index.html").as_uri())
    assert page.locator("#portfolio tbody tr:visible").count() == 6
    assert not page.locator("#filter").is_visible()  # the filter box is there only when its script runs
    context.close()
    page, _, _ = open_page(browser, site / "projects" / "camhs.html")
    page.emulate_media(media="print")
    assert not page.locator("header.site nav").is_visible() and page.locator("h1").is_visible()
    assert page.pdf(format="A4").startswith(b"%PDF")
    page.close()
