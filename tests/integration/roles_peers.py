"""``ivr serve`` as a subprocess whose roles a test can find, kill and watch come back, and
a SendSms load that records every SmsId it was given."""

from __future__ import annotations

import collections
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Username": "HTTP_User_1", "Password": "qwe123"}
_SPAWNED = re.compile(r"ivr\.roles\.supervisor: (\S+): process (\d+)")
_STARTED = re.compile(r"\] ivr\.roles\.supervisor: (\S+): started \(pid (\d+)\)")


class Served:
    """One ``ivr serve`` (all roles, or ``--role``) with its output in ``log``."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with open(log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "ivr.cli", "serve", *args],
                                            cwd=str(ROOT), env=env, stdout=out,
                                            stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def pid_of(self, label: str) -> int:
        """The newest process of ``label`` (http-1, sms, voice) the supervisor started."""
        pids = [int(p) for name, p in _SPAWNED.findall(self.text()) if name == label]
        assert pids, f"no {label} process in the log"
        return pids[-1]

    def started(self, label: str) -> set[int]:
        return {int(pid) for name, pid in _STARTED.findall(self.text()) if name == label}

    def wait_started(self, label: str, not_pids: set[int] | None = None,
                     timeout: float = 30.0) -> tuple[int, float]:
        """(pid, monotonic time) of a ``label`` process not in ``not_pids`` that reported
        itself started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in self.started(label) - (not_pids or set()):
                return pid, time.monotonic()
            assert self.process.poll() is None, self.text()[-3000:]
            time.sleep(0.05)
        raise AssertionError(f"{label} did not start again within {timeout} s:\n"
                             f"{self.text()[-3000:]}")

    def kill_role(self, label: str) -> tuple[int, int, float]:
        """``kill -9`` the role's process; (old pid, new pid, seconds until the new one
        reported itself started)."""
        old = self.pid_of(label)
        before = self.started(label) | {old}
        os.kill(old, signal.SIGKILL)
        killed = time.monotonic()
        new, started = self.wait_started(label, not_pids=before)
        return old, new, started - killed

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise


class SendLoad:
    """``threads`` clients sending SendSms in a loop until :meth:`stop`; keeps every SmsId
    it was answered and counts requests that got none (cut by a kill)."""

    def __init__(self, base: str, threads: int = 4) -> None:
        self.base = base
        self.ids: list[str] = []
        self.failed = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                         for n in range(threads)]

    def start(self) -> SendLoad:
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, n: int) -> None:
        session = requests.Session()
        i = 0
        while not self._stop.is_set():
            i += 1
            try:
                reply = session.get(f"{self.base}/api", timeout=15, params={
                    "command": "SendSms", **AUTH, "Recipient": f"+36{n:02d}{i:07d}",
                    "Message": f"load {n} {i}", "format": "json"})
                sms_id = reply.json().get("SmsId", "") if reply.status_code == 200 else ""
                error = "" if sms_id else f"HTTP {reply.status_code} {reply.text[:80]}"
            except (requests.RequestException, ValueError) as exc:
                sms_id, error = "", exc.__class__.__name__
                session = requests.Session()
            with self._lock:
                if sms_id:
                    self.ids.append(sms_id)
                else:
                    self.failed += 1
                    self.errors[error] += 1

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def peer_counts(log: Path) -> collections.Counter[str]:
    """Message id -> parts the loopback "network" accepted (its ``log=`` file)."""
    if not log.exists():
        return collections.Counter()
    return collections.Counter(line.split()[0] for line in
                               log.read_text(encoding="utf-8").splitlines() if line.strip())


def statuses(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT id, status FROM messages"))
    finally:
        conn.close()


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        time.sleep(0.2)
