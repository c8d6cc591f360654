#!/usr/bin/env python3
"""Benchmarks for cycle: each figure is a ratio against a floor measured in the same run.

    python bench/run.py            # full size (about 2-4 minutes)
    python bench/run.py --quick    # smaller sizes, for a smoke run
    python bench/run.py --only 3,4 # some of the benchmarks

The machine is assumed shared and noisy, so floor and subject runs are interleaved and every
headline figure is the median of per-pair ratios (floor and subject measured back to back).
Each benchmark works in a fresh temporary CYCLE_HOME with CYCLE_USER=bench; nothing touches real data.
This prints figures, it is not a test: it exits 0 whenever it ran, whether targets were met or not.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BODY = "Children's Trust Board"
PROJECT_ARGS = ["project", "new", "camhs", "--title", "CAMHS", "--lead-commissioner", "CCGs", "--model",
                "integrated", "--accountable-body", BODY, "--owner", "alice"]


def _venv_bin() -> Path:
    """The directory holding the interpreter and the installed `cycle` console script."""
    here = Path(sys.executable).parent
    if (here / "cycle").exists():
        return here
    return ROOT / ".venv" / "bin"


BIN = _venv_bin()
PY = str(BIN / "python")
CYCLE = str(BIN / "cycle")

if Path(sys.executable).parent != BIN and Path(PY).exists() and "CYCLE_BENCH_REEXEC" not in os.environ:
    # Run under the project's virtualenv, so that the subprocess benchmarks and the in-process ones
    # use the same interpreter and the same installed packages.
    os.environ["CYCLE_BENCH_REEXEC"] = "1"
    os.execv(PY, [PY, *sys.argv])


PYCACHE = os.path.join(tempfile.gettempdir(), f"cycle-bench-pycache-{os.getpid()}")  # made and removed by main

# --- helpers -------------------------------------------------------------------------------------

@contextmanager
def fresh_home() -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh temporary CYCLE_HOME (set in os.environ for in-process use, and as a subprocess env)."""
    saved = {k: os.environ.get(k) for k in ("CYCLE_HOME", "CYCLE_USER", "CYCLE_DATABASE_URL")}
    with tempfile.TemporaryDirectory(prefix="cycle-bench-") as tmp:
        home = Path(tmp) / "home"
        os.environ["CYCLE_HOME"] = str(home)
        os.environ["CYCLE_USER"] = "bench"
        os.environ.pop("CYCLE_DATABASE_URL", None)
        env = dict(os.environ)
        # Measure an ordinary installation, which has a bytecode cache: PYTHONDONTWRITEBYTECODE (set
        # in some sandboxes) would make every start recompile cycle's own modules. The cache goes to
        # a temporary prefix, so nothing is written into the source tree; warm-up runs fill it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
        try:
            yield home, env
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def run_cmd(cmd: list[str], env: dict[str, str], expect: str | None = None) -> tuple[float, float]:
    """Run a command to completion; (wall seconds, child CPU seconds). Raises if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or (expect is not None and expect not in proc.stdout):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}\nstdout: {proc.stdout[-2000:]}\n"
                           f"stderr: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def verdict(ratio: float, target: float) -> str:
    return "target met" if ratio <= target else "target MISSED"


def say(line: str = "") -> None:
    print(line, flush=True)


def paired_subprocess(subject: list[str], floor: list[str], env: dict[str, str], reps: int, warmup: int,
                      expect: str | None = None) -> dict[str, Any]:
    """Interleave floor and subject runs (alternating which goes first); per-pair ratios."""
    for _ in range(warmup):
        run_cmd(floor, env)
        run_cmd(subject, env, expect)
    fw, sw, fc, sc = [], [], [], []
    for i in range(reps):
        order = ((floor, fw, fc, None), (subject, sw, sc, expect))
        for cmd, walls, cpus, exp in (order if i % 2 == 0 else order[::-1]):
            w, c = run_cmd(cmd, env, exp)
            walls.append(w)
            cpus.append(c)
    ratios = [s / f for s, f in zip(sw, fw, strict=True)]
    return {"subject": median(sw), "floor": median(fw), "ratio": median(ratios),
            "ratio_min": min(sw) / min(fw), "ratio_cpu": median([s / f for s, f in zip(sc, fc, strict=True)]),
            "subject_min": min(sw), "floor_min": min(fw)}


def report_subprocess(tag: str, what: str, floor_what: str, r: dict[str, Any], target: float) -> None:
    say(f"[{tag}] {what}: {r['subject'] * 1000:.0f} ms (min {r['subject_min'] * 1000:.0f})  |  "
        f"floor {floor_what}: {r['floor'] * 1000:.0f} ms (min {r['floor_min'] * 1000:.0f})")
    say(f"[{tag}]   ratio {r['ratio']:.2f} (median of pairs; ratio of mins {r['ratio_min']:.2f}, "
        f"CPU-time {r['ratio_cpu']:.2f})  target <= {target}  {verdict(r['ratio'], target)}")


# --- 1 and 2: start-up ---------------------------------------------------------------------------

def heavy_modules(args: list[str], env: dict[str, str]) -> str:
    """Which heavy modules `cycle ARGS` imports, run in a fresh interpreter."""
    found = subprocess.run([PY, "-c", f"import sys; sys.argv=['cycle', *{args!r}]\n"
                            "from cycle import cli\ntry:\n    cli.main()\nexcept SystemExit:\n    pass\n"
                            "print(sorted(m for m in ('sqlmodel','sqlalchemy','sqlalchemy.orm','pydantic',"
                            "'transitions','jinja2') if m in sys.modules), file=sys.stderr)"],
                           env=env, capture_output=True, text=True)
    return found.stderr.strip().splitlines()[-1] if found.stderr else "?"


def bench_cold_start(quick: bool) -> None:
    with fresh_home() as (_home, env):
        run_cmd([CYCLE, "init"], env)
        run_cmd([CYCLE, *PROJECT_ARGS], env)
        r = paired_subprocess([CYCLE, "project", "show", "camhs"], [PY, "-c", "import sqlmodel"], env,
                              reps=6 if quick else 12, warmup=2, expect="camhs")
        loaded = heavy_modules(["project", "show", "camhs"], env)
    report_subprocess("1", "cold start `cycle project show camhs`", "`python -c 'import sqlmodel'`", r, 1.15)
    say(f"[1]   heavy modules loaded by project show: {loaded}")


def bench_help(quick: bool) -> None:
    with fresh_home() as (_home, env):
        r = paired_subprocess([CYCLE, "--help"], [PY, "-c", "import click"], env,
                              reps=8 if quick else 20, warmup=2, expect="Usage")
        leak = heavy_modules(["--help"], env)
    report_subprocess("2", "`cycle --help`", "`python -c 'import click'`", r, 1.5)
    say(f"[2]   heavy modules loaded by --help: {leak}")


# --- 3: durable gated advances -------------------------------------------------------------------

def bench_advance(quick: bool) -> None:
    from cycle.db.store import BUSY_TIMEOUT_MS, Store
    from cycle.projects import engine, views
    from cycle.workflow import install

    n = 100 if quick else 400
    chunks = 4 if quick else 8
    size = n // chunks
    with fresh_home() as (home, _env):
        home.mkdir(parents=True)
        store = Store(f"sqlite:///{home / 'cycle.db'}")
        install.init(store, "bench")
        t0 = time.perf_counter()
        for i in range(n):
            key = f"p{i:04d}"
            engine.create_project(store, actor="bench", key=key, title=f"Service {i}", workflow="commissioning",
                                  lead_commissioner="CCGs", model="integrated", accountable_body=BODY,
                                  owner="alice")
            engine.add_evidence(store, key, "needs-assessment", f"JSNA 2026 chapter {i}", actor="bench")
            engine.record_decision(store, key, actor="bench", gate="analyse-plan", outcome="go", body=BODY,
                                   ref=f"minutes 2026-10-14 item {i}")
        setup = time.perf_counter() - t0

        # The floor: the same durable write pattern with nothing but the sqlite3 module.
        fdb = sqlite3.connect(home / "floor.db", isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        for pragma in (f"busy_timeout = {BUSY_TIMEOUT_MS}", "journal_mode = WAL", "synchronous = FULL",
                       "foreign_keys = ON"):
            fdb.execute(f"PRAGMA {pragma}")
        fdb.execute("CREATE TABLE project (id INTEGER PRIMARY KEY, stage TEXT NOT NULL, version INTEGER NOT NULL, "
                    "updated_at TEXT NOT NULL)")
        fdb.execute("CREATE TABLE audit_entry (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        fdb.executemany("INSERT INTO project VALUES (?, 'analyse', 1, '')", [(i,) for i in range(n)])
        payload = "x" * 400

        def floor_one(i: int) -> tuple[float, float]:
            t, c = time.perf_counter(), time.process_time()
            fdb.execute("BEGIN IMMEDIATE")
            fdb.execute("UPDATE project SET stage = 'plan', version = version + 1, updated_at = ? "
                        "WHERE id = ? AND version = 1", (str(time.time()), i))
            fdb.execute("INSERT INTO audit_entry (payload) VALUES (?)", (payload,))
            fdb.execute("COMMIT")
            return time.perf_counter() - t, time.process_time() - c

        def subject_one(i: int) -> tuple[float, float]:
            t, c = time.perf_counter(), time.process_time()
            engine.advance(store, f"p{i:04d}", actor="bench")
            return time.perf_counter() - t, time.process_time() - c

        # Interleave one floor transaction and one advance (alternating which goes first), so that both
        # see the same disk: fsync latency on a shared machine swings by 100x within seconds.
        floor_ops, subject_ops = [], []
        for i in range(n):
            if i % 2:
                subject_ops.append(subject_one(i))
                floor_ops.append(floor_one(i))
            else:
                floor_ops.append(floor_one(i))
                subject_ops.append(subject_one(i))
        fdb.close()
        moved = len(views.list_projects(store, stage="plan"))
        store.dispose()
    if moved != n:
        raise RuntimeError(f"only {moved} of {n} projects reached plan")

    f_wall, s_wall = [w for w, _ in floor_ops], [w for w, _ in subject_ops]
    f_cpu, s_cpu = [c for _, c in floor_ops], [c for _, c in subject_ops]
    # Disk contention only ever adds the same wait to both sides, which pulls the ratio towards 1;
    # the fastest single operation of each kind is the uncontended cost, and decides the target.
    ratio_min = min(s_wall) / min(f_wall)
    chunk = [sum(s_wall[c * size:(c + 1) * size]) / sum(f_wall[c * size:(c + 1) * size]) for c in range(chunks)]
    ratio_cpu = sum(s_cpu) / max(sum(f_cpu), 1e-9)
    say(f"[3] durable gated advances (library, one process): {1 / median(s_wall):.0f} advances/s "
        f"(median {median(s_wall) * 1000:.2f} ms, fastest {min(s_wall) * 1000:.2f} ms; {n} advances; "
        f"set-up {setup:.1f} s)")
    say(f"[3]   floor raw sqlite3 BEGIN IMMEDIATE/UPDATE/INSERT/COMMIT (WAL, synchronous=FULL): "
        f"{1 / median(f_wall):.0f} tx/s (median {median(f_wall) * 1000:.2f} ms, fastest {min(f_wall) * 1000:.2f} ms, "
        f"slowest {max(f_wall) * 1000:.1f} ms: the spread is the disk's fsync)")
    say(f"[3]   ratio floor/subject {ratio_min:.1f} (fastest of {n} each: the uncontended cost)  target <= 5  "
        f"{verdict(ratio_min, 5)}")
    say(f"[3]   for reference: median over {chunks} chunks of {size} interleaved pairs {median(chunk):.1f} "
        f"(range {min(chunk):.1f}-{max(chunk):.1f}; lower when fsync is slow), CPU time {ratio_cpu:.1f}")


# --- 4: audit verify -----------------------------------------------------------------------------

_GATES = [("analyse-plan", "analyse", "plan"), ("plan-do", "plan", "do"), ("do-review", "do", "review")]
_CRITERIA = [("needs-assessment", "evidence"), ("lead-commissioner", "field"), ("commissioning-model", "field"),
             ("policy-legal-duties", "evidence"), ("decision", "decision")]


_ACTIONS = ("advance", "evidence.add", "decision.record", "project.set")
_DISTINCT = 5000  # distinct payloads per action: realistic sizes and shapes without 1M json.dumps calls


def _payload(kind: int, k: int) -> dict[str, Any]:
    """A payload shaped like the engine's: a gate snapshot, an evidence, a decision, a change."""
    version = [k % 7 + 1, k % 7 + 2]
    if kind == 0:
        gate = _GATES[k % 3][0]
        return {"gate": gate, "workflow": "commissioning", "workflow_sha256": _WF_SHA, "cycle": k % 3 + 1,
                "criteria": [{"id": cid, "kind": kd, "must": i < 3, "met": True, "reason": "recorded",
                              "evidence_ids": [k * 3 + 1] if kd == "evidence" else [],
                              "decision_ids": [k * 3 + 2] if kd == "decision" else []}
                             for i, (cid, kd) in enumerate(_CRITERIA[:3])],
                "new_cycle": None, "version": version, "warnings": []}
    if kind == 1:
        return {"evidence_id": k * 3 + 1, "name": "needs-assessment", "ref": f"JSNA 2026 children chapter {k}",
                "note": "Includes unmet need in looked-after children and the 16-18 transition group.",
                "cycle": 1, "stage": "analyse", "version": version}
    if kind == 2:
        return {"decision_id": k * 3 + 2, "gate": "analyse-plan", "outcome": "go", "body": BODY,
                "ref": f"minutes 2026-10-14 item {k % 20}", "recycle_to": None, "decided_on": "2026-10-14",
                "note": "Agreed subject to the equality impact assessment being refreshed.", "cycle": 1,
                "stage": "analyse", "version": version}
    return {"changes": {"owner": ["alice", "bob"], "accountable_body": [BODY, "Health and Wellbeing Board"],
                        "procurement_route": [None, f"open tender under the Light Touch Regime, lot {k}"]},
            "version": version}


