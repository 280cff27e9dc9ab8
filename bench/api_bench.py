"""Accepted SendSms requests/s: ivr's Ozeki API against Kannel's /cgi-bin/sendsms, same load,
checked end to end; optionally against the ceiling of a bare Flask app (``--ceiling``).

Every server runs on 127.0.0.1 and is started and stopped here: `ivr serve --no-sip` (its
process roles: granian HTTP workers, the SMS core; SQLite store, loopback transport, every
request committed before the answer), Kannel (bearerbox with store-type=file + smsbox +
fakesmsc, as in shared/reference/kannel-baseline.md) and bench/bare_flask.py. The same load
generator drives them: N threads, one keep-alive HTTP/1.1 connection each, for a fixed time
per point. Every request asks for a delivery report to a live local receiver
(bench/dlr_receiver.py, its own process) with a key of its own in the URL. After the load,
the point waits for the drain and checks that every accepted request's message reached the
SMSC side (ivr: the loopback transport's log; Kannel: fakesmsc's count) and that its final
delivery report arrived ("e2e" column: ok, or what is missing). "CPU ms/req" is the user +
system time of the server's processes (ivr: the supervisor and every role; Kannel: bearerbox
+ smsbox) during the load, divided by the requests answered; the load generator runs on the
same cores.
Optionally, in the same run and alternating with them: ivr from another source tree
(``--baseline DIR``, e.g. the branch's start), the HTTP role alone (``--http-alone``: ``ivr
serve --role http``, no SMS core) and the ceiling (``--ceiling``: bench/bare_flask.py, a Flask
route that does no work, under granian with ivr's worker count and threads).
Run: .venv/bin/python bench/api_bench.py [--seconds 10] [--concurrency 1,8,32]
     [--baseline DIR] [--http-alone] [--ceiling] [--threads 16] [--http-workers N]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
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
THREADS = 16      # Python threads per HTTP worker: ivr's [http] threads, the bare ceiling's
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


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (ivr serve's roles are its children)."""
    pids = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        pids.extend(process_tree(int(child)))
    return pids


class DlrReceiver:
    """bench/dlr_receiver.py in its own process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "dlr_receiver.py"),
                                      str(self.port)])
        wait_http(self.port, "/_count")

    def _get(self, path: str) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", path)
        return conn.getresponse().read().decode()

    def final(self) -> int:
        return int(self._get("/_count").split()[1])

    def keys(self) -> set[str]:
        return set(self._get("/_keys").split())

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.port}/dlr?k={key}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


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

    def path(self, n: int, i: int, dlr_url: str) -> str: ...

    def ok(self, status: int, body: bytes) -> bool: ...

    def pids(self) -> list[int]: ...

    def at_smsc(self) -> int: ...

    def stop(self) -> None: ...


@dataclass
class Point:
    rate: float          # answered requests per second
    p50: float           # ms
    p99: float           # ms
    errors: int          # answers that were not an acceptance
    cpu_ms: float        # server CPU per answered request
    e2e: str = ""        # "ok" when every accepted message reached the SMSC and reported back
    drain: float = 0.0   # seconds after the load until the last report arrived

    def cells(self) -> str:
        return (f"{self.rate:9.0f} {self.p50:7.1f} {self.p99:7.1f} {self.errors:4d} "
                f"{self.cpu_ms:6.2f} {self.e2e:>10}")


def measure(make: Callable[[str], Server], concurrency: int, seconds: float,
            drain_timeout: float = 120.0, check: bool = True) -> Point:
    """Load a server for ``seconds``, wait for the drain, check it end to end, then stop it
    (whatever happens). ``make(dlr_base)`` starts the server."""
    receiver = DlrReceiver()
    try:
        server = make(receiver.url(""))
        try:
            cpu = cpu_seconds(server.pids())
            rate, p50, p99, errors, accepted = load(server.port, server.path, server.ok,
                                                    concurrency, seconds, receiver.url)
            cpu = cpu_seconds(server.pids()) - cpu
            point = Point(rate, p50, p99, errors, cpu * 1000 / max(len(accepted), 1))
            if check:
                point.e2e, point.drain = check_end_to_end(server, receiver, accepted,
                                                          drain_timeout)
        finally:
            server.stop()
    finally:
        receiver.stop()
    return point


def check_end_to_end(server: Server, receiver: DlrReceiver, accepted: set[str],
                     timeout: float) -> tuple[str, float]:
    """Wait until every accepted request's final report arrived (or ``timeout``); then
    compare what the SMSC side got. ("ok", seconds) or (what is missing, seconds)."""
    began = time.monotonic()
    while receiver.final() < len(accepted) and time.monotonic() - began < timeout:
        time.sleep(0.2)
    drained = time.monotonic() - began
    missing_reports = len(accepted - receiver.keys())
    at_smsc = server.at_smsc()
    problems = []
    if missing_reports:
        problems.append(f"{missing_reports}dlr")
    if at_smsc != len(accepted):
        problems.append(f"smsc{at_smsc - len(accepted):+d}")
    counted = getattr(server, "counted", None)   # what ivr's /metrics says it did
    if counted is not None:
        problems += [f"metrics:{name}{value - len(accepted):+d}"
                     for name, value in counted().items() if value != len(accepted)]
    return (",".join(problems) or "ok"), drained


def load(port: int, make_path: Callable[[int, int, str], str],
         ok: Callable[[int, bytes], bool], concurrency: int, seconds: float,
         dlr_url: Callable[[str], str]) -> tuple[float, float, float, int, set[str]]:
    """(answered/s, p50 ms, p99 ms, errors, keys of the accepted requests)."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    accepted: list[list[str]] = [[] for _ in range(concurrency)]
    stop_at = time.monotonic() + seconds

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = 0
        while time.monotonic() < stop_at:
            key = f"{n}-{i}"
            started = time.perf_counter()
            conn.request("GET", make_path(n, i, quote(dlr_url(key), safe="")))
            response = conn.getresponse()
            body = response.read()
            latencies[n].append(time.perf_counter() - started)
            if ok(response.status, body):
                accepted[n].append(key)
            else:
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
    return len(flat) / elapsed, p50, p99, sum(errors), {k for part in accepted for k in part}


