"""``/metrics`` scraped while a bounded load runs, against the counts of the load itself.

``ivr serve`` runs as its own process (HTTP, SMS and voice roles); SIPp places calls that
press 2 (each sends an SMS from the script), API clients send SMS over the Ozeki API with a
delivery-report URL, and ``ivr send-sms`` submits one more from a separate process sharing the
data directory, whose counts must add up in the server's /metrics (multiprocess mode). The
benchmarks (bench/sip_load.py, bench/api_bench.py) drive larger loads of the same kinds.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from callback_receiver import CallbackReceiver

from ivr.users import UserStore
from tests.integration.voice_peers import free_port, media_port, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CALLS, API_CLIENTS, API_PER_CLIENT = 10, 4, 10
PCAP = Path("/usr/share/sip-tester/dtmf_2833_2.pcap")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base: str) -> Samples:
    # Imported here: importing prometheus_client at collection time would fix this pytest
    # process's metrics in memory before any in-process server sets them up (ivr.metrics).
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(base + "/metrics", timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    sip_port: int
    config: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    http_port, sip_port = free_port(socket.SOCK_STREAM), free_port()
    low = 30000 + free_port() % 15000 * 2
    config = tmp_path / "ivr.conf"
    config.write_text(
        f"[ivr]\ndata_dir = {tmp_path}/var\n"
        f"[sms]\ndatabase_url = sqlite:///{tmp_path}/var/ivr.db\nretry_base_seconds = 0.05\n"
        "callback_allow = 127.0.0.0/8\n"
        f"[sms.transports]\nloopback = loopback://?delay=0.05\n"
        f"[sip]\nrtp_port_low = {low}\nrtp_port_high = {low + 200}\n"
        f"[audio]\ncache_dir = {tmp_path}/cache\n")
    users = UserStore(tmp_path / "var" / "users.db")
    users.add("app", "app-password", {"sms"})
    users.close()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr.cli", "serve", "--config", str(config), "--script",
         str(ROOT / "tests" / "data" / "sip" / "press2.xml"), "--sip-port", str(sip_port),
         "--http-port", str(http_port)], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http_port}"

    def healthy() -> bool:
        try:
            return requests.get(base + "/healthz", timeout=2).json()["roles"] == [
                "http", "sms", "voice"]
        except (requests.RequestException, ValueError):
            return False

    try:
        assert wait_until(healthy, 20), (tmp_path / "serve.log").read_text()[-3000:]
        yield Server(process, base, sip_port, config)
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def test_metrics_count_what_a_bounded_load_did(server: Server, receiver: CallbackReceiver,
                                               tmp_path: Path) -> None:
    before = scrape(server.base)
    assert value(before, "ivr_calls_active") == 0
    peak_active = 0.0
    scrapes = 0
    stop = threading.Event()

    def scraper() -> None:     # /metrics scraped all through the load, as Prometheus would
        nonlocal peak_active, scrapes
        while not stop.is_set():
            peak_active = max(peak_active, value(scrape(server.base), "ivr_calls_active"))
            scrapes += 1
            stop.wait(0.2)

    watcher = threading.Thread(target=scraper)
    watcher.start()
    try:
        sipp = subprocess.Popen(
            [shutil.which("sipp") or "sipp", f"127.0.0.1:{server.sip_port}", "-sf",
             str(ROOT / "tools" / "sipp" / "uac_digit.xml"), "-s", "ivr", "-m", str(CALLS),
             "-l", "5", "-r", "5", "-i", "127.0.0.1", "-p", str(free_port()),
             "-mp", str(media_port()), "-key", "pcap", str(PCAP), "-d", "2500",
             "-nostdin", "-timeout", "60", "-timeout_error", "-trace_err"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def client(n: int) -> list[int]:
            with requests.Session() as http:
                return [http.get(server.base + "/api", timeout=10, params={
                    "command": "SendSms", "Username": "app", "Password": "app-password",
                    "Recipient": f"+3620{n:02d}{i:05d}", "Message": f"load {n}/{i}",
                    "DeliveryReportURL": receiver.url + "/dlr"}).status_code
                    for i in range(API_PER_CLIENT)]

        with ThreadPoolExecutor(API_CLIENTS) as pool:
            codes = [c for batch in pool.map(client, range(API_CLIENTS)) for c in batch]
        cli = subprocess.run([sys.executable, "-m", "ivr.cli", "send-sms", "--config",
                              str(server.config), "--to", "+3611111111", "--text", "from cli"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        out, err = sipp.communicate(timeout=90)
        assert sipp.returncode == 0, out[-2000:] + err[-2000:]
    finally:
        stop.set()
        watcher.join(10)
    assert codes == [200] * (API_CLIENTS * API_PER_CLIENT)
    accepted = len(codes) + CALLS + 1       # API, one SendSms per call, the CLI's

    def settled() -> bool:
        now = scrape(server.base)
        return value(now, "ivr_sms_total", status="delivered", transport="loopback") - \
            value(before, "ivr_sms_total", status="delivered", transport="loopback") \
            >= accepted and value(now, "ivr_callbacks_pending") == 0 and \
            value(now, "ivr_calls_active") == 0

    assert wait_until(settled, 30)
    after = scrape(server.base)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert scrapes >= 5 and peak_active >= 1
    assert delta("ivr_http_requests_total", dialect="ozeki", code="200") == len(codes)
    for status in ("queued", "sent", "delivered"):
        assert delta("ivr_sms_total", status=status, transport="loopback") == accepted, status
    assert delta("ivr_sms_total", status="failed", transport="loopback") == 0
    assert delta("ivr_sms_delivery_seconds_count", transport="loopback") == accepted
    assert delta("ivr_calls_total", result="answered") == CALLS
    assert delta("ivr_call_answer_seconds_count") == CALLS
    assert value(after, "ivr_calls_active") == 0
    # Every call heard a prompt: ≥ 1 s of 20 ms packets each, in rounds of the media clock.
    assert delta("ivr_rtp_gap_seconds_count") >= 50
    # Callbacks: what the receiver got is what /metrics says was delivered.
    assert wait_until(lambda: delta_now("ivr_callbacks_total", before, server,
                                        result="delivered") == len(receiver.hits), 10)
    assert len(receiver.hits) >= len(codes)
    assert value(after, "ivr_store_queued_messages") == 0
    assert value(after, "ivr_role_up", role="voice") == 1
    assert value(after, "ivr_transport_healthy", transport="loopback") == 1
    # Every series the Grafana dashboard plots exists.
    dashboard = (ROOT / "docs" / "grafana" / "ivr-dashboard.json").read_text()
    plotted = {re.sub(r"_(bucket|total)$", "", name)
               for name in re.findall(r"\bivr_[a-z_]+", dashboard)}
    exposed = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name, _ in after}
    assert plotted <= exposed, plotted - exposed


def delta_now(name: str, before: Samples, server: Server, **labels: str) -> float:
    return value(scrape(server.base), name, **labels) - value(before, name, **labels)