_WF_SHA = hashlib.sha256(b"commissioning").hexdigest()


def _entries(n: int) -> Iterator[tuple[Any, ...]]:
    """n correctly chained audit rows (hashes by cycle.audit.entry_hash, payloads by canonical_json)."""
    from cycle.audit.chain import GENESIS, canonical_json, entry_hash

    bodies = [[canonical_json(_payload(kind, k)) for k in range(_DISTINCT)] for kind in range(4)]
    prev = GENESIS
    for seq in range(1, n + 1):
        kind = seq % 4
        fr = to = None
        if kind == 0:
            _, fr, to = _GATES[seq % 3]
        key = f"service-{seq % 997:03d}"
        at = (f"2026-10-14T{seq // 3_600_000 % 24:02d}:{seq // 60_000 % 60:02d}:{seq // 1000 % 60:02d}."
              f"{seq % 1000:03d}000Z")
        body = bodies[kind][seq % _DISTINCT]
        digest = entry_hash(prev, seq, at, "bench", key, _ACTIONS[kind], fr, to, body)
        yield (seq, at, "bench", key, _ACTIONS[kind], fr, to, body, prev, digest)
        prev = digest


def build_audit_db(path: Path, n: int) -> tuple[float, int]:
    """schema.upgrade() then n raw-inserted entries; (seconds, average payload bytes)."""
    from cycle.db import schema
    from cycle.db.store import Store

    t0 = time.perf_counter()
    store = Store(f"sqlite:///{path}")
    schema.upgrade(store)
    store.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    # Build speed only (the measured walks only read): no journal, no fsync, a big page cache.
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -400000")
    db.execute("BEGIN")
    total = 0
    rows = _entries(n)
    while True:
        batch = [r for _, r in zip(range(50_000), rows, strict=False)]
        if not batch:
            break
        total += sum(len(r[7]) for r in batch)
        db.executemany("INSERT INTO audit_entry (seq, at, actor, project, action, from_stage, to_stage, payload, "
                       "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode = WAL")  # back to what the store set up
    db.close()
    return time.perf_counter() - t0, total // max(n, 1)


