"""delivered_at never lands before the message was sent (SMSC done dates are coarse)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ivr.sms.message import Direction, Message, Part, Status
from ivr.sms.store import SqliteStore
from ivr.sms.transports.base import DeliveryReport

T0 = 1_800_000_000.0


def test_done_date_before_send_uses_arrival_time(tmp_path: Path) -> None:
    now = [T0]
    store = SqliteStore(tmp_path / "s.db", clock=lambda: now[0])
    created = dt.datetime.fromtimestamp(T0, dt.UTC)
    store.insert(Message(id="m", direction=Direction.OUTBOUND, sender="", recipient="+3611",
                         body="x", created_at=created, updated_at=created, parts=[Part(0)]))
    store.claim_due("w", 60)
    now[0] = T0 + 30
    store.mark_sent("m", "smsc", ["a1"], [], lambda m, s: None)
    now[0] = T0 + 35
    minute_resolution = dt.datetime.fromtimestamp(T0, dt.UTC)  # "done date" rounded down
    message = store.apply_report(DeliveryReport("smsc", Status.DELIVERED, provider_id="a1",
                                                done_at=minute_resolution), lambda m, s: None)
    assert message is not None and message.delivered_at is not None
    assert message.delivered_at.timestamp() == T0 + 35
    assert message.sent_at is not None and message.delivered_at >= message.sent_at
