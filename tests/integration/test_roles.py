"""``ivr serve`` as separate role processes: each role killed with ``kill -9`` under load
comes back, nothing accepted is lost or sent twice, idle connections do not starve the API,
and SIGTERM drains the roles in order."""

from __future__ import annotations

import collections
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from sip_caller import CallResult, place_call

from tests.integration.roles_peers import AUTH, SendLoad, Served, peer_counts, statuses, wait_until
from tests.integration.test_serve import free_port, wait_for_api

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _config(tmp: Path, http_port: int, transport: str, sip: str = "enabled = no") -> Path:
    """SQLite, 2 HTTP workers, one SMS transport; SIP as ``sip`` says."""
    config = tmp / "ivr.conf"
    config.write_text(f"""[ivr]
data_dir = {tmp}/var
[sms]
database_url = sqlite:///{tmp}/var/ivr.db
workers = 4
# A killed SMS core's claims come back quickly; an interrupted send waits for its report.
claim_lease_seconds = 2
retry_base_seconds = 0.1
in_doubt_hold_seconds = 3
[sms.transports]
{transport}
[sip]
{sip}
[audio]
cache_dir = {tmp}/cache
[http]
port = {http_port}
workers = 2
header_timeout = 5
rate_limit_per_minute = 0
""")
    return config


def _active_calls(base: str) -> list[dict[str, str]]:
    reply = requests.get(f"{base}/api", timeout=10, params={
        "command": "ListActiveCalls", **AUTH, "format": "json"})
    return list(reply.json()["ActiveCalls"])


def test_idle_and_slow_connections_do_not_block_sendsms(tmp_path: Path) -> None:
    """500 connections that never send a byte, and one that sends half its headers, hold no
    Python thread: a SendSms is answered at once; the slow one is closed after
    [http] header_timeout."""
    http_port = free_port(socket.SOCK_STREAM)
    config = _config(tmp_path, http_port, "loopback = loopback://")
    config.write_text(config.read_text().replace("header_timeout = 5", "header_timeout = 2"))
    served = Served(tmp_path / "serve.log", "--demo", "--config", str(config))
    try:
        wait_for_api(http_port)
        idle = [socket.create_connection(("127.0.0.1", http_port)) for _ in range(500)]
        slow = socket.create_connection(("127.0.0.1", http_port))
        slow.sendall(b"GET /api?command=SendSms HTTP/1.1\r\nHost: x\r\n")
        try:
            began = time.monotonic()
            reply = requests.get(f"http://127.0.0.1:{http_port}/api", timeout=5, params={
                "command": "SendSms", **AUTH, "Recipient": "+3611", "Message": "idle"})
            assert "<SmsId>" in reply.text
            assert time.monotonic() - began < 2.0
            slow.settimeout(6)
            assert slow.recv(100) == b""            # closed by the server, unanswered
            assert time.monotonic() - began < 6.0
        finally:
            for sock in [*idle, slow]:
                sock.close()
    finally:
        assert served.stop() == 0