FLOOR_VERIFY = """
import hashlib, sqlite3, sys
def walk(db):
    sha256, prev, n = hashlib.sha256, "0" * 64, 0
    cur = db.execute("SELECT seq, at, actor, project, action, from_stage, to_stage, payload, prev_hash, hash "
                     "FROM audit_entry ORDER BY seq")
    for seq, at, actor, project, action, fr, to, payload, prev_hash, digest in cur:
        canon = "\\x1f".join((str(seq), at, actor, project or "", action, fr or "", to or "", payload))
        prev = sha256((prev + "\\x1e" + canon).encode("utf-8")).hexdigest()
        n += 1
    return n, prev
if __name__ == "__main__":
    print(*walk(sqlite3.connect(sys.argv[1])))
"""


def bench_verify(quick: bool) -> None:
    from cycle.audit import chain
    from cycle.db.store import Store

    n = 100_000 if quick else 1_000_000
    reps = 3
    floor_ns: dict[str, Any] = {"__name__": "floor"}
    exec(FLOOR_VERIFY, floor_ns)  # noqa: S102 - our own constant
    walk = floor_ns["walk"]
    with fresh_home() as (home, env):
        home.mkdir(parents=True)
        path = home / "cycle.db"
        build_s, avg_payload = build_audit_db(path, n)
        size_mb = path.stat().st_size / 1e6
        say(f"[4] built {n:,} audit entries in {build_s:.1f} s (payload {avg_payload} bytes on average, "
            f"database {size_mb:.0f} MB)")
        store = Store(f"sqlite:///{path}")
        fdb = sqlite3.connect(path)

        def subject() -> tuple[float, Any]:
            conn = store.raw_connection()
            try:
                t = time.perf_counter()
                result = chain.walk(conn)
                return time.perf_counter() - t, result
            finally:
                conn.close()

        def floor() -> tuple[float, Any]:
            t = time.perf_counter()
            result = walk(fdb)
            return time.perf_counter() - t, result

        _, head = floor()  # warm-up: brings the file into the page cache
        f_times, s_times = [], []
        for i in range(reps):
            pair = [(f_times, floor), (s_times, subject)]
            for times, fn in (pair if i % 2 == 0 else pair[::-1]):
                dt, result = fn()
                times.append(dt)
                if fn is subject:
                    verified = result
                    if not (result.ok and result.entries == n and head == (n, result.head_hash)):
                        raise RuntimeError(f"verify did not confirm the chain: {result.as_dict()}; floor {head}")
        ratio = median([s / f for s, f in zip(s_times, f_times, strict=True)])
        fdb.close()
        store.dispose()

        # The command end to end (interpreter start and imports included), against the floor walk
        # run the same way: a fresh `python` process.
        floor_script = home / "floor_verify.py"
        floor_script.write_text(FLOOR_VERIFY)
        cli_reps = 2
        run_cmd([CYCLE, "audit", "checkpoint"], env)  # fills the bytecode cache for the same imports
        r = paired_subprocess([CYCLE, "audit", "verify", "--chain-only"], [PY, str(floor_script), str(path)], env,
                              reps=cli_reps, warmup=0, expect=f"Audit chain verified: {n} entries")

    say(f"[4] verify result: ok={verified.ok} entries={verified.entries:,} head={verified.head_seq}:"
        f"{verified.head_hash[:16]}... (the floor walk reached the same head)")
    say(f"[4] chain.walk(store.raw_connection()) in-process: {median(s_times):.2f} s "
        f"({n / median(s_times):,.0f} entries/s)  |  floor sqlite3 read-and-hash loop: {median(f_times):.2f} s")
    say(f"[4]   ratio {ratio:.2f} (median of {reps} pairs)  target <= 1.5  {verdict(ratio, 1.5)}")
    say(f"[4] `cycle audit verify --chain-only` end to end: {r['subject']:.2f} s  |  floor loop as a fresh "
        f"python process: {r['floor']:.2f} s  |  ratio {r['ratio']:.2f} (median of {cli_reps} pairs; "
        f"vs the in-process floor {r['subject'] / median(f_times):.2f}; informational: start-up and imports "
        f"included, the target is the walk's)")


# --- 5 and 6: streaming reads and reports at scale -----------------------------------------------

def _peak_rss(pid: int, peak: list[int], done: threading.Event) -> None:
    """Follow a child's peak RSS (VmHWM, in kB) until it ends. Not resource.getrusage: a child's ru_maxrss
    counts the memory of the process that started it (fork or vfork), which here is the benchmark's own."""
    status = Path(f"/proc/{pid}/status")
    while not done.is_set():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            return
        done.wait(0.01)


def stream_run(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run a command reading its stdout as it comes: wall seconds, seconds to the first line, peak RSS
    (MB), bytes written. Raises if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    peak, done = [0], threading.Event()
    watch = threading.Thread(target=_peak_rss, args=(proc.pid, peak, done), daemon=True)
    watch.start()
    first = proc.stdout.readline()
    t_first = time.perf_counter() - t0
    size = len(first)
    while chunk := proc.stdout.read(1 << 16):
        size += len(chunk)
    err = proc.stderr.read()
    done.set()
    watch.join()
    proc.wait()
    wall = time.perf_counter() - t0
    proc.stdout.close()
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.decode()[-2000:]}")
    return {"wall": wall, "first": t_first, "rss": peak[0] / 1024, "bytes": size}


def paired_streams(subject: list[str], floor: list[str], env: dict[str, str],
                   reps: int) -> dict[str, dict[str, float]]:
    """Interleaved floor and subject runs (alternating which goes first); the median of each figure, and the
    median of the per-pair ratios."""
    runs: dict[str, list[dict[str, float]]] = {"floor": [], "subject": []}
    for i in range(reps):
        order = [("floor", floor), ("subject", subject)]
        for name, cmd in (order if i % 2 == 0 else order[::-1]):
            runs[name].append(stream_run(cmd, env))
    out = {name: {k: median([r[k] for r in rs]) for k in rs[0]} for name, rs in runs.items()}
    out["ratio"] = {k: median([s[k] / max(f[k], 1e-9) for s, f in zip(runs["subject"], runs["floor"], strict=True)])
                    for k in ("wall", "first", "rss")}
    return out


