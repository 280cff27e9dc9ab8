"""The loopback "network" with a log: reports the service never stored are sent again."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

from ivr.sms.message import Direction, Message, Part, Status
from ivr.sms.transports.base import DeliveryReport, InboundSms
from ivr.sms.transports.loopback import LoopbackTransport


class Events:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.reports: list[DeliveryReport] = []
        self.arrived = threading.Event()

    def on_delivery_report(self, report: DeliveryReport) -> None:
        if self.fail:       # the service died before it stored the report
            raise RuntimeError("store gone")
        self.reports.append(report)
        self.arrived.set()

    def on_inbound(self, sms: InboundSms) -> None:
        raise AssertionError("no inbound expected")


def message(mid: str, parts: int = 1) -> Message:
    now = dt.datetime.now(dt.UTC)
    return Message(id=mid, direction=Direction.OUTBOUND, sender="", recipient="+3611",
                   body="hi", segments=parts, created_at=now, updated_at=now,
                   parts=[Part(i) for i in range(parts)])


def test_unacknowledged_reports_are_sent_again_at_start(tmp_path: Path) -> None:
    log = tmp_path / "peer.log"
    first = LoopbackTransport(delay=0, log_path=str(log))
    first.start(Events())
    acked = first.send(message("m1")).provider_ids
    first.start(Events(fail=True))
    try:
        first.send(message("m2", parts=2))
    except RuntimeError:
        pass                # delay=0 reports inside send: the failure surfaces there
    first.stop()

    again = LoopbackTransport(delay=0, log_path=str(log))
    events = Events()
    again.start(events)
    deadline = time.monotonic() + 5
    while len(events.reports) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)                                 # and nothing more comes
    again.stop()
    lines = log.read_text().splitlines()
    assert len(lines) == 3                          # what reached the "network", once each
    unacked = {line.split()[2] for line in lines if line.split()[0] == "m2"}
    assert sorted(r.provider_id for r in events.reports) == sorted(unacked)
    assert not unacked & set(acked)
    assert all(r.status == Status.DELIVERED and r.recipient == "+3611" for r in events.reports)
