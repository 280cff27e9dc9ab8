"""Concurrent calls: SIPp places N simultaneous calls of a menu script (digit pressed), for
N = 10, 50, 100, 200. Reported per level: failed calls, answer time (SIPp's response time of
the INVITE), RTP pacing measured on the RTP we receive (a Python sink that the SDP points
every call's audio at; gaps per stream, mean and p99), and the IVR processes' CPU (each
`ivr serve` with all its role processes). With --processes N, N `ivr serve` processes run
behind a local Kamailio dispatcher (tools/kamailio/dispatcher.cfg, round robin) that SIPp
calls. With --api-concurrency C (isolation run), `ivr serve` also runs its HTTP workers and
SMS core, and C clients send SendSms (each with a delivery report to a live receiver)
throughout the calls: the voice process must keep its pacing while the API is busy.
With --check, `ivr serve` runs its HTTP API too and, after the calls, the run reads back
what ivr says it did: /metrics (calls ended, by result; answer-latency samples) and every
page of ListCallHistory (records, durations), printed beside SIPp's own counts.
With --total T, each level places T calls in all, the level's number at a time.
Run: .venv/bin/python bench/sip_load.py [--levels 10,50,100,200] [--api-concurrency 32]
     [--check] [--total 1000] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import csv
import glob
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
SCRIPT = ROOT / "tests" / "data" / "sip" / "press2.xml"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RtpSink:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.arrivals: dict[int, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                packet = self.sock.recv(2048)
            except TimeoutError:
                continue
            if len(packet) >= 12 and packet[1] & 0x7F == 0:
                ssrc = int.from_bytes(packet[8:12], "big")
                self.arrivals.setdefault(ssrc, []).append(time.monotonic())

    def stop(self) -> tuple[int, float, float]:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        gaps = [(b - a) * 1000 for times in self.arrivals.values()
                for a, b in zip(times, times[1:], strict=False)]
        gaps.sort()
        if not gaps:
            return 0, 0.0, 0.0
        return len(self.arrivals), statistics.fmean(gaps), gaps[int(len(gaps) * 0.99)]


def cpu_seconds(pid: int) -> float:
    """CPU of ``ivr serve`` and every role process it runs."""
    from api_bench import cpu_seconds as tree_cpu
    from api_bench import process_tree

    return tree_cpu(process_tree(pid))


def start_ivr(workdir: Path, index: int, http_port: int = 0,
              database_url: str = "") -> tuple[subprocess.Popen[bytes], int]:
    sip_port = free_port()
    low = 40000 + 1000 * index
    config = workdir / f"ivr{index}.conf"
    database_url = database_url or f"sqlite:///{workdir}/var{index}/ivr.db"
    config.write_text(f"[ivr]\ndata_dir = {workdir}/var{index}\n[sms]\ndatabase_url = "
                      f"{database_url}\n[sip]\nrtp_port_low = {low}\n"
                      f"rtp_port_high = {low + 999}\n[http]\nrate_limit_per_minute = 0\n")
    http = ["--http-port", str(http_port), "--demo"] if http_port else ["--no-http"]
    ivr = subprocess.Popen([sys.executable, "-m", "ivr.cli", "serve", *http, "--config",
                            str(config), "--script", str(SCRIPT), "--sip-port", str(sip_port)],
                           cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return ivr, sip_port


class ApiLoad:
    """SendSms at ``concurrency`` for ``seconds`` in a thread (bench/api_bench.py's load)."""

    def __init__(self, port: int, concurrency: int, seconds: float) -> None:
        from api_bench import DlrReceiver, IvrServer, load, wait_http

        wait_http(port, "/openapi.json")
        self.receiver = DlrReceiver()
        self.result: tuple[float, float, float, int, set[str]] | None = None

        def run() -> None:
            self.result = load(port, IvrServer.path, IvrServer.ok, concurrency, seconds,
                               self.receiver.url)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def finish(self) -> str:
        self._thread.join()
        self.receiver.stop()
        if self.result is None:
            return "API load failed"
        rate, p50, p99, errors, _ = self.result
        return f"API {rate:.0f} req/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms, {errors} errors)"


def ivr_says(http_port: int) -> str:
    """What the IVR reports after the calls: /metrics counters and ListCallHistory."""
    import re
    import urllib.request
    import xml.etree.ElementTree as ElementTree

    base = f"http://127.0.0.1:{http_port}"
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    ended = {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^ivr_calls_total\{result="([^"]+)"\} (\S+)$', text, re.MULTILINE)}
    answered = sum(float(m.group(1)) for m in re.finditer(
        r"^ivr_call_answer_seconds_count(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE))
    durations: list[float] = []
    page, total = 1, 1
    while len(durations) < total:
        query = ("command=ListCallHistory&Username=HTTP_User_1&Password=qwe123"
                 f"&PageSize=500&Page={page}")
        with urllib.request.urlopen(f"{base}/api?{query}", timeout=30) as response:
            root = ElementTree.fromstring(response.read())
        total = int(root.findtext("TotalCount") or 0)
        records = root.findall(".//CallRecord")
        if not records:
            break
        durations += [float(r.findtext("Duration") or 0) for r in records]
        page += 1
    spread = f"{min(durations):.2f}-{max(durations):.2f} s" if durations else "-"
    return (f"metrics: calls ended {int(sum(ended.values()))} {dict(ended)}, answered "
            f"{int(answered)}; ListCallHistory: {len(durations)} of {total} records, "
            f"durations {spread}")


def run_level(calls: int, workdir: Path, processes: int = 1,
              api_concurrency: int = 0, check: bool = False,
              total: int = 0, database_url: str = "") -> dict[str, object]:
    """``calls`` at once; with ``total``, that many calls in all, ``calls`` at a time."""
    http_port = free_port() if api_concurrency or check else 0
    ivrs = [start_ivr(workdir, i, http_port if i == 0 else 0, database_url)
            for i in range(processes)]
    time.sleep(2.0)
    api = ApiLoad(http_port, api_concurrency, 5.0 + calls / max(1, calls // 5) + 6.0) \
        if api_concurrency else None
    balancer = None
    target_port = ivrs[0][1]
    if processes > 1:
        sys.path.insert(0, str(ROOT / "tools"))
        from kamailio.run import Kamailio

        target_port = free_port()
        balancer = Kamailio(target_port, dispatch_to=[f"127.0.0.1:{port}" for _, port in ivrs])
        balancer.__enter__()
    sink = RtpSink()
    cpu_before = [cpu_seconds(ivr.pid) for ivr, _ in ivrs]
    started = time.monotonic()
    rate = max(1, calls // 5)
    try:
        result = subprocess.run(
            ["sipp", f"127.0.0.1:{target_port}", "-sf", str(ROOT / "tools/sipp/uac_load.xml"),
             "-s", "ivr", "-i", "127.0.0.1", "-p", str(free_port()), "-mp", "46000",
             "-key", "pcap", "/usr/share/sip-tester/dtmf_2833_2.pcap",
             "-key", "sink_port", str(sink.port), "-d", "4000", "-r", str(rate),
             "-l", str(calls), "-m", str(total or calls), "-nostdin",
             "-timeout", str(90 + (total or calls) // max(1, rate)), "-trace_stat",
             "-stf", str(workdir / "stat.csv"), "-fd", "1"],
            cwd=workdir, capture_output=True, text=True,
            timeout=120 + (total or calls) // max(1, rate))
        elapsed = time.monotonic() - started
        cpu = sum(cpu_seconds(ivr.pid) - before
                  for (ivr, _), before in zip(ivrs, cpu_before, strict=True)) / elapsed * 100
        checked = ""
        if check:
            time.sleep(2.0)          # the last calls' ends are written, then read back
            checked = ivr_says(http_port)
    finally:
        api_result = api.finish() if api is not None else ""
        streams, mean_gap, p99_gap = sink.stop()
        for ivr, _ in ivrs:
            ivr.send_signal(signal.SIGTERM)
        for ivr, _ in ivrs:
            ivr.wait(30)
        if balancer is not None:
            balancer.__exit__(None, None, None)
    stats = glob.glob(str(workdir / "stat.csv"))
    rows = list(csv.DictReader(open(stats[0]), delimiter=";")) if stats else []
    if not rows or result.returncode not in (0, 1):
        print(f"SIPp exit {result.returncode}: {result.stderr[-800:] or result.stdout[-800:]}",
              file=sys.stderr)
    last = rows[-1] if rows else {"SuccessfulCall(C)": "0", "FailedCall(C)": str(calls)}
    return {"calls": total or calls, "ok": int(last["SuccessfulCall(C)"]),
            "failed": int(last["FailedCall(C)"]), "answer": last.get("ResponseTime1(C)", ""),
            "streams": streams, "gap_mean": mean_gap, "gap_p99": p99_gap, "cpu": cpu,
            "sipp_rc": result.returncode, "api": api_result, "checked": checked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="10,50,100,200")
    parser.add_argument("--processes", type=int, default=1,
                        help="ivr serve processes behind a Kamailio dispatcher (1 = direct)")
    parser.add_argument("--api-concurrency", type=int, default=0,
                        help="SendSms clients during the calls (0 = no API load)")
    parser.add_argument("--total", type=int, default=0,
                        help="calls in all per level (default: the level), level at a time")
    parser.add_argument("--check", action="store_true",
                        help="read /metrics and ListCallHistory back after the calls")
    parser.add_argument("--database-url", default="",
                        help="[sms] database_url (default: an SQLite file per process), "
                             "e.g. a throwaway PostgreSQL from tools/postgres.py")
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}")
    print(f"{'calls':>5} {'ok':>5} {'failed':>6} {'answer (SIPp avg)':>18} {'RTP streams':>11} "
          f"{'gap mean ms':>11} {'gap p99 ms':>10} {'IVR CPU %':>9}   ({args.processes} process(es))")
    for level in (int(x) for x in args.levels.split(",")):
        with tempfile.TemporaryDirectory(prefix="ivr-sipload-") as tmp:
            r = run_level(level, Path(tmp), args.processes, args.api_concurrency, args.check,
                          args.total, args.database_url)
        print(f"{r['calls']:>5} {r['ok']:>5} {r['failed']:>6} {r['answer']:>18} "
              f"{r['streams']:>11} {r['gap_mean']:>11.2f} {r['gap_p99']:>10.1f} "
              f"{r['cpu']:>9.0f}   {r['api']}", flush=True)
        if r["checked"]:
            print(f"      {r['checked']}", flush=True)


if __name__ == "__main__":
    main()
