"""End to end through SMPP: HTTP SendSms → gateway → SMPP SMSC simulator (tools/smpp_sim.py,
its own process, receipts on) → delivery receipt → delivery-report callback to a live
receiver (bench/dlr_receiver.py, its own process). Once for ivr (`ivr serve --no-sip`, its
process roles, SMPP transport), once for Kannel (bearerbox with ``smsc = smpp`` towards the
same simulator, smsbox's sendsms with a dlr-url), same load: N threads with one keep-alive
connection each for a fixed time.

"delivered/s" is what counts: messages whose final report reached the receiver, divided by
the time from the start of the load until the last of them arrived (or the drain timeout).
The simulator's own count of accepted submit_sm and duplicates is printed when it stops.
Run: .venv/bin/python bench/e2e_smpp_bench.py [--seconds 30] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_bench import (  # noqa: E402
    DlrReceiver,
    IvrServer,
    KannelServer,
    cpu_seconds,
    free_port,
    load,
)

ROOT = Path(__file__).resolve().parents[1]
RECEIPT_DELAY = 0.2
# The SMS core's dispatcher threads: each claims, sends and records a batch of up to
# [sms] batch messages (the window is 64), so a few keep the window full.
IVR_SMS_WORKERS = 4


class Simulator:
    """tools/smpp_sim.py in its own process."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.out = workdir / "smpp_sim.out"
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "tools" / "smpp_sim.py"), "--port", str(self.port),
                 "--receipt-delay", str(RECEIPT_DELAY)], stdout=out, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while "SMSC simulator on" not in self.out.read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the SMPP simulator did not start")
            time.sleep(0.1)

    def stop(self) -> str:
        """Stop it; its summary line (accepted submit_sm, duplicates, binds)."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        found = re.findall(r"accepted .*", self.out.read_text())
        return found[-1] if found else "no summary"


class IvrSmpp(IvrServer):
    def __init__(self, workdir: Path, smpp_port: int) -> None:
        self.smpp_port = smpp_port
        super().__init__(workdir)

    def write_config(self, workdir: Path) -> Path:  # type: ignore[override]
        config = super().write_config(workdir)
        text = config.read_text().replace(
            f"loopback = loopback://?log={workdir}/ivr/peer.log",
            f"smpp = smpp://ivr:secret@127.0.0.1:{self.smpp_port}?window=64")
        config.write_text(text.replace("[sms]\n", f"[sms]\nworkers = {IVR_SMS_WORKERS}\n"))
        return config


def holder_of_connection(pids: list[int], remote_port: int) -> int | None:
    """The process among ``pids`` with a TCP connection to 127.0.0.1:``remote_port`` (the
    gateway's SMPP bind: ivr's SMS core), from /proc/net/tcp and each process's fds."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == remote_port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
        except OSError:
            continue
    return None


def kannel_smpp(smpp_port: int) -> str:
    return f"""group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = {smpp_port}
transceiver-mode = true
smsc-username = ivr
smsc-password = secret
system-type = ""
max-pending-submits = 64
enquire-link-interval = 30
reconnect-delay = 1
"""


def run(name: str, make: object, concurrency: int, seconds: float,
        timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="ivr-e2e-") as tmp:
        sim = Simulator(Path(tmp))
        receiver = DlrReceiver()
        summary = "not stopped"
        try:
            server = make(Path(tmp), sim.port)  # type: ignore[operator]
            try:
                time.sleep(2.0)      # let the gateway bind to the SMSC
                pids = server.pids()
                core = holder_of_connection(pids, sim.port)
                cpu = cpu_at_start = cpu_seconds(pids)
                core_cpu = cpu_seconds([core]) if core else 0.0
                began = time.monotonic()
                rate, p50, p99, errors, accepted = load(
                    server.port, server.path, server.ok, concurrency, seconds, receiver.url)
                cpu = cpu_seconds(pids) - cpu
                while receiver.final() < len(accepted) and \
                        time.monotonic() - began < seconds + timeout:
                    time.sleep(0.2)
                done = time.monotonic() - began
                total_cpu = cpu_seconds(pids) - cpu_at_start
                core_cpu = cpu_seconds([core]) - core_cpu if core else 0.0
                delivered = len(accepted & receiver.keys())
            finally:
                server.stop()
        finally:
            receiver.stop()
            summary = sim.stop()
        print(f"{name:>6} | accepted {rate:7.0f}/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
              f"{errors} errors) | delivered {delivered}/{len(accepted)} in {done:.1f} s = "
              f"{delivered / done:7.0f}/s | server CPU during load {cpu:.1f} s | "
              f"all its CPU to the last report {total_cpu / max(1, delivered) * 1000:.2f} "
              f"ms/message | SMS-side CPU to the last report {core_cpu:.1f} s = "
              f"{core_cpu / max(1, delivered) * 1000:.2f} ms/message | "
              f"simulator: {summary}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--gateways", default="ivr,kannel",
                        help="which to run, in order (before/after comparisons of ivr alone)")
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}")
    gateways = args.gateways.split(",")
    if "ivr" in gateways:
        run("ivr", IvrSmpp, args.concurrency, args.seconds, args.drain_timeout)
    if "kannel" not in gateways:
        return
    if shutil.which("bearerbox"):
        run("Kannel", lambda tmp, port: KannelServer(tmp, kannel_smpp(port)),
            args.concurrency, args.seconds, args.drain_timeout)
    else:
        print("Kannel not installed")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