def say_stream(tag: str, what: str, floor_what: str, r: dict[str, dict[str, float]]) -> None:
    s, f, q = r["subject"], r["floor"], r["ratio"]
    say(f"[{tag}] {what}: {s['wall']:.2f} s, first line after {s['first'] * 1000:.0f} ms, peak RSS "
        f"{s['rss']:.0f} MB, {s['bytes'] / 1e6:.0f} MB out")
    say(f"[{tag}]   floor {floor_what}: {f['wall']:.2f} s, first line after {f['first'] * 1000:.0f} ms, peak RSS "
        f"{f['rss']:.0f} MB")
    say(f"[{tag}]   ratios (median of pairs): time {q['wall']:.2f}, first line {q['first']:.2f}, peak RSS "
        f"{q['rss']:.2f}")


FLOOR_LOG_JSON = """
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cur = db.execute("SELECT seq, at, actor, project, action, from_stage, to_stage, payload, prev_hash, hash "
                 "FROM audit_entry ORDER BY seq")
out, first = sys.stdout, True
out.write("[")
for seq, at, actor, project, action, fr, to, payload, prev_hash, digest in cur:
    item = {"seq": seq, "at": at, "actor": actor, "project": project, "action": action, "from": fr, "to": to,
            "payload": json.loads(payload), "payload_error": None, "prev_hash": prev_hash, "hash": digest}
    out.write(("\\n  " if first else ",\\n  ") + json.dumps(item, indent=2, ensure_ascii=False).replace("\\n", "\\n  "))
    first = False
out.write("\\n]\\n")
"""


def bench_log_json(quick: bool) -> None:
    n = 100_000 if quick else 1_000_000
    with fresh_home() as (home, env):
        home.mkdir(parents=True)
        path = home / "cycle.db"
        build_s, _ = build_audit_db(path, n)
        say(f"[5] built {n:,} audit entries in {build_s:.1f} s")
        floor = home / "floor_log.py"
        floor.write_text(FLOOR_LOG_JSON)
        run_cmd([CYCLE, "audit", "checkpoint"], env)  # fills the bytecode cache
        base = stream_run([CYCLE, "audit", "log", "--limit", "1", "--json"], env)["rss"]
        r = paired_streams([CYCLE, "audit", "log", "--json"], [PY, str(floor), str(path)], env, reps=2)
    say_stream("5", f"`cycle audit log --json` over {n:,} entries", "sqlite3 SELECT ... ORDER BY seq, each row "
               "json.dumps'd the same way", r)
    grown = r["subject"]["rss"] / base
    say(f"[5]   bounded memory: peak RSS {grown:.2f}x that of `audit log --limit 1 --json` ({base:.0f} MB: the same "
        f"imports, one entry)  target <= 1.5  {verdict(grown, 1.5)}")
    say(f"[5]   first line after {r['subject']['first']:.2f} s  target <= 1 s  {verdict(r['subject']['first'], 1.0)}")


def build_portfolio_db(path: Path, n: int) -> float:
    """`cycle init`'s database with n projects at analyse (copies of one made by the engine), each on the record:
    an audit entry per 1,000 carries their images, as a hand-written INSERT put on the record would."""
    from cycle.audit.chain import append
    from cycle.db import schema
    from cycle.db.store import Store
    from cycle.projects import engine
    from cycle.workflow import install

    t0 = time.perf_counter()
    store = Store(f"sqlite:///{path}")
    schema.upgrade(store)
    install.init(store, "bench")
    engine.create_project(store, actor="bench", key="p000000", title="Service 0", workflow="commissioning",
                          lead_commissioner="CCGs", model="integrated", accountable_body=BODY, owner="alice")
    with store.reading() as sql:
        template = sql.rows("SELECT * FROM project WHERE key = 'p000000'")[0]._asdict()
        created = sql.one("SELECT payload FROM audit_entry WHERE action = 'project.create'").payload
    said = {k: v for k, v in json.loads(created).items() if k != "rows"}
    columns = list(template)
    insert = f"INSERT INTO project ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    for start in range(1, n, 1000):
        with store.writing() as sql:  # a thousand projects a transaction, each with its project.create entry
            for i in range(start, min(start + 1000, n)):
                row = {**template, "id": i + 1, "key": f"p{i:06d}", "title": f"Service {i}"}
                sql.run(insert, **row)
                append(sql, actor="bench", action="project.create", project=row["key"], to_stage=row["stage"],
                       payload={**said, "title": row["title"],
                                "rows": [{"table": "project", "id": row["id"], "row": row}]})
    store.dispose()
    return time.perf_counter() - t0


FLOOR_PROJECTS = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
width = db.execute("SELECT max(length(key)) FROM project").fetchone()[0]
out = sys.stdout
for key, stage, cycle, title in db.execute("SELECT key, stage, cycle, title FROM project ORDER BY key"):
    out.write(f"{key:<{width}}  {stage:<12} cycle {cycle:<3} {title}\\n")
"""

FLOOR_REPORT = """
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = 0
for table in ("project", "evidence", "decision", "waiver", "contract", "milestone", "review_meeting"):
    for row in db.execute(f"SELECT * FROM {table} ORDER BY id"):
        n += 1
for row in db.execute("SELECT seq, at, actor, project, action, from_stage, to_stage, payload FROM audit_entry "
                      "ORDER BY seq"):
    json.loads(row[7])
    n += 1
print(json.dumps({"rows": n}))
"""


def add_listing_rows(path: Path, n: int) -> None:
    """n people, n outbox rows, a review held for each of the n projects, and n milestones of project p000000,
    written straight into the database (after the reports ran: these rows are not on the record)."""
    db = sqlite3.connect(path)
    now = "2026-12-01T09:00:00Z"
    db.executemany("INSERT INTO person (name, email, created_at) VALUES (?, ?, ?)",
                   ((f"u{i:06d}", f"u{i:06d}@council.example", now) for i in range(n)))
    db.executemany("INSERT INTO outbox (project, kind, period, recipient, email, due_on, context, status, attempts, "
                   "next_attempt_at, created_at) VALUES (?, 'notice', '2027-03-31/6 months', ?, ?, '2026-12-01', "
                   "'{}', 'pending', 0, ?, ?)",
                   ((f"p{i:06d}", "alice", "alice@council.example", now, now) for i in range(n)))
    db.execute("INSERT INTO review_meeting (project_id, quarter, held_on, recorded_by, recorded_at) "
               "SELECT id, '2026-Q2', '2026-09-20', 'bench', ? FROM project", (now,))
    db.executemany("INSERT INTO milestone (project_id, title, due, created_by, created_at) "
                   "VALUES (1, ?, ?, 'bench', ?)",
                   ((f"Milestone {i}", f"{2027 + i % 5}-0{1 + i % 9}-15", now) for i in range(n)))
    db.commit()
    db.close()


# Each floor prints its rows as the command's text output does, from plain sqlite3.
FLOOR_LISTS = {
    "people list": ("SELECT name, email FROM person ORDER BY name", "f'{r[0]:<16} {r[1]:<32} no roles'"),
    "outbox list": ("SELECT id, status, kind, project, period, recipient, email, attempts FROM outbox ORDER BY id",
                    "f'#{r[0]:<4} {r[1]:<8} {r[2]:<15} {r[3]} {r[4]}  to {r[5]} <{r[6]}>  attempts {r[7]}  "
                    "not tried yet'"),
    "review list": ("SELECT p.key, r.quarter, r.held_on, r.recorded_by FROM review_meeting r JOIN project p "
                    "ON p.id = r.project_id ORDER BY p.key, r.quarter",
                    "f'{r[0]:<24} {r[1]}  held on {r[2]}  by {r[3]}'"),
    "milestone list": ("SELECT id, due, done_on, title FROM milestone WHERE project_id = 1 ORDER BY due, id",
                       "f'#{r[0]:<4} due {r[1]}  {\"open\":<16} {r[3]}'"),
}
FLOOR_LIST = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
out = sys.stdout
for r in db.execute({query!r}):
    out.write({line} + "\\n")
"""
LISTS = {"people list": ["people", "list"], "outbox list": ["outbox", "list"], "review list": ["review", "list"],
         "milestone list": ["milestone", "list", "p000000", "--as-of", "2026-12-06"]}


