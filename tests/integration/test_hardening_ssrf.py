"""SSRF (security issue item 9), observed: in a network namespace with only ``lo``, the
metadata addresses are real listeners that count connections, and the real callback sender
with the default policy is pointed at them by address, by IPv4-mapped spelling and by a host
name that resolves there. Not one connection may arrive. Plus DNS rebinding: the connection
goes to the address that was checked, not to a second answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ivr.sms.callbacks import CallbackSender
from ivr.sms.store import SqliteStore
from ivr.urlpolicy import DEFAULT_DENY, UrlPolicy
from tests.integration.test_callback_sender import enqueue

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ["169.254.169.254", "100.100.100.200", "168.63.129.16"]


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to make a network namespace")
    name = f"ivr-ssrf-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    hosts = Path("/etc/netns") / name
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        for address in FORBIDDEN:
            subprocess.run(["ip", "-n", name, "addr", "add", f"{address}/32", "dev", "lo"],
                           check=True)
        hosts.mkdir(parents=True, exist_ok=True)    # bind-mounted over /etc/hosts inside
        (hosts / "hosts").write_text("127.0.0.1 localhost\n169.254.169.254 metadata.test\n"
                                     "127.0.0.1 local.test\n")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(hosts, ignore_errors=True)


def test_default_policy_never_connects_to_metadata_or_loopback(netns: str) -> None:
    urls = ["http://169.254.169.254:8080/latest/meta-data/",
            "http://[::ffff:169.254.169.254]:8080/x",
            "http://metadata.test:8080/x",           # a name that resolves there
            "http://100.100.100.200:8080/x",
            "http://168.63.129.16:8080/x",
            "http://0.0.0.0:8080/x",                 # reaches the local host on Linux
            "http://127.0.0.1:8080/x",
            "http://local.test:8080/x"]
    result = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "tests.integration.ssrf_probe",
         *urls], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
        text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["connections"] == {address: 0 for address in
                                     ["169.254.169.254", "127.0.0.1", *FORBIDDEN[1:]]}
    assert [state for _, state, _ in report["jobs"]] == ["refused"] * len(urls), report


class _Recorder(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.hosts.append(self.headers.get("Host", ""))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_connection_goes_to_the_checked_address_not_a_second_answer(tmp_path: Path) -> None:
    """The first answer (127.0.0.1, allowed here) is checked; every later answer says
    169.254.169.254. The callback must reach the checked address, and the name must be
    resolved once per attempt: never again between the check and the connect."""
    answers: list[str] = []

    def rebinding(host: str) -> list[str]:
        answers.append(host)
        return ["127.0.0.1"] if len(answers) == 1 else ["169.254.169.254"]

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    store = SqliteStore(tmp_path / "s.db")
    try:
        enqueue(store, f"http://rebind.test:{server.server_port}/dlr")
        policy = UrlPolicy(["127.0.0.0/8"], DEFAULT_DENY, resolver=rebinding)
        sender = CallbackSender(store, b"k" * 32, policy)
        sender.start()
        try:
            deadline = time.monotonic() + 10
            while not _Recorder.hosts and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            sender.stop()
    finally:
        server.shutdown()
        store.close()
    assert _Recorder.hosts == [f"rebind.test:{server.server_port}"]
    assert answers == ["rebind.test"]


class _Ozml(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.hosts.append(self.headers.get("Host", ""))
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"<Response><Speak>pinned</Speak></Response>"
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self.hosts.append(self.headers.get("Host", ""))
        body = _wav()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _wav() -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 800)
    return out.getvalue()


def _rebinding() -> tuple[list[str], object]:
    answers: list[str] = []

    def resolve(host: str) -> list[str]:
        answers.append(host)
        return ["127.0.0.1"] if len(answers) == 1 else ["169.254.169.254"]

    return answers, resolve


@pytest.mark.parametrize("what", ["ozml", "audio"])
def test_ozml_fetches_and_play_downloads_connect_to_the_checked_address(
        what: str, tmp_path: Path) -> None:
    from ivr.ozml.fetch import HttpFetcher
    from ivr.voice.audio import fetch_audio

    answers, resolve = _rebinding()
    policy = UrlPolicy(["127.0.0.0/8"], DEFAULT_DENY, resolver=resolve)  # type: ignore[arg-type]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ozml)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Ozml.hosts = []
    url = f"http://rebind.test:{server.server_port}/x"
    try:
        if what == "ozml":
            fetched = HttpFetcher(policy=policy).fetch(url, {"NotificationName": "Test"})
            assert b"pinned" in fetched.body
        else:
            assert fetch_audio(url, str(tmp_path), str(tmp_path), policy=policy)
    finally:
        server.shutdown()
    assert _Ozml.hosts == [f"rebind.test:{server.server_port}"]
    assert answers == ["rebind.test"]
