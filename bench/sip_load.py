"""Concurrent calls: SIPp places N simultaneous calls of a menu script (digit pressed), for
N = 10, 50, 100, 200. Reported per level: failed calls, answer time (SIPp's response time of
the INVITE), RTP pacing measured on the RTP we receive (a Python sink that the SDP points
every call's audio at; gaps per stream, mean and p99), and the IVR processes' CPU (each
`ivr serve` with all its role processes). With --processes N, N `ivr serve` processes run
behind a local Kamailio dispatcher (tools/kamailio/dispatcher.cfg, round robin) that SIPp
calls. With --api-concurrency C (isolation run), `ivr serve` also runs its HTTP workers and
SMS core, and C clients send SendSms (each with a delivery report to a live receiver)
throughout the calls: the voice process must keep its pacing while the API is busy.
Run: .venv/bin/python bench/sip_load.py [--levels 10,50,100,200] [--api-concurrency 32]
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


def start_ivr(workdir: Path, index: int,
              http_port: int = 0) -> tuple[subprocess.Popen[bytes], int]:
    sip_port = free_port()
    low = 40000 + 1000 * index
    config = workdir / f"ivr{index}.conf"
    config.write_text(f"[ivr]\ndata_dir = {workdir}/var{index}\n[sms]\ndatabase_url = "
                      f"sqlite:///{workdir}/var{index}/ivr.db\n[sip]\nrtp_port_low = {low}\n"
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


def run_level(calls: int, workdir: Path, processes: int = 1,
              api_concurrency: int = 0) -> dict[str, object]:
    http_port = free_port() if api_concurrency else 0
    ivrs = [start_ivr(workdir, i, http_port if i == 0 else 0) for i in range(processes)]
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
             "-l", str(calls), "-m", str(calls), "-nostdin", "-timeout", "90", "-trace_stat",
             "-stf", str(workdir / "stat.csv"), "-fd", "1"],
            cwd=workdir, capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - started
        cpu = sum(cpu_seconds(ivr.pid) - before
                  for (ivr, _), before in zip(ivrs, cpu_before, strict=True)) / elapsed * 100
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
    return {"calls": calls, "ok": int(last["SuccessfulCall(C)"]),
            "failed": int(last["FailedCall(C)"]), "answer": last.get("ResponseTime1(C)", ""),
            "streams": streams, "gap_mean": mean_gap, "gap_p99": p99_gap, "cpu": cpu,
            "sipp_rc": result.returncode, "api": api_result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="10,50,100,200")
    parser.add_argument("--processes", type=int, default=1,
                        help="ivr serve processes behind a Kamailio dispatcher (1 = direct)")
    parser.add_argument("--api-concurrency", type=int, default=0,
                        help="SendSms clients during the calls (0 = no API load)")
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}")
    print(f"{'calls':>5} {'ok':>5} {'failed':>6} {'answer (SIPp avg)':>18} {'RTP streams':>11} "
          f"{'gap mean ms':>11} {'gap p99 ms':>10} {'IVR CPU %':>9}   ({args.processes} process(es))")
    for level in (int(x) for x in args.levels.split(",")):
        with tempfile.TemporaryDirectory(prefix="ivr-sipload-") as tmp:
            r = run_level(level, Path(tmp), args.processes, args.api_concurrency)
        print(f"{r['calls']:>5} {r['ok']:>5} {r['failed']:>6} {r['answer']:>18} "
              f"{r['streams']:>11} {r['gap_mean']:>11.2f} {r['gap_p99']:>10.1f} "
              f"{r['cpu']:>9.0f}   {r['api']}", flush=True)


if __name__ == "__main__":
    main()