def bench_portfolio(quick: bool) -> None:
    """Each read at two sizes, ten times apart: its time and peak RSS against its floor at each, and how its peak
    RSS moved with the data (bounded: about 1x; growing with the portfolio: towards 10x)."""
    sizes = (1_000, 10_000) if quick else (10_000, 100_000)
    peaks: dict[str, list[float]] = {}
    firsts: dict[str, float] = {}  # each list's first line, at the larger size
    for n in sizes:
        reps = 2 if n == sizes[-1] else 1
        with fresh_home() as (home, env):
            home.mkdir(parents=True)
            path = home / "cycle.db"
            build_s = build_portfolio_db(path, n)
            say(f"[6] built {n:,} projects (on the record) in {build_s:.1f} s")
            floors = home / "floor_projects.py", home / "floor_report.py"
            floors[0].write_text(FLOOR_PROJECTS)
            floors[1].write_text(FLOOR_REPORT)
            run_cmd([CYCLE, "audit", "checkpoint"], env)
            runs: list[tuple[str, list[str], list[str], str, int]] = [
                ("project list", ["project", "list"], [PY, str(floors[0]), str(path)],
                 "sqlite3 SELECT key, stage, cycle, title ORDER BY key, printed the same way", reps)]
            for args in (["report", "quarterly", "--quarter", "2026-Q3", "--format", "json"],
                         ["report", "gate-audit", "--format", "json"],
                         ["report", "quarterly", "--quarter", "2026-Q3", "--format", "html"],
                         ["report", "gate-audit", "--format", "html"]):
                runs.append((" ".join(args[:2] + args[-1:]), args, [PY, str(floors[1]), str(path)],
                             "sqlite3 reading every row the reports read (tables and log)", 1))
            runs.append(("audit verify (run first by both reports)", ["audit", "verify"],
                         [PY, str(floors[1]), str(path)], "sqlite3 reading every row the reports read", 1))
            for label, args, floor, floor_what, times in runs:
                r = paired_streams([CYCLE, *args], floor, env, reps=times)
                say_stream("6", f"`cycle {' '.join(args)}` over {n:,} projects", floor_what, r)
                peaks.setdefault(label, []).append(r["subject"]["rss"])
                if label == "project list":
                    firsts[label] = r["subject"]["first"]
            add_listing_rows(path, n)
            for label, args in LISTS.items():
                query, line = FLOOR_LISTS[label]
                script = home / f"floor_{label.replace(' ', '_')}.py"
                script.write_text(FLOOR_LIST.format(query=query, line=line))
                r = paired_streams([CYCLE, *args], [PY, str(script), str(path)], env, reps=reps)
                say_stream("6", f"`cycle {' '.join(args)}` over {n:,} rows", "sqlite3 SELECT of the same rows, printed "
                           "the same way", r)
                peaks.setdefault(label, []).append(r["subject"]["rss"])
                firsts[label] = r["subject"]["first"]
    for label, (small, large) in peaks.items():
        say(f"[6] scale: `{label}` peak RSS {small:.0f} MB at {sizes[0]:,}, {large:.0f} MB at {sizes[1]:,}: "
            f"x{large / small:.2f} for x{sizes[1] // sizes[0]} the data, {large - small:+.0f} MB "
            f"({'bounded' if large - small < 10 else 'GROWS with the data'})")
    for label, first in firsts.items():
        say(f"[6] first line of `{label}` at {sizes[1]:,}: {first:.2f} s  target <= 1 s  {verdict(first, 1.0)}")


# --- 10. the first line of a report at portfolio scale ------------------------------------------

FLOOR_FIRST_LINE = """
import sys
import sqlmodel  # noqa: F401  (what a report's process imports before it can print)
print("# Commissioning portfolio", flush=True)
"""


