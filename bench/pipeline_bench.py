"""CPU and store work per message in the SMS pipeline, in process (no HTTP, no sockets but
the callback receiver's).

(a) a burst: 2000 messages queued, then the service started (loopback, 0.05 s reports),
    until all are delivered; without callbacks, and with every report going to a closed
    port (the receiver-probe case);
(b) a trickle: 300 messages submitted one at a time, 100/s, each with a callback to a live
    receiver on 127.0.0.1: write transactions and callback-queue queries per message.

Run: .venv/bin/python bench/pipeline_bench.py
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

from callback_receiver import CallbackReceiver  # noqa: E402

from ivr.call import SmsRequest  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.service import build_sms_service  # noqa: E402
from ivr.sms.submit import SmsService  # noqa: E402


def service(workdir: Path) -> SmsService:
    settings = Settings()
    settings.ivr.data_dir = str(workdir)
    settings.sms.database_url = f"sqlite:///{workdir}/ivr.db"
    settings.sms.transports = {"loopback": "loopback://?delay=0.05"}
    settings.sms.callback_allow = ["127.0.0.0/8"]     # the receiver on this machine
    return build_sms_service(settings)


def count_calls(obj: Any, name: str) -> list[int]:
    """Count calls of ``obj.name`` (an instance attribute shadows the method)."""
    counter = [0]
    original = getattr(obj, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return original(*args, **kwargs)

    setattr(obj, name, counted)
    return counter


def burst(callback_url: str, count: int = 2000) -> tuple[float, float, float]:
    """(CPU ms per message, messages/s, write transactions per message) from start to all
    delivered."""
    with tempfile.TemporaryDirectory() as tmp:
        sms = service(Path(tmp))
        for n in range(count):
            sms.submit_sms(SmsRequest(recipient=f"+3620{n:07d}", body="Hello world",
                                      callback_url=callback_url))
        transactions = count_calls(sms.store.engine, "tx")
        cpu, wall = time.process_time(), time.monotonic()
        sms.start()
        try:
            while True:
                with sms.store.engine.read() as db:  # type: ignore[attr-defined]
                    done = db.execute("SELECT COUNT(*) FROM messages "
                                      "WHERE status = 'delivered'").fetchone()[0]
                if done >= count:
                    break
                time.sleep(0.05)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        finally:
            sms.stop()
        return cpu / count * 1000, count / wall, transactions[0] / count


def trickle(count: int = 300) -> tuple[float, float, float]:
    """(write transactions, callback-queue queries, CPU ms) per message."""
    receiver = CallbackReceiver().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sms = service(Path(tmp))
            transactions = count_calls(sms.store.engine, "tx")      # each is one write transaction
            queries = count_calls(sms.store.callbacks, "callbacks_due")
            sms.start()
            try:
                cpu = time.process_time()
                for n in range(count):
                    sms.submit_sms(SmsRequest(recipient=f"+3620{n:07d}", body="Hello",
                                              callback_url=f"{receiver.url}/dlr"))
                    time.sleep(0.01)
                receiver.wait_for(2 * count, timeout=30)
                cpu = time.process_time() - cpu
            finally:
                sms.stop()
            return transactions[0] / count, queries[0] / count, cpu / count * 1000
    finally:
        receiver.stop()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)   # the receiver's access log
    print("command: .venv/bin/python bench/pipeline_bench.py")
    ms, rate, tx = burst("")
    print(f"(a) burst of 2000, no callbacks: {ms:.2f} ms CPU/message, {rate:,.0f} msg/s, "
          f"{tx:.2f} write transactions/message")
    ms, rate, tx = burst("http://127.0.0.1:9/dlr")
    print(f"(a) burst of 2000, callbacks to a closed port: {ms:.2f} ms CPU/message, "
          f"{rate:,.0f} msg/s, {tx:.2f} write transactions/message")
    tx, due, ms = trickle()
    print(f"(b) trickle of 300 at 100/s, callbacks to a live receiver: {tx:.2f} write "
          f"transactions, {due:.2f} callback-queue queries, {ms:.2f} ms CPU per message "
          "(receiver included)")


if __name__ == "__main__":
    main()
