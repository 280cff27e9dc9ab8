"""Crash test: ``kill -9`` the service during dispatch, restart it, lose nothing, send
nothing twice.

500 messages are accepted (committed) by this process, then ``ivr serve`` runs them through
the loopback transport in a subprocess. The loopback "network" appends one line per part it
accepts to a file, which survives the kill, and re-sends the reports the service never
acknowledged when it starts again, as an SMSC does. The transport reports synchronously
(delay=0), so receipts also overtake submit results. After a ``kill -9`` mid-dispatch and a
restart, every message must have reached the peer exactly once and be delivered: a send
interrupted after the peer took it is recognised by its report and not sent again.
"""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ivr.call import SmsRequest
from ivr.config import load_settings
from ivr.service import build_sms_service

ROOT = Path(__file__).resolve().parents[2]
COUNT = 500


def _write_config(tmp: Path) -> Path:
    config = tmp / "crash.ini"
    config.write_text(
        "[ivr]\n"
        f"data_dir = {tmp / 'var'}\n"
        "[sms]\n"
        f"database_url = sqlite:///{tmp / 'var' / 'ivr.db'}\n"
        "workers = 4\n"
        # A short lease, so the restarted process reclaims the killed one's messages quickly.
        "claim_lease_seconds = 2\n"
        "retry_base_seconds = 0.1\n"
        "in_doubt_hold_seconds = 3\n"
        "[sms.transports]\n"
        f"loopback = loopback://?delay=0&log={tmp / 'peer.log'}\n"
        "[http]\n"
        "enabled = no\n",
        encoding="utf-8")
    return config


def _serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "serve", "--config", str(config), "--no-sip",
             "--no-http"], cwd=str(ROOT), env=env, stdout=out, stderr=subprocess.STDOUT)


def _peer_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _statuses(db: Path) -> collections.Counter[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return collections.Counter(s for (s,) in conn.execute("SELECT status FROM messages"))
    finally:
        conn.close()


def test_kill_9_during_dispatch_loses_nothing(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    settings = load_settings([config])
    service = build_sms_service(settings)
    ids = [service.submit_sms(SmsRequest(recipient=f"+3620{n:07d}", body=f"crash test {n}"))
           for n in range(COUNT)]
    service.store.close()
    peer = tmp_path / "peer.log"
    db = tmp_path / "var" / "ivr.db"
    server_log = tmp_path / "serve.log"

    kill_9_once(config, server_log, lambda: len(_peer_lines(peer)) >= COUNT // 5)
    at_kill = _statuses(db)
    sent_before_restart = len(_peer_lines(peer))
    assert sent_before_restart < COUNT, "killed too late: everything was already sent"
    restart_until_delivered(config, server_log, db, COUNT)

    per_message = collections.Counter(line.split()[0] for line in _peer_lines(peer))
    missing = [i for i in ids if per_message[i] == 0]
    duplicates = sum(n - 1 for n in per_message.values() if n > 1)
    interrupted, adopted = interrupted_sends(db)
    print(f"\ncrash test: {COUNT} messages, {sent_before_restart} at the peer when killed, "
          f"status at kill {dict(at_kill)}, interrupted sends {interrupted}, adopted by their "
          f"report {adopted}, duplicates after restart {duplicates}")
    assert not missing
    assert set(per_message) == set(ids)
    assert interrupted >= 1, "the kill interrupted no send: the test proved nothing"
    assert duplicates == 0


def kill_9_once(config: Path, log: Path, reached: Callable[[], bool]) -> None:
    """Run ``ivr serve`` and ``kill -9`` it as soon as ``reached()`` (dispatch under way)."""
    first = _serve(config, log)
    try:
        deadline = time.monotonic() + 60
        while not reached():
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "dispatch did not start"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()


def restart_until_delivered(config: Path, log: Path, db: Path, count: int) -> None:
    """Run ``ivr serve`` again until all ``count`` messages are delivered, then stop it."""
    second = _serve(config, log)
    try:
        deadline = time.monotonic() + 60
        while (statuses := _statuses(db)).get("delivered", 0) < count:
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not all final after restart: {statuses}"
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            second.kill()


def interrupted_sends(db: Path) -> tuple[int, int]:
    """(messages whose send the kill interrupted, those adopted by the peer's report)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        def count(pattern: str) -> int:
            return int(conn.execute("SELECT COUNT(DISTINCT message_id) FROM events "
                                    "WHERE detail LIKE ?", (pattern,)).fetchone()[0])
        return count("%interrupted (its lease ran out)%"), count("%adopted as sent%")
    finally:
        conn.close()
