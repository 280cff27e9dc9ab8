"""Accepted SendSms requests/s: ivr's Ozeki API against Kannel's /cgi-bin/sendsms, same load,
and against the ceiling of ivr's HTTP stack (waitress + Flask answering without any work).

Every server runs on 127.0.0.1 and is started and stopped here: `ivr serve --no-sip` (SQLite
store, loopback transport, every request committed before the answer), Kannel (bearerbox
with store-type=file + smsbox + fakesmsc, as in shared/reference/kannel-baseline.md) and
bench/bare_flask.py (one route returning a fixed SendSms result, same waitress threads as
ivr). The same load generator drives all three: N threads, one keep-alive HTTP/1.1
connection each, for a fixed time per point; each request asks for a delivery report, like
Ozeki's example URL. "CPU ms/req" is the user + system time of the server's processes
(ivr: `ivr serve`; Kannel: bearerbox + smsbox; ceiling: bare_flask.py) over the point,
divided by the requests answered; the load generator runs on the same cores.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
THREADS = 16      # waitress threads of ivr and of the bare Flask ceiling
_TICK = os.sysconf("SC_CLK_TCK")


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


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time so far of ``pids`` (all their threads), from /proc."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])     # utime, stime (fields 14 and 15)
    return total / _TICK


class Server(Protocol):
    port: int

    def path(self, n: int, i: int) -> str: ...

    def ok(self, status: int, body: bytes) -> bool: ...

    def pids(self) -> list[int]: ...

    def stop(self) -> None: ...


@dataclass
class Point:
    rate: float          # answered requests per second
    p50: float           # ms
    p99: float           # ms
    errors: int          # answers that were not an acceptance
    cpu_ms: float        # server CPU per answered request

    def cells(self) -> str:
        return (f"{self.rate:9.0f} {self.p50:7.1f} {self.p99:7.1f} {self.errors:4d} "
                f"{self.cpu_ms:6.2f}")


def measure(server: Server, concurrency: int, seconds: float) -> Point:
    """Load ``server`` for ``seconds``, then stop it (whatever happens)."""
    try:
        cpu = cpu_seconds(server.pids())
        rate, p50, p99, errors, answered = load(server.port, server.path, server.ok,
                                                concurrency, seconds)
        cpu = cpu_seconds(server.pids()) - cpu
    finally:
        server.stop()
    return Point(rate, p50, p99, errors, cpu * 1000 / max(answered, 1))


def load(port: int, make_path: Callable[[int, int], str], ok: Callable[[int, bytes], bool],
         concurrency: int, seconds: float) -> tuple[float, float, float, int, int]:
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
    return len(flat) / elapsed, p50, p99, sum(errors), len(flat)


class IvrServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self._spawn(["-m", "ivr.cli", "serve", "--no-sip", "--demo", "--config",
                     str(self.write_config(workdir)), "--http-port", str(self.port)],
                    "/openapi.json")

    def _spawn(self, argv: list[str], probe: str) -> None:
        """Start ``python argv`` and wait until ``probe`` answers (stopped if it never does)."""
        self.proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(self.port, probe)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def write_config(workdir: Path) -> Path:
        """The benchmark's ivr.conf in ``workdir`` (also used by bench/api_profile.py)."""
        config = workdir / "ivr.conf"
        config.write_text(f"[ivr]\ndata_dir = {workdir}/ivr\n[sms]\ndatabase_url = "
                          f"sqlite:///{workdir}/ivr/ivr.db\n[http]\nrate_limit_per_minute = 0\n"
                          f"threads = {THREADS}\n")
        return config

    @staticmethod
    def path(n: int, i: int) -> str:
        dlr = quote(f"http://127.0.0.1:9/dlr?n={n}", safe="")
        return ("/api?command=SendSms&Username=HTTP_User_1&Password=qwe123&Sender=%2b0615546669"
                f"&Recipient=%2b3620{n:03d}{i % 10000:04d}&Message=Hello+world"
                f"&DeliveryReportURL={dlr}")

    @staticmethod
    def ok(status: int, body: bytes) -> bool:
        return status == 200 and b"<Code>200</Code>" in body

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class BareFlaskServer(IvrServer):
    """bench/bare_flask.py: waitress + Flask answering a fixed SendSms result, no work."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self._spawn([str(ROOT / "bench" / "bare_flask.py"), str(self.port), str(THREADS)],
                    "/api")


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
        try:
            wait_http(self.port, "/cgi-bin/sendsms")
        except BaseException:
            self.stop()
            raise

    def path(self, n: int, i: int) -> str:
        dlr = quote(f"http://127.0.0.1:9/dlr?n={n}&type=%d", safe="")
        return ("/cgi-bin/sendsms?username=bench&password=bench&from=%2b0615546669"
                f"&to=%2b3620{n:03d}{i % 10000:04d}&text=Hello+world&dlr-mask=31&dlr-url={dlr}")

    @staticmethod
    def ok(status: int, body: bytes) -> bool:
        return status == 202

    def pids(self) -> list[int]:
        return [self.procs[0].pid, self.procs[2].pid]     # bearerbox, smsbox (not fakesmsc)

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
    columns = f"{'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} {'CPU ms':>6}"
    print(f"command: {' '.join(sys.argv)}")
    print(f"{'':>3} | {'ivr':<37} | {'Kannel':<37} | {'ceiling: bare waitress + Flask':<37} |"
          " ratio ivr/")
    print(f"{'c':>3} | {columns} | {columns} | {columns} | Kannel ceiling")
    for concurrency in levels:
        with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
            ivr = measure(IvrServer(Path(tmp)), concurrency, args.seconds)
            kannel = measure(KannelServer(Path(tmp)), concurrency, args.seconds) \
                if kannel_available else None
            ceiling = measure(BareFlaskServer(Path(tmp)), concurrency, args.seconds)
        kannel_cells = kannel.cells() if kannel else f"{'Kannel not installed':<37}"
        kannel_ratio = f"{ivr.rate / kannel.rate:6.2f}" if kannel else f"{'-':>6}"
        print(f"{concurrency:>3} | {ivr.cells()} | {kannel_cells} | {ceiling.cells()} | "
              f"{kannel_ratio} {ivr.rate / ceiling.rate:7.2f}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
