"""``ivr send-sms`` / ``ivr sms list|show`` as a user runs them: real subprocesses, one
SQLite file shared between the runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ivr(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], cwd=str(tmp), env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def config(tmp: Path) -> str:
    path = tmp / "sms.ini"
    path.write_text("[ivr]\ndata_dir = var\n[sms]\ndatabase_url = sqlite:///var/ivr.db\n"
                    "retry_base_seconds = 0.05\n[sms.transports]\n"
                    "loopback = loopback://?delay=0.05&fail=^\\+999\n", encoding="utf-8")
    return str(path)


def test_send_wait_list_show(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    sent = ivr(tmp_path, "send-sms", "--config", cfg, "--to", "+1 (555) 123-1234",
               "--text", "ű" * 100, "--wait", "--timeout", "60")
    assert sent.returncode == 0, sent.stderr
    assert "status: delivered" in sent.stdout
    assert sent.stdout.count("provider id") == 2           # UCS-2, 100 chars: two parts
    message_id = sent.stdout.split()[1]

    failed = ivr(tmp_path, "send-sms", "--config", cfg, "--to", "+9991234", "--text", "x",
                 "--wait", "--timeout", "60")
    assert failed.returncode == 1
    assert "status: failed (error 30003" in failed.stdout

    queued = ivr(tmp_path, "send-sms", "--config", cfg, "--to", "+3611", "--text", "later")
    assert queued.returncode == 0 and "queued" in queued.stdout

    listing = ivr(tmp_path, "sms", "--config", cfg, "list", "--limit", "10")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert len(lines) == 3 and "queued" in lines[0] and "delivered" in lines[2]

    shown = ivr(tmp_path, "sms", "show", message_id, "--config", cfg)
    assert shown.returncode == 0, shown.stderr
    assert "status     delivered" in shown.stdout and "+15551231234" in shown.stdout
    assert shown.stdout.count("part ") == 2 and "accepted by loopback" in shown.stdout

    missing = ivr(tmp_path, "sms", "show", "no-such-id", "--config", cfg)
    assert missing.returncode == 1


def test_explicit_transport_url_and_bad_number(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    via_url = ivr(tmp_path, "send-sms", "--config", cfg, "--to", "+3611", "--text", "hi",
                  "--transport", "loopback://?delay=0", "--wait", "--timeout", "60")
    assert via_url.returncode == 0, via_url.stderr
    assert "status: delivered" in via_url.stdout
    bad = ivr(tmp_path, "send-sms", "--config", cfg, "--to", "not a number", "--text", "x")
    assert bad.returncode == 2 and "Recipient" in bad.stderr


def test_webhook_prints_the_provider_dlr_url_with_its_token(tmp_path: Path) -> None:
    conf = config(tmp_path)
    done = ivr(tmp_path, "sms", "webhook", "loopback", "--config", conf)
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:9509/dlr/http/loopback\?token=[0-9a-f]{32}", url)
    again = ivr(tmp_path, "sms", "webhook", "loopback", "--kind", "restcomm", "--config", conf)
    assert again.stdout.strip() == url.replace("/dlr/http/", "/dlr/restcomm/")  # stable key
    missing = ivr(tmp_path, "sms", "webhook", "nope", "--config", conf)
    assert missing.returncode == 1 and "no transport 'nope'" in missing.stderr


def test_instances_with_their_own_data_dir_keep_their_own_messages(tmp_path: Path) -> None:
    """Issue 12's new-user case: two configurations that differ only in ``data_dir``, used
    from one working directory, each with the default database."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.conf").write_text(
            f"[ivr]\ndata_dir = {name}-data\n[sms.transports]\nloopback = loopback://\n",
            encoding="utf-8")
    sent = ivr(tmp_path, "send-sms", "--config", "a.conf", "--to", "+3611", "--text", "A's")
    assert sent.returncode == 0, sent.stderr
    assert f"database: sqlite:///{tmp_path / 'a-data' / 'ivr.db'}" in sent.stderr
    listed = {name: ivr(tmp_path, "sms", "list", "--config", f"{name}.conf")
              for name in ("a", "b")}
    assert "A's" in listed["a"].stdout and "1 of 1" in listed["a"].stderr
    assert listed["b"].stdout == "" and "0 of 0" in listed["b"].stderr
    assert f"database: sqlite:///{tmp_path / 'b-data' / 'ivr.db'}" in listed["b"].stderr
    assert (tmp_path / "a-data" / "ivr.db").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "a-data").stat().st_mode & 0o777 == 0o700
