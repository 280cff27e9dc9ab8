"""Start and stop a throwaway PostgreSQL cluster on 127.0.0.1 (tests, benchmarks, by hand).

The cluster lives in a new temporary directory, listens on a free TCP port on 127.0.0.1 only
(its Unix socket goes in the same directory), trusts local connections, and is deleted on
stop. PostgreSQL refuses to run as root, so when we are root the server runs as the
``postgres`` OS user (``runuser -u postgres --``) in a directory that user owns.

    python tools/postgres.py            # prints the URL, runs until Ctrl-C
    from postgres import TempPostgres   # tests: with TempPostgres() as pg: pg.url
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["TempPostgres", "find_bindir"]


def find_bindir() -> Path:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TempPostgres:
    """One disposable cluster with one database (``ivr_test``)."""

    def __init__(self, database: str = "ivr_test", timeout: float = 60.0) -> None:
        self.database = database
        self.timeout = timeout
        self.bindir = find_bindir()
        self.port = 0
        self.root: Path | None = None
        self._as_root = os.geteuid() == 0

    @property
    def datadir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout,
                              check=False, cwd="/")

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            raise RuntimeError(f"{what} failed ({result.returncode}): "
                               f"{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def start(self) -> TempPostgres:
        self.root = Path(tempfile.mkdtemp(prefix="ivr-pg-"))
        os.chmod(self.root, 0o700)
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._check(self._run(str(self.bindir / "initdb"), "-D", str(self.datadir),
                              "-U", "postgres", "--auth=trust", "-E", "UTF8",
                              "--no-sync"), "initdb")
        # A free port can be taken between our check and the bind: try a few.
        for _ in range(5):
            self.port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                       f"-c unix_socket_directories={self.root} -c fsync=on "
                       f"-c max_connections=50")
            result = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w",
                               "-t", str(int(self.timeout)), "-o", options,
                               "-l", str(self.root / "server.log"), "start")
            if result.returncode == 0:
                break
        else:
            self._check(result, "pg_ctl start")
        self._create_database()
        return self

    def _create_database(self) -> None:
        import psycopg

        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'CREATE DATABASE "{self.database}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.root is None:
            return
        if self.datadir.exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast",
                      "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="ivr")
    args = parser.parse_args()
    with TempPostgres(args.database) as pg:
        print(pg.url, flush=True)
        print("[sms] database_url = " + pg.url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