def head_run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """`cmd | head -1`: seconds to the first line, seconds until the command ended once the reader closed the
    pipe after it, and its exit code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - t0
    proc.stdout.close()
    code = proc.wait()
    return first, time.perf_counter() - t0 - first, code


def bench_first_line(quick: bool) -> None:
    """The Markdown reports print their title at once, then check the record (seconds at this scale) and stream
    the rest: time to the first line against a process that imports sqlmodel and prints one; the whole report,
    its peak RSS; and `| head -1`, how soon the report ends once the reader has gone."""
    n = 10_000 if quick else 100_000
    with fresh_home() as (home, env):
        home.mkdir(parents=True)
        path = home / "cycle.db"
        say(f"[12] built {n:,} projects (on the record) in {build_portfolio_db(path, n):.1f} s")
        floor = home / "floor_first_line.py"
        floor.write_text(FLOOR_FIRST_LINE)
        run_cmd([CYCLE, "audit", "checkpoint"], env)  # fills the bytecode cache
        for args in (["report", "quarterly", "--quarter", "2026-Q3"], ["report", "gate-audit"]):
            r = paired_streams([CYCLE, *args], [PY, str(floor)], env, reps=2)
            say_stream("10", f"`cycle {' '.join(args)}` over {n:,} projects", "`python -c 'import sqlmodel; "
                       "print(...)'`", r)
            first = r["subject"]["first"]
            say(f"[12]   first line after {first:.2f} s (floor {r['floor']['first']:.2f} s)  target <= 1 s  "
                f"{verdict(first, 1.0)}")
            got_first, ended, code = head_run([CYCLE, *args], env)
            say(f"[12]   `| head -1`: first line after {got_first:.2f} s, ended {ended:.2f} s after the reader "
                f"went (whole report {r['subject']['wall']:.2f} s), exit code {code}")


# --- 7. what is due, over a portfolio ------------------------------------------------------------

# The stages a portfolio's projects are at, in proportion; those from `do` on hold a contract.
_STAGES = ["analyse"] * 10 + ["plan"] * 10 + ["do"] * 50 + ["review"] * 20 + ["decommission"] * 5 + ["closed"] * 5
_AFTER_DO = ("do", "review", "decommission", "closed")


# The columns build_portfolio fills, in the order of its tuples (later columns, such as programme, are left NULL).
_PROJECT_COLUMNS = ("id", "key", "title", "workflow", "stage", "cycle", "visit", "lead_commissioner", "model",
                    "accountable_body", "owner", "attrs", "created_at", "updated_at", "version", "sro", "lead",
                    "governance_lead", "start_date", "end_date", "aim", "scope", "benefits", "metrics",
                    "workflow_version")


def build_portfolio(path: Path, n: int) -> None:
    """`n` projects written straight into a database made by `cycle init`: each with its creation (and, from do on,
    its moves) in the audit log, a contract from do on (ends 2027 to 2031, some with notice served), and two
    quarterly reviews held for those at do. The audit rows are not a verifiable chain: the scan does not verify."""
    db = sqlite3.connect(path)
    now = "2026-06-01T09:00:00Z"
    projects, contracts, reviews, entries = [], [], [], []
    seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_entry").fetchone()[0]
    for i in range(1, n + 1):
        stage = _STAGES[i % len(_STAGES)]
        key = f"p{i:06d}"
        projects.append((i, key, f"Service {i}", "commissioning", stage, 1, 1 + (stage in _AFTER_DO) * 2, "CCGs",
                         "integrated", BODY, "alice", "{}", now, now, 1, None, None, "gina", None, None, None, None,
                         None, None, 1))
        seq += 1
        entries.append((seq, now, "bench", key, "project.create", None, "analyse", "{}", "x", "x", None))
        if stage in _AFTER_DO:
            for to in ("do", stage) if stage != "do" else ("do",):
                seq += 1
                entries.append((seq, "2026-09-01T09:00:00Z", "bench", key, "advance", None, to, "{}", "x", "x", None))
            end = f"{2027 + i % 5}-03-31"
            served = "2026-09-15" if i % 7 == 0 else None
            contracts.append((i, i, "Trust X", f"C-{i}", "2025-04-01", end, None, None, "6 months", None, "run-on",
                              "12 months", served, "NL" if served else None, now))
            if stage == "do":
                reviews += [(None, i, q, "2026-09-20", None, "bench", now) for q in ("2026-Q1", "2026-Q2")]
    db.executemany(f"INSERT INTO project ({', '.join(_PROJECT_COLUMNS)}) VALUES ({','.join('?' * 25)})", projects)
    db.executemany(f"INSERT INTO contract VALUES ({','.join('?' * 15)})", contracts)
    db.executemany("INSERT INTO review_meeting VALUES (?, ?, ?, ?, ?, ?, ?)", reviews)
    db.executemany("INSERT INTO audit_entry VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", entries)
    db.executemany("INSERT INTO person (name, email, created_at) VALUES (?, ?, ?)",
                   [("alice", "alice@council.example", now), ("gina", "gina@council.example", now)])
    db.commit()
    db.close()


# Each snippet prints: seconds, peak RSS in MB, rows (or reminders) found.
_TIMED = ("import resource, sys, time\n{setup}\nt = time.perf_counter()\n{work}\n"
          "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, found)")
_DUE = ("from datetime import date\nfrom cycle.db.store import open_store\nfrom cycle.reminders import rules\n"
        "store = open_store()\nrules.preview(store, date(2026, 1, 2))",  # warm: the workflow parsed, the ORM mapped
        "found = len(rules.preview(store, date(2027, 1, 20)).reminders)")
# The rows the scan reads, as plain SQL: projects, contracts, the last entry into each stage, reviews held,
# decisions and links, all fetched, with no Python work on them.
_DUE_FLOOR_SQL = ["SELECT * FROM project ORDER BY key",
                  "SELECT * FROM project p JOIN contract c ON c.project_id = p.id",
                  "SELECT a.project, a.to_stage, a.seq, a.at, a.action FROM audit_entry a WHERE a.seq IN (SELECT "
                  "MAX(seq) FROM audit_entry WHERE to_stage IS NOT NULL GROUP BY project, to_stage)",
                  "SELECT project_id, quarter, held_on FROM review_meeting", "SELECT * FROM decision ORDER BY id",
                  "SELECT * FROM link l JOIN project p ON p.id = l.other_id ORDER BY l.id"]
_CONTRACTS = ("from datetime import date\nfrom cycle.db.store import open_store\nfrom cycle.projects import views\n"
              "store = open_store()\nviews.contracts_due(store, date(2026, 1, 2), '30d')",
              "found = len(views.contracts_due(store, date(2027, 1, 20), '180d'))")
_CONTRACTS_FLOOR_SQL = ["SELECT p.key, p.stage, c.* FROM project p JOIN contract c ON c.project_id = p.id "
                        "ORDER BY p.key"]


def _floor(path: Path, statements: list[str]) -> tuple[str, str]:
    return (f"import sqlite3\ndb = sqlite3.connect({str(path)!r})",
            f"found = sum(len(db.execute(q).fetchall()) for q in {statements!r})")


def _timed(env: dict[str, str], setup: str, work: str) -> tuple[float, float, int]:
    out = subprocess.run([PY, "-c", _TIMED.format(setup=setup, work=work)], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def bench_due(quick: bool) -> None:
    n = 10_000 if quick else 100_000
    reps = 2 if quick else 3
    with fresh_home() as (home, env):
        subprocess.run([CYCLE, "init"], env=env, capture_output=True, check=True)
        t = time.perf_counter()
        build_portfolio(home / "cycle.db", n)
        say(f"[7] portfolio of {n:,} projects built in {time.perf_counter() - t:.0f} s")
        for what, subject, floor_sql, target in (
                ("due scan (remind --dry-run)", _DUE, _DUE_FLOOR_SQL, 3.0),
                ("contracts due --within 180d", _CONTRACTS, _CONTRACTS_FLOOR_SQL, 3.0)):
            floor = _floor(home / "cycle.db", floor_sql)
            ratios, runs = [], []
            for rep in range(reps):
                pair = [("subject", subject), ("floor", floor)]
                measured = dict((name, _timed(env, *code)) for name, code in (pair if rep % 2 == 0 else pair[::-1]))
                runs.append(measured)
                ratios.append(measured["subject"][0] / measured["floor"][0])
            s, f = runs[-1]["subject"], runs[-1]["floor"]
            ratio = median(ratios)
            say(f"[7] {what}, {n:,} projects: {s[0]:.2f} s, peak RSS {s[1]:.0f} MB, {s[2]:,} found; floor (plain "
                f"SQL, same rows) {f[0]:.2f} s, peak RSS {f[1]:.0f} MB, {f[2]:,} rows; ratio {ratio:.2f} (median of "
                f"{reps}), target <= {target}: {verdict(ratio, target)}")


# --- 8: importing a contract register ----------------------------------------------------------------

_REGISTER_FLOOR = """
import csv, sqlite3, sys
db = sqlite3.connect(sys.argv[2], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL"); db.execute("PRAGMA foreign_keys=ON")
now = "2026-12-06T00:00:00.000000Z"
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    rows = csv.reader(f)
    next(rows)
    db.execute("BEGIN IMMEDIATE")
    n = 0
    for r in rows:
        pid = db.execute("INSERT INTO project (key, title, workflow, workflow_version, stage, cycle, visit, attrs, "
                         "created_at, updated_at, version) VALUES (?, ?, 'commissioning', 1, 'do', 1, 1, '{}', ?, ?, "
                         "1) RETURNING id", (r[0].lower(), r[1], now, now)).fetchone()[0]
        db.execute("INSERT INTO contract (project_id, ref, title, department, description, provider, value_total, "
                   "value_annual, start, [end], awarded_by, sme, vcse, if_no_notice, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'run-on', ?)",
                   (pid, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[8], r[9], r[11], r[12], r[13], now))
        n += 1
    db.execute("COMMIT")
print(n)
"""


def write_register(path: Path, n: int) -> None:
    """A register of `n` contracts in the Transparency Code's columns (the shipped mapping lgtc-2015)."""
    import csv

    sys.path.insert(0, str(ROOT))
    from cycle.interchange.transparency import COLUMNS

    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(COLUMNS)
        for k in range(n):
            w.writerow([f"REG-{k:06d}", f"Contract {k}", "Adult social care", "Care, support and advice",
                        f"Provider {k % 700} Ltd", f"{(k % 97 + 1) * 10000}.00", f"{(k % 97 + 1) * 2500}.00", "",
                        f"{2020 + k % 6}-04-01", f"{2027 + k % 5}-03-31", "", "tender" if k % 3 else "quote",
                        "yes" if k % 2 else "no", "no", ""])


def bench_import(quick: bool) -> None:
    sizes = (1_000, 10_000) if not quick else (500, 2_000)
    reps = 2 if quick else 3
    with fresh_home() as (home, env):
        subprocess.run([CYCLE, "init"], env=env, capture_output=True, check=True)
        template = home.parent / "template.db"
        shutil.copy(home / "cycle.db", template)
        rss = {}
        for n in sizes:
            register = home.parent / f"register-{n}.csv"
            write_register(register, n)
            ratios, runs = [], []
            for rep in range(reps):
                measured = {}
                for name in (["subject", "floor"] if rep % 2 == 0 else ["floor", "subject"]):
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{home / 'cycle.db'}{suffix}").unlink(missing_ok=True)
                        Path(f"{home.parent / 'floor.db'}{suffix}").unlink(missing_ok=True)
                    if name == "subject":
                        shutil.copy(template, home / "cycle.db")
                        measured[name] = stream_run([CYCLE, "import", "register", str(register), "--map",
                                                     "lgtc-2015"], env)
                    else:
                        shutil.copy(template, home.parent / "floor.db")
                        measured[name] = stream_run([PY, "-c", _REGISTER_FLOOR, str(register),
                                                     str(home.parent / "floor.db")], env)
                runs.append(measured)
                ratios.append(measured["subject"]["wall"] / measured["floor"]["wall"])
            s, f = runs[-1]["subject"], runs[-1]["floor"]
            ratio = median(ratios)
            rss[n] = s["rss"]
            say(f"[8] import register, {n:,} rows ({register.stat().st_size / 1e6:.1f} MB), one transaction: "
                f"{n / s['wall']:,.0f} rows/s ({s['wall']:.2f} s), peak RSS {s['rss']:.0f} MB; floor (plain SQL, the "
                f"same rows, one transaction) {n / f['wall']:,.0f} rows/s ({f['wall']:.2f} s), peak RSS "
                f"{f['rss']:.0f} MB; ratio {ratio:.1f} (median of {reps}), target <= 10: {verdict(ratio, 10.0)}")
        small, large = sizes
        say(f"[8] peak RSS {rss[small]:.0f} MB at {small:,} rows, {rss[large]:.0f} MB at {large:,}: "
            f"{'bounded' if rss[large] - rss[small] < 10 else 'GROWS with the file'}")
# --- 9: contract performance at portfolio scale --------------------------------------------------------

_KPIS_PER_CONTRACT = 5
_QUARTERS = ["2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]


def build_performance(path: Path, n: int) -> int:
    """`n` live contracts (one per project at do), each with 5 indicators (higher, lower and band) and a value for
    each of 8 quarters, written straight into a database made by `cycle init`. The rows are not on the audit
    record: `cycle performance` does not verify. Returns how many indicators."""
    db = sqlite3.connect(path)
    now = "2026-06-01T09:00:00Z"
    projects, contracts, kpis, targets, values = [], [], [], [], []
    for i in range(1, n + 1):
        projects.append((i, f"p{i:06d}", f"Service {i}", "commissioning", "do", 1, 3, "CCGs", "integrated", BODY,
                         "alice", "{}", now, now, 1, None, None, "gina", None, None, None, None, None, None, 1))
        contracts.append((i, i, f"Trust {i % 40}", f"C-{i}", "2024-04-01", f"{2027 + i % 4}-03-31", "6 months",
                          "run-on", "12 months", now))
        for j in range(_KPIS_PER_CONTRACT):
            k = (i - 1) * _KPIS_PER_CONTRACT + j + 1
            better = ("higher", "lower", "band", "higher", "higher")[j]
            kpis.append((k, i, f"kpi-{j}", f"Indicator {j} of service {i}", "%", better, "provider return", "bench",
                         now))
            if better == "band":
                targets.append((k, "1989-Q4", None, "80", "90", "3", None, "bench", now))
            else:
                targets.append((k, "1989-Q4", "92" if better == "higher" else "30", None, None, "5", "10", "bench",
                                now))
            if k % 3 == 0:
                targets.append((k, "2025-Q3", "95" if better == "higher" else "25", None, None, "5", "10", "bench",
                                now) if better != "band" else (k, "2025-Q3", None, "82", "92", "2", None, "bench", now))
            for n_q, q in enumerate(_QUARTERS):
                if (k + n_q) % 17 == 0:
                    continue  # a return not made: no-return
                values.append((k, q, str(70 + (k * 7 + n_q * 3) % 40) + (".5" if n_q % 2 else ""), None, "bench",
                               now))
    db.executemany(f"INSERT INTO project ({', '.join(_PROJECT_COLUMNS)}) VALUES ({','.join('?' * 25)})", projects)
    db.executemany('INSERT INTO contract (id, project_id, provider, ref, start, "end", notice, if_no_notice, run_on, '
                   "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", contracts)
    db.executemany("INSERT INTO kpi (id, contract_id, key, title, unit, better, source, created_by, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", kpis)
    db.executemany("INSERT INTO kpi_target (kpi_id, from_quarter, target, low, high, tolerance, over, set_by, set_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", targets)
    db.executemany("INSERT INTO kpi_value (kpi_id, quarter, value, note, recorded_by, recorded_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)", values)
    db.commit()
    db.close()
    return len(kpis)


_PERFORMANCE = ("import json\nfrom datetime import date\nfrom cycle.calendar.quarters import Quarter\n"
                "from cycle.db.store import open_store\nfrom cycle.performance import portfolio\n"
                "store = open_store()\n"
                "with portfolio.board(store, Quarter(2024, 1), date(2026, 12, 1)) as lines:\n    list(lines)",  # warm
                "with portfolio.board(store, Quarter(2026, 2), date(2026, 12, 1)) as lines:\n"
                "    found = sum(1 for line in lines if json.dumps(line.as_dict()))")


def _performance_floor(path: Path) -> tuple[str, str]:
    from cycle.performance import portfolio

    return (f"import json, sqlite3\ndb = sqlite3.connect({str(path)!r})",
            f"found = sum(1 for r in db.execute({portfolio.statement()!r}, {{'q': '2026-Q2', 'prev': '2026-Q1'}}) "
            f"if json.dumps(list(r)))")


def bench_performance(quick: bool) -> None:
    n = 1_000 if quick else 5_000
    reps = 3 if quick else 5
    with fresh_home() as (home, env):
        subprocess.run([CYCLE, "init"], env=env, capture_output=True, check=True)
        t = time.perf_counter()
        count = build_performance(home / "cycle.db", n)
        say(f"[9] {n:,} live contracts, {count:,} indicators, {count * len(_QUARTERS):,} quarterly values (less "
            f"those missing) built in {time.perf_counter() - t:.0f} s")
        floor = _performance_floor(home / "cycle.db")
        ratios, runs = [], []
        for rep in range(reps):
            pair = [("subject", _PERFORMANCE), ("floor", floor)]
            measured = dict((name, _timed(env, *code)) for name, code in (pair if rep % 2 == 0 else pair[::-1]))
            runs.append(measured)
            ratios.append(measured["subject"][0] / measured["floor"][0])
        s, f = runs[-1]["subject"], runs[-1]["floor"]
        ratio = median(ratios)
        say(f"[9] cycle performance --quarter 2026-Q2 (cycle.performance.portfolio.board, each line as JSON): "
            f"{s[0]:.2f} s, peak RSS {s[1]:.0f} MB, {s[2]:,} lines; floor (the same one query in plain sqlite3, "
            f"each row as JSON) {f[0]:.2f} s, peak RSS {f[1]:.0f} MB, {f[2]:,} rows; ratio {ratio:.2f} (median of "
            f"{reps}), target <= 3: {verdict(ratio, 3.0)}")
        cli = stream_run([CYCLE, "performance", "--quarter", "2026-Q2", "--as-of", "2026-12-01", "--json"], env)
        say(f"[9] the command itself, a new process (--json): {cli['wall']:.2f} s, first line after "
            f"{cli['first'] * 1000:.0f} ms, peak RSS {cli['rss']:.0f} MB, {cli['bytes'] / 1e6:.1f} MB out")


# --- main ----------------------------------------------------------------------------------------

# --- 10. an audit bundle, exported and checked with no database ------------------------------------------

def bench_bundle(quick: bool) -> None:
    """`cycle audit export --bundle` and `cycle audit verify --bundle` (the offline check, no database) over a
    portfolio, at two sizes ten times apart: time and peak RSS against `cycle audit verify` on the database (the
    same chain and records, checked in place), and how each one's peak RSS moved with the data."""
    sizes = (1_000, 10_000) if quick else (10_000, 100_000)
    peaks: dict[str, list[float]] = {}
    for n in sizes:
        with fresh_home() as (home, env):
            home.mkdir(parents=True)
            build_s = build_portfolio_db(home / "cycle.db", n)
            say(f"[10] built {n:,} projects (on the record) in {build_s:.1f} s")
            run_cmd([CYCLE, "audit", "keygen"], env)
            run_cmd([CYCLE, "audit", "checkpoint", "--sign"], env)
            floor = stream_run([CYCLE, "audit", "verify"], env)
            out = home.parent / "bundle"
            export = stream_run([CYCLE, "audit", "export", "--bundle", str(out)], env)
            size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
            offline = {k: v for k, v in env.items() if k != "CYCLE_DATABASE_URL"}
            offline["CYCLE_HOME"] = str(home.parent / "nowhere")
            check = stream_run([CYCLE, "audit", "verify", "--bundle", str(out), "--public-key",
                                str(home / "keys" / "checkpoint-signing.pub")], offline)
            for label, r in (("export --bundle", export), ("verify --bundle", check)):
                say(f"[10] `cycle audit {label}` over {n:,} projects ({size:.0f} MB bundle): {r['wall']:.2f} s, peak "
                    f"RSS {r['rss']:.0f} MB; floor `cycle audit verify` on the database {floor['wall']:.2f} s, "
                    f"{floor['rss']:.0f} MB: time x{r['wall'] / floor['wall']:.2f}, RSS x{r['rss'] / floor['rss']:.2f}")
                peaks.setdefault(label, []).append(r["rss"])
    for label, (small, large) in peaks.items():
        say(f"[10] scale: `{label}` peak RSS {small:.0f} MB at {sizes[0]:,}, {large:.0f} MB at {sizes[1]:,}: "
            f"{large - small:+.0f} MB ({'bounded' if large - small < 10 else 'GROWS with the data'})")


# --- 11. the governance site ---------------------------------------------------------------------------------------

FLOOR_SITE = """
import html, os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
out = sys.argv[2]
os.makedirs(os.path.join(out, "projects"))
entries = db.execute("SELECT a.project, a.seq, a.at, a.actor, a.action FROM audit_entry a JOIN project p "
                     "ON p.key = a.project ORDER BY p.key, a.seq")
held = next(entries, None)
with open(os.path.join(out, "index.html"), "w") as index:
    for key, title, stage, cycle in db.execute("SELECT key, title, stage, cycle FROM project ORDER BY key"):
        index.write(f"<tr><td><a href='projects/{key}.html'>{html.escape(title)}</a></td><td>{stage}</td></tr>")
        with open(os.path.join(out, "projects", key + ".html"), "w") as page:
            page.write(f"<h1>{html.escape(title)}</h1><p>{stage}, cycle {cycle}</p><table>")
            while held is not None and held[0] == key:
                page.write("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in held[1:]) + "</tr>")
                held = next(entries, None)
            page.write("</table>")
print("done")
"""


def bench_site(quick: bool) -> None:
    """`cycle site build` at two sizes, ten times apart: its time and peak RSS against a floor writing a page per
    project with plain sqlite3, and how its peak RSS moved with the portfolio (bounded: about 1x)."""
    sizes = (100, 1_000) if quick else (200, 2_000)
    peaks: list[float] = []
    for n in sizes:
        with fresh_home() as (home, env):
            home.mkdir(parents=True)
            path = home / "cycle.db"
            build_s = build_portfolio_db(path, n)
            say(f"[11] built {n:,} projects (on the record) in {build_s:.1f} s")
            floor = home / "floor_site.py"
            floor.write_text(FLOOR_SITE)
            walls, floors, rss, floor_rss = [], [], [], []
            for i in range(2):
                site, plain = home / f"site{i}", home / f"plain{i}"
                r = stream_run([CYCLE, "site", "build", "--out", str(site)], env)
                f = stream_run([PY, str(floor), str(path), str(plain)], env)
                walls.append(r["wall"])
                floors.append(f["wall"])
                rss.append(r["rss"])
                floor_rss.append(f["rss"])
                pages = sum(1 for _ in site.rglob("*.html"))
            wall, floor_wall = min(walls), min(floors)
            say(f"[11] `cycle site build` over {n:,} projects ({pages:,} pages): {wall:.2f} s, peak RSS "
                f"{max(rss):.0f} MB; floor (sqlite3 writing a page per project with its entries) {floor_wall:.2f} s, "
                f"{max(floor_rss):.0f} MB: x{wall / floor_wall:.1f} the time")
            peaks.append(max(rss))
    small, large = peaks
    say(f"[11] scale: `cycle site build` peak RSS {small:.0f} MB at {sizes[0]:,}, {large:.0f} MB at {sizes[1]:,}: "
        f"x{large / small:.2f} for x{sizes[1] // sizes[0]} the data, {large - small:+.0f} MB "
        f"({'bounded' if large - small < 10 else 'GROWS with the data'})")


BENCHES: dict[str, tuple[str, Callable[[bool], None]]] = {
    "1": ("cold start of `cycle project show`", bench_cold_start),
    "2": ("`cycle --help`", bench_help),
    "3": ("durable gated advances", bench_advance),
    "4": ("audit verify", bench_verify),
    "5": ("audit log --json, streamed", bench_log_json),
    "6": ("project list, the reports and the other lists at portfolio scale, at two sizes", bench_portfolio),
    "7": ("due scan and contracts due at portfolio scale", bench_due),
    "8": ("import of a contract register", bench_import),
    "9": ("cycle performance over 5,000 live contracts", bench_performance),
    "10": ("an audit bundle exported and checked with no database, at two sizes", bench_bundle),
    "11": ("the governance site (cycle site build) for 2,000 projects, at two sizes", bench_site),
    "12": ("the first line of the Markdown reports at portfolio scale, and `| head -1`", bench_first_line),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions (100k audit entries)")
    ap.add_argument("--only", default="1,2,3,4,5,6", help="comma-separated benchmark numbers, e.g. 3,4")
    args = ap.parse_args()
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "?"
    say(f"cycle benchmarks ({'quick' if args.quick else 'full'}) - commit {commit}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    say(f"interpreter {PY}")
    failed = 0
    start = time.perf_counter()
    for key in chosen:
        title, fn = BENCHES[key]
        t = time.perf_counter()
        try:
            fn(args.quick)
        except Exception as exc:  # report and go on with the others
            failed += 1
            say(f"[{key}] {title}: ERROR {type(exc).__name__}: {exc}")
        say(f"[{key}]   ({time.perf_counter() - t:.0f} s)")
    say(f"total {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    os.makedirs(PYCACHE, exist_ok=True)
    try:
        code = main()
    finally:
        shutil.rmtree(PYCACHE, ignore_errors=True)
    sys.exit(code)
