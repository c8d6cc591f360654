"""A throwaway PostgreSQL cluster in a temporary directory, for the test suite's PostgreSQL run.

`initdb` refuses to run as root, so as root the cluster belongs to the `postgres` user (Debian's
package creates it) and runs under `runuser`. The server listens on 127.0.0.1 at a free port and
on a socket in the cluster's own directory, trusts local connections (nobody else can reach it),
and skips fsync: the data dies with the test run.

    python -m tests.pgcluster start     # prints the admin URL and the directory
    python -m tests.pgcluster stop DIR
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ADMIN = "postgres"


def bindir() -> Path | None:
    """Where initdb and pg_ctl are: $PG_BINDIR, Debian's newest /usr/lib/postgresql/N/bin, else PATH."""
    explicit = os.environ.get("PG_BINDIR")
    if explicit:
        return Path(explicit)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Cluster:
    root: Path
    port: int
    bin: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, user: str = ADMIN, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(_as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                                      "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start(max_connections: int = 300) -> Cluster:
    """initdb and start a cluster; raise RuntimeError saying what is missing if it cannot."""
    bin_ = bindir()
    if bin_ is None or not (bin_ / "initdb").exists():
        raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) were not found; install them with: "
                           "sudo apt-get install postgresql (or set PG_BINDIR)")
    root = Path(tempfile.mkdtemp(prefix="cycle-pg-"))
    os.chmod(root, 0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = Cluster(root, _free_port(), bin_)
    try:
        _run([str(bin_ / "initdb"), "-D", str(cluster.data), "-U", ADMIN, "--auth=trust", "-E", "UTF8",
              "--locale=C.UTF-8", "--no-sync"])
        opts = (f"-c listen_addresses=127.0.0.1 -c port={cluster.port} -k {root} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={max_connections} "
                f"-c shared_buffers=128MB")
        _run([str(bin_ / "pg_ctl"), "-D", str(cluster.data), "-l", str(root / "server.log"), "-o", opts, "-w",
              "-t", "60", "start"])
    except BaseException:
        log = root / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        cluster.stop()
        if detail:
            print(detail, file=sys.stderr)
        raise
    return cluster


def _run(cmd: list[str]) -> None:
    done = subprocess.run(_as_owner(cmd), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:1])} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")


def wait_ready(cluster: Cluster, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", cluster.port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"PostgreSQL did not start listening on 127.0.0.1:{cluster.port}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        c = start()
        print(f"CYCLE_TEST_PG_URL={c.url()}\nCYCLE_TEST_PG_DIR={c.root}")
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        root = Path(argv[1])
        bin_ = bindir()
        if bin_ is not None:
            Cluster(root, 0, bin_).stop()
        return 0
    print("usage: python -m tests.pgcluster start | stop DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