def test_kill_9_each_role_under_load(tmp_path: Path) -> None:
    sip_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    sip = (f"bind_port = {sip_port}\nrtp_port_low = 47200\nrtp_port_high = 47300\n"
           f"default_script = {ROOT}/tests/data/sip/press2.xml")
    config = _config(tmp_path, http_port, f"loopback = loopback://?delay=0&log={tmp_path}/peer.log",
                     sip)
    served = Served(tmp_path / "serve.log", "--demo", "--config", str(config))
    base = f"http://127.0.0.1:{http_port}"
    peer, db = tmp_path / "peer.log", tmp_path / "var" / "ivr.db"
    try:
        wait_for_api(http_port)
        for label in ("sms", "voice", "http-1", "http-2"):
            served.wait_started(label)
        load = SendLoad(base, threads=4).start()
        restarts: dict[str, float] = {}
        try:
            wait_until(lambda: len(load.ids) >= 50, 30, "50 messages accepted")
            restarts["http-1"] = served.kill_role("http-1")[2]
            wait_until(lambda: sum(peer_counts(peer).values()) >= len(load.ids) // 2 + 50, 30,
                       "dispatch under way")
            restarts["sms"] = served.kill_role("sms")[2]

            call: list[CallResult] = []
            caller = threading.Thread(target=lambda: call.append(place_call(
                f"127.0.0.1:{sip_port}", duration=6)), daemon=True)
            caller.start()
            wait_until(lambda: [c["CallState"] for c in _active_calls(base)] == ["InCall"],
                       15, "the call is up")
            time.sleep(1.0)     # past the INVITE's retransmissions (a new process would answer them)
            restarts["voice"] = served.kill_role("voice")[2]
            caller.join(20)
            assert _active_calls(base) == []     # its calls ended with it
            accepted_during_kills = len(load.ids)
            wait_until(lambda: len(load.ids) >= accepted_during_kills + 50, 30,
                       "the API keeps accepting after the kills")
        finally:
            load.stop()
        # The restarted voice process answers a call, and Hangup over the API (HTTP worker
        # -> control socket -> voice process) ends it.
        second: list[CallResult] = []
        caller = threading.Thread(target=lambda: second.append(place_call(
            f"127.0.0.1:{sip_port}", duration=8)), daemon=True)
        caller.start()
        wait_until(lambda: [c["CallState"] for c in _active_calls(base)] == ["InCall"], 15,
                   "the second call is up")
        call_id = _active_calls(base)[0]["CallId"]
        hangup = requests.get(f"{base}/api", timeout=10, params={
            "command": "Hangup", **AUTH, "CallId": call_id, "format": "json"}).json()
        assert hangup["Code"] == 200, hangup
        caller.join(20)
        assert second[0].status == 200 and second[0].bye_from_ivr
        assert second[0].ended_at < 7.0

        wait_until(lambda: set(statuses(db).values()) == {"delivered"}, 90,
                   "every message delivered")
        stored = statuses(db)
        sent = peer_counts(peer)
        # Every answered SmsId is a stored message, and it reached the network once.
        assert set(load.ids) <= set(stored)
        assert set(sent) == set(stored)
        duplicates = {i: n for i, n in sent.items() if n > 1}
        assert duplicates == {}
        print(f"\nroles under kill -9: {len(load.ids)} SmsIds, {load.failed} requests cut, "
              f"{len(stored)} stored, restarts (s): {restarts}, errors {dict(load.errors)}")
        for label, seconds in restarts.items():
            assert seconds < 5.0, f"{label} took {seconds:.1f} s to come back"
        log = served.text()
        for label in restarts:
            assert re.search(rf"{re.escape(label)} \(pid \d+\) killed by SIGKILL", log)
    finally:
        code = served.stop()
    assert code == 0
    log = served.text()
    drained = [line for line in log.splitlines() if ": stopping" in line]
    order = [re.sub(r"-\d+$", "", line.split("supervisor: ")[1].split(":")[0])
             for line in drained]
    assert order.index("voice") > max(i for i, r in enumerate(order) if r == "http")
    assert order.index("sms") > order.index("voice")
    assert "Traceback" not in log, log[-3000:]


