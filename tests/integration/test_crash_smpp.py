"""Crash test through SMPP: ``kill -9`` ``ivr serve`` while it submits to the SMSC simulator.

The simulator runs in this process and keeps each delivery receipt until a deliver_sm_resp
acknowledges it, re-sending unacknowledged ones to the next receiver that binds — what a
real SMSC does, and what makes "every message ends final" possible across a crash: a
receipt for a message sent just before the kill reaches the restarted service, which
matches it by the provider id stored with the submit result. A receipt for a message whose
submit result the kill lost (the SMSC took it, we never stored its id) is recognised by
recipient, time and quoted text, so that message is adopted instead of being sent twice.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from pathlib import Path

import pytest
from smpp_sim import ReceiptKeepingSMSC

from ivr.call import SmsRequest
from ivr.config import load_settings
from ivr.service import build_sms_service
from tests.integration.test_crash_loopback import (
    _statuses,
    interrupted_sends,
    kill_9_once,
    restart_until_delivered,
)

COUNT = 500


@pytest.mark.parametrize("with_bind", [False, True], ids=["flushed", "with-bind-response"])
def test_kill_9_twice_during_smpp_dispatch(tmp_path: Path, with_bind: bool) -> None:
    """``with_bind``: the receipts kept across the kills reach the restarted service in the
    same write as its bind response (issue: they were dropped there, so the interrupted
    sends were resent); otherwise a flusher hands them over 0.1 s after the bind."""
    smsc = ReceiptKeepingSMSC(receipt_delay=0.02, with_bind=with_bind,
                              resend_after=10.0 if with_bind else 0.0).start()
    try:
        _run(tmp_path, smsc)
    finally:
        smsc.stop()


def _run(tmp: Path, smsc: ReceiptKeepingSMSC) -> None:
    config = tmp / "crash.ini"
    config.write_text(
        f"[ivr]\ndata_dir = {tmp / 'var'}\n"
        f"[sms]\ndatabase_url = sqlite:///{tmp / 'var' / 'ivr.db'}\nworkers = 4\n"
        "claim_lease_seconds = 2\nretry_base_seconds = 0.1\nin_doubt_hold_seconds = 3\n"
        "[sms.transports]\n"
        f"smsc = smpp://ivr:secret@127.0.0.1:{smsc.port}?window=10&enquire_link=5\n"
        "[http]\nenabled = no\n", encoding="utf-8")
    settings = load_settings([config])
    service = build_sms_service(settings)
    for n in range(COUNT):
        service.submit_sms(SmsRequest(recipient=f"+3620{n:07d}", body=f"crash {n}"))
    service.store.close()
    db, log = tmp / "var" / "ivr.db", tmp / "serve.log"

    kill_9_once(config, log, lambda: len(smsc.accepted()) >= COUNT // 4)
    kill_9_once(config, log, lambda: len(smsc.accepted()) >= COUNT // 2)
    at_kill, accepted_at_kill = _statuses(db), len(smsc.accepted())
    assert accepted_at_kill < COUNT
    restart_until_delivered(config, log, db, COUNT)

    per_text = collections.Counter(s.text for s in smsc.accepted())
    assert set(per_text) == {f"crash {n}" for n in range(COUNT)}
    duplicates = sum(n - 1 for n in per_text.values())
    interrupted, adopted = interrupted_sends(db)
    print(f"\nSMPP crash test: {COUNT} messages, two kills, {accepted_at_kill} accepted by the "
          f"SMSC at the second, status then {dict(at_kill)}, interrupted sends {interrupted}, "
          f"adopted by their receipt {adopted}, receipts sent with a bind response "
          f"{smsc.receipts_with_bind}, duplicates {duplicates}, left sent "
          f"{_statuses(db).get('sent', 0)}")
    assert interrupted >= 1, "the kill interrupted no send: the test proved nothing"
    assert duplicates == 0
    assert _statuses(db).get("sent", 0) == 0


def test_link_drops_that_lose_written_responses_send_nothing_twice(tmp_path: Path) -> None:
    """The SMSC drops the link every 120 PDUs and loses the responses to its last 10 submits,
    which it did accept: those sends are in doubt, held, and adopted by their receipts."""
    smsc = ReceiptKeepingSMSC(receipt_delay=0.02, with_bind=True, resend_after=2.0,
                              drop_after=120, discard=10).start()
    config = tmp_path / "drop.ini"
    config.write_text(
        f"[ivr]\ndata_dir = {tmp_path / 'var'}\n"
        f"[sms]\ndatabase_url = sqlite:///{tmp_path / 'var' / 'ivr.db'}\nworkers = 4\n"
        "retry_base_seconds = 0.1\nin_doubt_hold_seconds = 3\n"
        "[sms.transports]\n"
        f"smsc = smpp://ivr:secret@127.0.0.1:{smsc.port}?window=10&enquire_link=5\n"
        "[http]\nenabled = no\n", encoding="utf-8")
    service = build_sms_service(load_settings([config]))
    db = tmp_path / "var" / "ivr.db"
    try:
        for n in range(COUNT):
            service.submit_sms(SmsRequest(recipient=f"+3620{n:07d}", body=f"drop {n}"))
        service.start()
        deadline = time.monotonic() + 90
        while (statuses := _statuses(db)).get("delivered", 0) < COUNT:
            assert time.monotonic() < deadline, f"not all delivered: {statuses}"
            time.sleep(0.2)
    finally:
        service.stop()
        smsc.stop()
    per_text = collections.Counter(s.text for s in smsc.accepted())
    assert set(per_text) == {f"drop {n}" for n in range(COUNT)}
    duplicates = sum(n - 1 for n in per_text.values())
    held = _count_events(db, "%outcome unknown%")
    adopted = _count_events(db, "%adopted as sent%")
    print(f"\nSMPP link-drop test: {COUNT} messages, {smsc.drops} link drops, {held} sends "
          f"held in doubt, {adopted} adopted by their receipt, duplicates {duplicates}, "
          f"left sent {_statuses(db).get('sent', 0)}")
    assert smsc.drops >= 3 and held >= 1, "the drops hit no send in flight: proved nothing"
    assert duplicates == 0
    assert _statuses(db).get("sent", 0) == 0


def _count_events(db: Path, pattern: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(DISTINCT message_id) FROM events WHERE detail "
                                "LIKE ?", (pattern,)).fetchone()[0])
    finally:
        conn.close()
