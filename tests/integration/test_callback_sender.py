"""The callback sender against real HTTP servers on 127.0.0.1: a receiver that hangs does not
hold back another application's reports, and the proxy environment is honoured."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ivr.sms.callbacks import CallbackSender, UrlPolicy
from ivr.sms.store import SqliteStore
from tests.manual_clock import ManualClock, drive, pass_time


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Receiver:
    """An HTTP server that records request lines; ``delay`` makes it hang first, ``status``
    is what it answers."""

    def __init__(self, delay: float = 0.0, host: str = "127.0.0.1") -> None:
        self.paths: list[str] = []
        self.arrived = threading.Event()
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                time.sleep(delay)
                receiver.paths.append(self.path)
                receiver.arrived.set()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server_class = _Server6 if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    backend = SqliteStore(tmp_path / "s.db")
    yield backend
    backend.close()


def enqueue(store: SqliteStore, url: str, message_id: str = "m1",
            now: float | None = None) -> None:
    now = time.time() if now is None else now
    with store.engine.tx() as db:
        db.execute("INSERT INTO callbacks (message_id, status, url, method, params, state, "
                   "next_attempt_at, created_at) VALUES (?, 'delivered', ?, 'GET', ?, "
                   "'pending', ?, ?)", (message_id, url, json.dumps({"SmsId": message_id}),
                                       now, now))


def wait_until(done: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def sender(store: SqliteStore, **kw: object) -> CallbackSender:
    return CallbackSender(store, b"k" * 32, UrlPolicy([], []), **kw)  # type: ignore[arg-type]


def test_a_hanging_receiver_does_not_hold_back_the_others(store: SqliteStore) -> None:
    slow, fast = Receiver(delay=3.0), Receiver()
    try:
        enqueue(store, f"http://127.0.0.1:{slow.port}/dlr", "slow")
        enqueue(store, f"http://127.0.0.1:{fast.port}/dlr", "fast")
        callbacks = sender(store, timeout=10.0)
        started = time.monotonic()
        callbacks.start()
        try:
            assert fast.arrived.wait(5)
            assert time.monotonic() - started < 1.5     # not after the slow one's 3 s
            assert slow.arrived.wait(10)
            deadline = time.monotonic() + 5
            while [s for _, s, _ in store.callback_states("slow")] != ["done"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            callbacks.stop()
        assert len(slow.paths) == 1 and len(fast.paths) == 1   # each sent exactly once
    finally:
        slow.close()
        fast.close()


def test_proxy_environment_is_used_and_no_proxy_respected(
        store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, direct = Receiver(), Receiver()
    try:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("no_proxy", "localhost")
        for name in ("HTTP_PROXY", "NO_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        callbacks = sender(store)
        # The policy still resolves the host itself, so use one that resolves here.
        assert callbacks.deliver(_job(store, "http://127.0.0.2:7/dlr?a=1")) is True
        assert proxy.paths and proxy.paths[0].startswith("http://127.0.0.2:7/dlr?a=1")
        assert callbacks.deliver(_job(store, f"http://localhost:{direct.port}/dlr")) is True
        assert direct.paths and direct.paths[0].startswith("/dlr?")
    finally:
        proxy.close()
        direct.close()


def _job(store: SqliteStore, url: str) -> object:
    enqueue(store, url, url)
    [job] = [j for j in store.callbacks_due(100) if j.url == url]
    return job


class Resolver:
    """The real resolver, noting the names the policy asked for (its lookups have no port;
    a connection's own lookup does)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        real = socket.getaddrinfo

        def counted(host: str, port: object, *args: object, **kw: object) -> object:
            if port is None:
                self.names.append(host)
            return real(host, port, *args, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(socket, "getaddrinfo", counted)


def test_acceptance_checks_reuse_a_resolution_for_its_ttl_attempts_never(
        store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = Resolver(monkeypatch)
    now = [1000.0]
    policy = UrlPolicy([], ["169.254.0.0/16"], resolve_ttl=10.0, clock=lambda: now[0])
    assert policy.check("http://localhost:9/a") == policy.check("http://LOCALHOST/b") == ""
    assert resolver.names == ["localhost"]               # the second check remembered it
    now[0] += 10.5
    assert policy.check("http://localhost:9/a") == ""
    assert resolver.names == ["localhost"] * 2           # expired: resolved again
    assert policy.check("http://localhost:9/a", fresh=True) == ""
    assert resolver.names == ["localhost"] * 3           # fresh: always resolved
    assert policy.check("http://127.0.0.1:9/a") == ""
    assert "denied" in policy.check("http://169.254.169.254/x", fresh=True)
    assert resolver.names == ["localhost"] * 3           # IP literals need no resolver

    # The sender checks before each attempt with a fresh resolution.
    receiver = Receiver()
    try:
        callbacks = CallbackSender(store, b"k" * 32, policy)
        url = f"http://localhost:{receiver.port}/dlr"
        for _ in range(2):
            assert callbacks.deliver(_job(store, url)) is True
        assert resolver.names == ["localhost"] * 5        # within the TTL, yet resolved
    finally:
        receiver.close()


@pytest.mark.parametrize("url", [
    "http://[::ffff:169.254.169.254]/latest/meta-data/",  # IPv4-mapped: reaches 169.254...
    "http://[::ffff:a9fe:a9fe]/x",
    "http://[fe80::1%25lo]/x",                             # with a zone
])
def test_policy_sees_through_ipv6_spellings_of_denied_addresses(url: str) -> None:
    policy = UrlPolicy([], ["169.254.0.0/16", "fe80::/10"])
    assert "denied" in policy.check(url)
    assert "denied" in policy.check(url, fresh=True)      # and again, from the verdict cache


def test_policy_caches_are_bounded() -> None:
    policy = UrlPolicy([], ["169.254.0.0/16"], cache_size=8)
    for n in range(50):
        assert policy.check(f"http://127.0.0.{n}/x") == ""
        assert "denied" in policy.check(f"http://169.254.0.{n}/x")
    assert len(policy._verdicts) <= 8 and len(policy._resolved) <= 8


def test_a_down_receiver_is_probed_not_flooded(tmp_path: Path) -> None:
    clock = ManualClock()
    store = SqliteStore(tmp_path / "clocked.db", clock.now)
    app = Receiver()
    app.status = 503
    url = f"http://127.0.0.1:{app.port}/dlr"
    callbacks = sender(store, base_delay=10.0, max_delay=40.0, clock=clock)
    try:
        for n in range(3):
            enqueue(store, url, f"first{n}", clock.now())
        callbacks.start()
        drive(clock, lambda: callbacks.health.wait_for(f"http://127.0.0.1:{app.port}") > 0,
              step=2.0)                            # three failures mark it down
        for n in range(20):                       # reports keep coming while it is down
            enqueue(store, url, f"later{n}", clock.now())
        callbacks.wake()
        before = len(app.paths)
        pass_time(clock, 150.0, step=2.0)
        probes = len(app.paths) - before
        # Down for 150 s: probes 10, 20, 40, 40 … s apart (a handful), not 23 reports each
        # retried on its own backoff.
        assert 2 <= probes <= 6, app.paths
        app.status = 200
        during = len(app.paths)
        drive(clock, lambda: len(set(app.paths[during:])) >= 23, step=2.0)
    finally:
        callbacks.stop()
        app.close()
        states = [s for n in range(20) for _, s, _ in store.callback_states(f"later{n}")]
        store.close()
    assert states == ["done"] * 20


def _deliver_one(store: SqliteStore, receiver: Receiver, url: str) -> None:
    """Run a sender until ``receiver`` got the callback enqueued for ``url``."""
    enqueue(store, url)
    callbacks = sender(store)
    callbacks.start()
    try:
        assert receiver.arrived.wait(10)
        time.sleep(0.2)            # the sender's log line after the answer
    finally:
        callbacks.stop()


def test_ipv6_literal_urls_reach_the_receiver(store: SqliteStore) -> None:
    receiver = Receiver(host="::1")
    try:
        _deliver_one(store, receiver, f"http://[::1]:{receiver.port}/dlr")
        assert receiver.paths == ["/dlr?SmsId=m1"]
    finally:
        receiver.close()


@pytest.mark.parametrize("url", [
    "http://[2001:db8::abcd]/dlr",        # ':abcd' was read as a port: InvalidURL, hot loop
    "http://[::1]:99999/dlr",             # a port out of range
    "http://127.0.0.1:notaport/dlr",
])
def test_a_url_that_cannot_be_attempted_backs_off_instead_of_looping(
        url: str, tmp_path: Path) -> None:
    clock = ManualClock()
    store = SqliteStore(tmp_path / "clocked.db", clock.now)
    enqueue(store, url, now=clock.now())
    callbacks = sender(store, base_delay=30.0, clock=clock)

    def attempts() -> tuple[int, str, float, str]:
        with closing(sqlite3.connect(tmp_path / "clocked.db")) as db:
            [row] = db.execute("SELECT attempts, state, next_attempt_at, last_error "
                               "FROM callbacks").fetchall()
        return row

    callbacks.start()
    try:
        wait_until(lambda: attempts()[0] >= 1)
        time.sleep(0.5)                       # real time, clock standing: no hot loop
        pass_time(clock, 20.0)                # inside the first backoff (30 s ± 20 %)
        count, state, next_at, error = attempts()
        assert count == 1, (count, error)
        assert state == "pending" and next_at >= clock.now() + 3 and error
        drive(clock, lambda: attempts()[0] == 2)  # the backoff over: attempted again
    finally:
        callbacks.stop()
        store.close()


def test_callback_url_credentials_never_reach_the_log(
        store: SqliteStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="ivr.sms.callbacks")
    receiver = Receiver()
    try:
        _deliver_one(store, receiver, f"http://app:s3cr3t-pw@127.0.0.1:{receiver.port}/dlr")
    finally:
        receiver.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "delivered to http://app:***@127.0.0.1" in text
    assert "s3cr3t-pw" not in text


def test_one_tenants_broken_receiver_does_not_delay_another_on_the_same_host(
        store: SqliteStore) -> None:
    """Security issue item 14: health is kept per owner and host. Tenant "broken" answers
    503 on its path; tenant "fine" shares the host and must get every report at once."""
    from tests.unit.sms.test_store import message

    app = Receiver()
    app.status = 200

    original = app.server.RequestHandlerClass

    class Handler(original):  # type: ignore[misc,valid-type]
        def do_GET(self) -> None:  # noqa: N802
            app.status = 503 if self.path.startswith("/broken") else 200
            super().do_GET()

    app.server.RequestHandlerClass = Handler
    for n in range(6):
        store.insert(message(f"b{n}", owner="broken"))
        enqueue(store, f"http://127.0.0.1:{app.port}/broken", f"b{n}")
    callbacks = sender(store, base_delay=5.0, max_delay=20.0)
    try:
        callbacks.start()
        deadline = time.monotonic() + 5
        while callbacks.health.wait_for(f"http://127.0.0.1:{app.port} (owner broken)") == 0:
            assert time.monotonic() < deadline, "three failures did not mark it down"
            time.sleep(0.02)
        for n in range(10):
            store.insert(message(f"f{n}", owner="fine"))
            enqueue(store, f"http://127.0.0.1:{app.port}/fine", f"f{n}")
        callbacks.wake()
        deadline = time.monotonic() + 5
        while sum(p.startswith("/fine") for p in app.paths) < 10:
            assert time.monotonic() < deadline, app.paths
            time.sleep(0.02)
    finally:
        callbacks.stop()
        app.close()
    assert [s for n in range(10) for _, s, _ in store.callback_states(f"f{n}")] == ["done"] * 10