class IvrServer:
    """``ivr serve --no-sip`` of this tree, or of ``source`` (an export of another commit,
    run with this tree's interpreter: ``python -m`` imports the ``ivr`` of its cwd first);
    ``threads``: ``[http] threads`` (Python threads per HTTP worker)."""

    def __init__(self, workdir: Path, extra: tuple[str, ...] = (), *, source: Path = ROOT,
                 threads: int = THREADS) -> None:
        self.port = free_port()
        self.peer_log = workdir / "ivr" / "peer.log"
        config = self.write_config(workdir)
        if threads != THREADS:
            config.write_text(config.read_text().replace(f"threads = {THREADS}\n",
                                                         f"threads = {threads}\n"))
        self._spawn(["-m", "ivr.cli", "serve", "--no-sip", "--demo", "--config", str(config),
                     "--http-port", str(self.port), *extra], "/openapi.json", source)

    def _spawn(self, argv: list[str], probe: str, cwd: Path = ROOT) -> None:
        """Start ``python argv`` and wait until ``probe`` answers (stopped if it never does)."""
        self.proc = subprocess.Popen([sys.executable, *argv], cwd=cwd,
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
                          f"sqlite:///{workdir}/ivr/ivr.db\n[sms.transports]\nloopback = "
                          f"loopback://?log={workdir}/ivr/peer.log\n"
                          f"[http]\nrate_limit_per_minute = 0\nthreads = {THREADS}\n")
        return config

    @staticmethod
    def path(n: int, i: int, dlr_url: str) -> str:
        return ("/api?command=SendSms&Username=HTTP_User_1&Password=qwe123&Sender=%2b0615546669"
                f"&Recipient=%2b3620{n:03d}{i % 10000:04d}&Message=Hello+world"
                f"&DeliveryReportURL={dlr_url}")

    @staticmethod
    def ok(status: int, body: bytes) -> bool:
        return status == 200 and b"<Code>200</Code>" in body

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def counted(self) -> dict[str, int]:
        """From ivr's /metrics (every HTTP worker and role added up): SendSms answered 200,
        messages delivered, callbacks delivered — each must equal the accepted requests."""
        import re
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                    timeout=10) as response:
            text = response.read().decode()

        def total(pattern: str) -> int:
            return int(sum(float(m.group(1)) for m in re.finditer(
                pattern + r" (\S+)$", text, re.MULTILINE)))

        return {"http200": total(r'ivr_http_requests_total\{code="200",dialect="ozeki"\}'),
                "delivered": total(r'ivr_sms_total\{status="delivered",transport="[^"]*"\}'),
                "callbacks": total(r'ivr_callbacks_total\{result="delivered"\}')}

    def at_smsc(self) -> int:
        """Messages the loopback "network" took, each counted once (duplicates would show
        as more lines than messages)."""
        lines = [x for x in self.peer_log.read_text().splitlines() if x.strip()] \
            if self.peer_log.exists() else []
        ids = {line.split()[0] for line in lines}
        return len(ids) + (len(lines) - len(ids))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class BareFlaskServer(IvrServer):
    """bench/bare_flask.py: Flask answering a fixed SendSms result, no work, under granian
    (``workers`` processes driven as ivr drives its HTTP workers) or waitress."""

    counted = None                 # a bare Flask app has no /metrics

    def __init__(self, workdir: Path, server: str = "granian", workers: int = 0,
                 threads: int = THREADS) -> None:
        self.port = free_port()
        self._spawn([str(ROOT / "bench" / "bare_flask.py"), str(self.port), str(threads),
                     "--server", server, "--workers", str(workers or os.cpu_count() or 1)],
                    "/api")

    def at_smsc(self) -> int:
        return 0


