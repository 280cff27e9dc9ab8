"""SMS pipeline throughput and latency.

(a) accepted messages/s: ``SmsService.submit`` committing to the durable SQLite store
    (WAL, synchronous commit), no dispatcher running, so this is the API-side ceiling;
(b) messages/s store → dispatcher → SmppTransport → SMSC simulator (a separate process,
    ``tools/smpp_sim.py``, so it does not share our GIL) → delivery receipt → delivered,
    with p50/p99 of submit-to-delivered latency, and the duplicates the simulator counted.
    All messages are submitted as one burst, so the latency includes time in the queue;
(c) SmppTransport.send alone from 10 threads against the same simulator: the link's ceiling.
Bounded in count and time. Run:
    .venv/bin/python bench/sms_bench.py [--count 2000] [--workers 8] [--timeout 120]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.call import SmsRequest  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.service import build_sms_service  # noqa: E402
from ivr.sms.message import Direction, Message, Status  # noqa: E402
from ivr.sms.transports.smpp import from_url  # noqa: E402


def settings_for(tmp: Path, transports: dict[str, str], workers: int) -> Settings:
    settings = Settings()
    settings.ivr.data_dir = str(tmp / "var")
    settings.sms.database_url = f"sqlite:///{tmp}/var/ivr.db"
    settings.sms.transports = transports
    settings.sms.workers = workers
    settings.sms.retry_base_seconds = 0.2
    return settings


def bench_accept(tmp: Path, count: int) -> float:
    service = build_sms_service(settings_for(tmp / "accept", {"loopback": "loopback://"}, 1))
    start = time.perf_counter()
    for n in range(count):
        service.submit(SmsRequest(recipient=f"+3620{1000000 + n}", body=f"bench {n}"))
    elapsed = time.perf_counter() - start
    service.store.close()
    return count / elapsed


def start_simulator() -> tuple[subprocess.Popen[str], int]:
    sim = subprocess.Popen([sys.executable, str(ROOT / "tools" / "smpp_sim.py"), "--port", "0",
                            "--receipt-delay", "0"], stdout=subprocess.PIPE, text=True)
    assert sim.stdout is not None
    line = sim.stdout.readline()          # "SMSC simulator on 127.0.0.1:PORT (...)"
    port = int(line.split(":")[1].split()[0])
    return sim, port


def bench_delivery(tmp: Path, count: int, workers: int, timeout: float) -> dict[str, float]:
    sim, port = start_simulator()
    url = f"smpp://ivr:secret@127.0.0.1:{port}?window=10"
    service = build_sms_service(settings_for(tmp / "deliver", {"smpp": url}, workers))
    try:
        service.start()
        deadline = time.monotonic() + 10
        while not service.transports["smpp"].healthy() and time.monotonic() < deadline:
            time.sleep(0.05)
        start = time.perf_counter()
        ids = [service.submit_sms(SmsRequest(recipient=f"+3620{1000000 + n}",
                                             body=f"bench {n}")) for n in range(count)]
        messages = service.run_until_final(ids, timeout)
        elapsed = time.perf_counter() - start
    finally:
        service.stop()
        sim.send_signal(signal.SIGINT)
        out, _ = sim.communicate(timeout=10)
    delivered = [m for m in messages if m.status == Status.DELIVERED]
    # updated_at is our clock at the final status change; delivered_at is the SMSC's
    # "done date" (minute resolution, its clock), useless for milliseconds.
    latencies = sorted((m.updated_at - m.created_at).total_seconds() * 1000
                       for m in delivered if m.updated_at and m.created_at)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(f"  simulator: {out.strip()}")
    return {"delivered": len(delivered), "rate": len(delivered) / elapsed,
            "p50": quantiles[49], "p99": quantiles[98], "elapsed": elapsed}


class _CountingEvents:
    def __init__(self) -> None:
        self.reports = 0

    def on_delivery_report(self, report: object) -> None:
        self.reports += 1

    def on_inbound(self, sms: object) -> None:
        return


def bench_transport(count: int, threads: int) -> float:
    """(c) SmppTransport.send alone from ``threads`` threads: the ceiling (b) is measured
    against, so a slow store is not blamed on the SMPP link or the reverse."""
    sim, port = start_simulator()
    transport = from_url("smpp", f"smpp://ivr:secret@127.0.0.1:{port}?window=10")
    events = _CountingEvents()
    transport.start(events)
    try:
        transport.wait_bound(10)
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda n: transport.send(Message(
                id=f"bench-{n}", direction=Direction.OUTBOUND, sender="+15550001",
                recipient=f"+3620{1000000 + n}", body=f"bench {n}")), range(count)))
        return count / (time.perf_counter() - start)
    finally:
        transport.stop()
        sim.send_signal(signal.SIGINT)
        sim.communicate(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    print(f"command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}")
    print(f"machine: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        rate = bench_accept(Path(tmp), args.count)
        print(f"(a) accepted into SQLite via SmsService.submit: {rate:,.0f} msg/s "
              f"({args.count} messages, one thread)")
        result = bench_delivery(Path(tmp), args.count, args.workers, args.timeout)
        print(f"(b) store -> dispatcher -> SMPP simulator -> delivered: "
              f"{result['rate']:,.0f} msg/s ({result['delivered']:.0f}/{args.count} delivered "
              f"in {result['elapsed']:.1f} s, {args.workers} workers, window 10)")
        print(f"    submit-to-delivered latency p50 {result['p50']:.0f} ms, "
              f"p99 {result['p99']:.0f} ms")
        rate_c = bench_transport(args.count, 10)
        print(f"(c) SmppTransport.send alone, 10 threads, window 10: {rate_c:,.0f} msg/s")
    return 0 if result["delivered"] == args.count else 1


if __name__ == "__main__":
    raise SystemExit(main())