def test_two_http_and_two_sms_processes_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    """Four separate commands sharing one PostgreSQL database, as on several machines:
    2,000 messages through two HTTP front ends, each submitted exactly once by one of two
    SMS cores bound to one SMSC, which sends every receipt to its first bind: the receipts of
    the other core's messages are matched through the shared store."""
    from smpp_sim import ReceiptKeepingSMSC, Submit

    from ivr.sms.store import MessageQuery
    from ivr.sms.store.postgres import PostgresStore

    store = PostgresStore(postgres_url)
    store.reset()
    smsc = ReceiptKeepingSMSC(receipt_delay=0.02, with_bind=False, resend_after=0).start()
    config = tmp_path / "ivr.conf"
    config.write_text(f"""[ivr]
data_dir = {tmp_path}/var
[sms]
database_url = {postgres_url}
database_pool_size = 4
[sms.transports]
smsc = smpp://ivr:secret@127.0.0.1:{smsc.port}?window=10&enquire_link=5
[sip]
enabled = no
[http]
rate_limit_per_minute = 0
""")
    ports = [free_port(socket.SOCK_STREAM) for _ in range(2)]
    common = ("--config", str(config))
    fronts: list[Served] = []
    cores = [Served(tmp_path / f"sms{n}.log", "--role", "sms", *common) for n in range(2)]
    served = cores
    total = 2000
    try:
        for n, port in enumerate(ports):
            # One after the other: both create the demo user in the shared users.db.
            fronts.append(Served(tmp_path / f"http{n}.log", "--role", "http", "--http-workers",
                                 "1", "--http-port", str(port), "--demo", *common))
            served = cores + fronts
            wait_for_api(port)
        wait_until(lambda: smsc.binds >= 2, 30, "both cores bound")
        ids: list[str] = []
        lock = threading.Lock()

        def send(n: int) -> None:
            session = requests.Session()
            base = f"http://127.0.0.1:{ports[n % 2]}/api"
            for i in range(n, total, 8):
                reply = session.get(base, timeout=30, params={
                    "command": "SendSms", **AUTH, "Recipient": f"+3640{i:07d}",
                    "Message": f"pg {i}", "format": "json"})
                with lock:
                    ids.append(reply.json()["SmsId"])

        senders = [threading.Thread(target=send, args=(n,)) for n in range(8)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join(300)
        assert len(set(ids)) == total

        def delivered() -> int:
            return store.query(MessageQuery(status="delivered", limit=1))[1]
        wait_until(lambda: delivered() == total, 120, "2,000 messages delivered")
        accepted: list[Submit] = smsc.accepted()
        per_text = collections.Counter(s.text for s in accepted)
        assert set(per_text) == {f"pg {i}" for i in range(total)}
        assert max(per_text.values()) == 1
        sent_by = [len(re.findall(r"sent via smsc", core.text())) for core in cores]
        reports_by = [len(re.findall(r"part report delivered|early delivered report", core.text()))
                      for core in cores]
        print(f"\npostgres, 2 http + 2 sms processes: {total} messages, submitted per core "
              f"{sent_by}, receipts matched per core {reports_by}")
        assert all(sent_by), "one core sent everything: the test proved no sharing"
        assert sum(reports_by) == total
        assert any(r > s for r, s in zip(reports_by, sent_by, strict=True)), \
            "no core matched a receipt of the other's submits"
    finally:
        codes = [s.stop() for s in served]
        store.close()
        smsc.stop()
    assert codes == [0, 0, 0, 0], [s.text()[-2000:] for s in served]


def test_kill_9_the_sms_core_mid_smpp_dispatch_under_api_load(tmp_path: Path) -> None:
    """The SMS core killed while it submits to an SMSC that keeps its receipts until
    acknowledged (as a real one does): the restarted core adopts the interrupted sends by
    their receipts, so every message reaches the SMSC exactly once."""
    from smpp_sim import ReceiptKeepingSMSC

    from tests.integration.test_crash_loopback import interrupted_sends

    smsc = ReceiptKeepingSMSC(receipt_delay=0.02, with_bind=False, resend_after=0).start()
    http_port = free_port(socket.SOCK_STREAM)
    config = _config(tmp_path, http_port,
                     f"smsc = smpp://ivr:secret@127.0.0.1:{smsc.port}?window=10&enquire_link=5")
    served = Served(tmp_path / "serve.log", "--no-sip", "--demo", "--config", str(config))
    db = tmp_path / "var" / "ivr.db"
    try:
        wait_for_api(http_port)
        served.wait_started("sms")
        load = SendLoad(f"http://127.0.0.1:{http_port}", threads=4).start()
        try:
            wait_until(lambda: len(smsc.accepted()) >= 100, 60, "100 messages at the SMSC")
            at_kill = len(smsc.accepted())
            served.kill_role("sms")
            wait_until(lambda: len(smsc.accepted()) >= at_kill + 100, 60,
                       "the restarted core sending")
        finally:
            load.stop()
        wait_until(lambda: set(statuses(db).values()) == {"delivered"}, 90,
                   "every message delivered")
        stored = statuses(db)
        per_text = collections.Counter(s.text for s in smsc.accepted())
        interrupted, adopted = interrupted_sends(db)
        print(f"\nSMS core killed mid-SMPP dispatch: {len(load.ids)} SmsIds, {len(stored)} "
              f"stored, {at_kill} at the SMSC when killed, interrupted sends {interrupted} "
              f"(adopted by their receipt {adopted}), {len(per_text)} distinct at the SMSC, "
              f"duplicates {sum(n - 1 for n in per_text.values())}")
        assert set(load.ids) <= set(stored)
        assert len(per_text) == len(stored)
        assert max(per_text.values()) == 1
    finally:
        code = served.stop()
        smsc.stop()
    assert code == 0


def test_restarting_an_http_worker_on_postgres_under_load(tmp_path: Path,
                                                          postgres_url: str) -> None:
    from ivr.sms.store import MessageQuery
    from ivr.sms.store.postgres import PostgresStore

    store = PostgresStore(postgres_url)
    store.reset()
    http_port = free_port(socket.SOCK_STREAM)
    peer = tmp_path / "peer.log"
    config = _config(tmp_path, http_port, f"loopback = loopback://?delay=0.05&log={peer}")
    config.write_text(config.read_text().replace(
        f"database_url = sqlite:///{tmp_path}/var/ivr.db",
        f"database_url = {postgres_url}\ndatabase_pool_size = 4"))
    served = Served(tmp_path / "serve.log", "--demo", "--config", str(config))
    try:
        wait_for_api(http_port)
        load = SendLoad(f"http://127.0.0.1:{http_port}", threads=4).start()
        try:
            wait_until(lambda: len(load.ids) >= 200, 30, "200 messages accepted")
            for _ in range(3):
                served.kill_role("http-1")
                time.sleep(1.5)
        finally:
            load.stop()
        # The drain scales with what the load got in (PostgreSQL delivers ~150/s here).
        wait_until(lambda: store.query(MessageQuery(status="delivered", limit=1))[1]
                   >= len(load.ids), 30 + len(load.ids) / 50, "every answered message delivered")
        sent = peer_counts(peer)
        assert set(load.ids) <= set(sent)
        assert max(sent.values()) == 1, "a message reached the peer twice"
    finally:
        served.stop()
        store.close()
