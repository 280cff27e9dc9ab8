"""Accepted SendSms requests/s: ivr's Ozeki API against Kannel's /cgi-bin/sendsms, same load.

Both servers run on 127.0.0.1 and are started and stopped here: `ivr serve --no-sip` (SQLite
store, loopback transport, every request committed before the answer) and Kannel (bearerbox
with store-type=file + smsbox + fakesmsc, as in shared/reference/kannel-baseline.md). The
same load generator drives both: N threads, one keep-alive HTTP/1.1 connection each, for a
fixed time per point; each request asks for a delivery report, like Ozeki's example URL.
Run: .venv/bin/python bench/api_bench.py [--seconds 5] [--concurrency 1,8,32]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers on port {port}")


def load(port: int, make_path: callable[[int, int], str], ok: callable[[int, bytes], bool],
         concurrency: int, seconds: float) -> tuple[float, float, float, int]:
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop_at = time.monotonic() + seconds

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = 0
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            conn.request("GET", make_path(n, i))
            response = conn.getresponse()
            body = response.read()
            latencies[n].append(time.perf_counter() - started)
            if not ok(response.status, body):
                errors[n] += 1
            i += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = sorted(x for part in latencies for x in part)
    p50 = statistics.median(flat) * 1000
    p99 = flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000
    return len(flat) / elapsed, p50, p99, sum(errors)


class IvrServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        config = workdir / "ivr.conf"
        config.write_text(f"[ivr]\ndata_dir = {workdir}/ivr\n[sms]\ndatabase_url = "
                          f"sqlite:///{workdir}/ivr/ivr.db\n[http]\nrate_limit_per_minute = 0\n"
                          "threads = 16\n")
        self.proc = subprocess.Popen([sys.executable, "-m", "ivr.cli", "serve", "--no-sip",
                                      "--demo", "--config", str(config), "--http-port",
                                      str(self.port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_http(self.port, "/openapi.json")

    def path(self, n: int, i: int) -> str:
        dlr = quote(f"http://127.0.0.1:9/dlr?n={n}", safe="")
        return ("/api?command=SendSms&Username=HTTP_User_1&Password=qwe123&Sender=%2b0615546669"
                f"&Recipient=%2b3620{n:03d}{i % 10000:04d}&Message=Hello+world"
                f"&DeliveryReportURL={dlr}")

    @staticmethod
    def ok(status: int, body: bytes) -> bool:
        return status == 200 and b"<Code>200</Code>" in body

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


class KannelServer:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "kannel"
        self.dir.mkdir()
        admin, box, smsc, self.port = free_port(), free_port(), free_port(), free_port()
        (self.dir / "kannel.conf").write_text(f"""
group = core
admin-port = {admin}
admin-password = bench
smsbox-port = {box}
box-allow-ip = 127.0.0.1
log-level = 1
log-file = "{self.dir}/bearerbox.log"
store-type = file
store-location = "{self.dir}/kannel.store"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {smsc}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {self.port}
log-level = 1
log-file = "{self.dir}/smsbox.log"

group = sendsms-user
username = bench
password = bench
max-messages = 10
""")
        conf = str(self.dir / "kannel.conf")
        self.procs = [subprocess.Popen(["bearerbox", conf], cwd=self.dir,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        time.sleep(1.0)
        self.procs.append(subprocess.Popen(
            ["/usr/lib/kannel/test/fakesmsc", "-H", "127.0.0.1", "-r", str(smsc), "-m", "0",
             "123 456 text nop"], cwd=self.dir, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        self.procs.append(subprocess.Popen(["smsbox", conf], cwd=self.dir,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(self.port, "/cgi-bin/sendsms")

    def path(self, n: int, i: int) -> str:
        dlr = quote(f"http://127.0.0.1:9/dlr?n={n}&type=%d", safe="")
        return ("/cgi-bin/sendsms?username=bench&password=bench&from=%2b0615546669"
                f"&to=%2b3620{n:03d}{i % 10000:04d}&text=Hello+world&dlr-mask=31&dlr-url={dlr}")

    @staticmethod
    def ok(status: int, body: bytes) -> bool:
        return status == 202

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGINT if proc is self.procs[1] else signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    kannel_available = shutil.which("bearerbox") is not None
    print(f"command: {' '.join(sys.argv)}")
    print(f"{'c':>3} | {'ivr req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} | "
          f"{'Kannel req/s':>12} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} | ratio")
    for concurrency in levels:
        with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
            ivr = IvrServer(Path(tmp))
            try:
                i_rate, i50, i99, ierr = load(ivr.port, ivr.path, ivr.ok, concurrency,
                                              args.seconds)
            finally:
                ivr.stop()
            if not kannel_available:
                print(f"{concurrency:>3} | {i_rate:9.0f} {i50:7.1f} {i99:7.1f} {ierr:4d} | "
                      "Kannel not installed")
                continue
            kannel = KannelServer(Path(tmp))
            try:
                k_rate, k50, k99, kerr = load(kannel.port, kannel.path, kannel.ok, concurrency,
                                              args.seconds)
            finally:
                kannel.stop()
        print(f"{concurrency:>3} | {i_rate:9.0f} {i50:7.1f} {i99:7.1f} {ierr:4d} | "
              f"{k_rate:12.0f} {k50:7.1f} {k99:7.1f} {kerr:4d} | {i_rate / k_rate:5.2f}",
              flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