FAKE_SMSC = """group = smsc
smsc = fake
smsc-id = fake
port = {smsc_port}
connect-allow-ip = 127.0.0.1
"""


class KannelServer:
    """bearerbox + smsbox; the SMSC is fakesmsc unless ``smsc`` (a ``group = smsc`` block,
    e.g. ``smsc = smpp`` towards tools/smpp_sim.py) is given."""

    def __init__(self, workdir: Path, smsc: str = "") -> None:
        self.dir = workdir / "kannel"
        self.dir.mkdir()
        admin, box, smsc_port, self.port = free_port(), free_port(), free_port(), free_port()
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

{smsc or FAKE_SMSC.format(smsc_port=smsc_port)}
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
        self.fakesmsc_out = self.dir / "fakesmsc.out"
        with open(self.fakesmsc_out, "wb") as out:
            # With an SMPP SMSC this is an idle stand-in (nothing routes to it).
            self.procs.append(subprocess.Popen(
                ["/usr/lib/kannel/test/fakesmsc", "-H", "127.0.0.1", "-r", str(smsc_port),
                 "-m", "0", "123 456 text nop"], cwd=self.dir, stdout=out,
                stderr=subprocess.STDOUT))
        self.procs.append(subprocess.Popen(["smsbox", conf], cwd=self.dir,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            wait_http(self.port, "/cgi-bin/sendsms")
        except BaseException:
            self.stop()
            raise

    def path(self, n: int, i: int, dlr_url: str) -> str:
        dlr = dlr_url + quote("&type=%d", safe="")
        return ("/cgi-bin/sendsms?username=bench&password=bench&from=%2b0615546669"
                f"&to=%2b3620{n:03d}{i % 10000:04d}&text=Hello+world&dlr-mask=31&dlr-url={dlr}")

    @staticmethod
    def ok(status: int, body: bytes) -> bool:
        return status == 202

    def pids(self) -> list[int]:
        return [self.procs[0].pid, self.procs[2].pid]     # bearerbox, smsbox (not fakesmsc)

    def at_smsc(self) -> int:
        """What fakesmsc received: it prints its count when interrupted (it stops here)."""
        fake = self.procs[1]
        fake.send_signal(signal.SIGINT)
        fake.wait(15)
        found = re.findall(r"(\d+) received", self.fakesmsc_out.read_text(errors="replace"))
        return int(found[-1]) if found else -1

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc is self.procs[1] else signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


# Kannel with TCP_NODELAY forced (shared/reference/kannel-baseline.md): the stretch goal.
KANNEL_NODELAY = {1: 1607.0, 8: 2148.0, 32: 2503.0}


@dataclass
class System:
    name: str
    make: Callable[[Path], Server]
    check: bool = True           # end to end (an HTTP role alone or a bare app has no SMSC)


def systems(args: argparse.Namespace) -> list[System]:
    """What each point measures, in the order they alternate."""
    extra = ("--http-workers", str(args.http_workers)) if args.http_workers else ()
    base: Path | None = args.baseline
    found: list[System] = [
        System("ivr", lambda tmp: IvrServer(tmp, extra, threads=args.threads))]
    if base is not None:
        found.append(System("ivr (base)", lambda tmp: IvrServer(tmp, extra, source=base)))
    if shutil.which("bearerbox") is not None:
        found.append(System("Kannel", lambda tmp: KannelServer(tmp)))
    if args.http_alone:
        role = (*extra, "--role", "http")
        found.append(System("ivr HTTP role alone", lambda tmp: IvrServer(
            tmp, role, threads=args.threads), check=False))
        if base is not None:
            found.append(System("ivr HTTP role alone (base)", lambda tmp: IvrServer(
                tmp, role, source=base), check=False))
    if args.ceiling:
        workers = args.http_workers or os.cpu_count() or 1
        found.append(System(f"bare Flask, granian x{workers}", lambda tmp: BareFlaskServer(
            tmp, "granian", workers, args.threads), check=False))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--http-workers", type=int, default=0,
                        help="ivr's HTTP worker processes (0: one per core)")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="[http] threads: Python threads per HTTP worker")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also run ivr from DIR (e.g. `git archive <commit>` unpacked)")
    parser.add_argument("--http-alone", action="store_true",
                        help="also measure `ivr serve --role http` (no SMS core; no e2e check)")
    parser.add_argument("--ceiling", action="store_true",
                        help="also measure bench/bare_flask.py under granian with ivr's "
                             "worker count and threads (no work; no e2e check)")
    parser.add_argument("--only", default="",
                        help="comma-separated names (or prefixes) of the servers to measure")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every system this many times per point, alternating")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    measured = systems(args)
    if args.only:
        wanted = [name.strip() for name in args.only.split(",")]
        measured = [s for s in measured if any(s.name.startswith(w) for w in wanted)]
    print(f"command: {' '.join(sys.argv)}")
    print("| c | server | req/s | p50 / p99 ms | errors | CPU ms/req | e2e | drain s |")
    print("|---:|---|---:|---:|---:|---:|---|---:|")
    for concurrency in levels:
        rates: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for system in measured:
                with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
                    point = measure(lambda dlr, s=system, t=Path(tmp): s.make(t),
                                    concurrency, args.seconds, check=system.check)
                rates.setdefault(system.name, []).append(point.rate)
                print(f"| {concurrency} | {system.name} | {point.rate:,.0f} | {point.p50:.1f} / "
                      f"{point.p99:.1f} | {point.errors} | {point.cpu_ms:.2f} | "
                      f"{point.e2e or '-'} | {point.drain:.1f} |", flush=True)
        print(f"|   | ratios at c={concurrency} | {ratios(rates, concurrency)} |||||| ",
              flush=True)


def ratios(rates: dict[str, list[float]], concurrency: int) -> str:
    """ivr against Kannel (measured, and the TCP_NODELAY reference) and against its base."""
    def mean(name: str) -> float | None:
        values = rates.get(name)
        return statistics.mean(values) if values else None

    ivr, kannel, base = mean("ivr"), mean("Kannel"), mean("ivr (base)")
    parts = []
    if ivr and kannel:
        parts.append(f"ivr/Kannel {ivr / kannel:.2f}")
    if ivr and concurrency in KANNEL_NODELAY:
        parts.append(f"ivr/Kannel-NODELAY {ivr / KANNEL_NODELAY[concurrency]:.2f}")
    if ivr and base:
        parts.append(f"ivr/base {ivr / base:.2f}")
    alone, alone_base = mean("ivr HTTP role alone"), mean("ivr HTTP role alone (base)")
    if alone and alone_base:
        parts.append(f"HTTP role/base {alone / alone_base:.2f}")
    bare = next((mean(name) for name in rates if name.startswith("bare Flask")), None)
    if alone and bare:
        parts.append(f"HTTP role/bare Flask {alone / bare:.2f}")
    return ", ".join(parts)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
