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
import datetime as dt
import threading
from pathlib import Path
from typing import Any

from smpp_sim import HappySMSC, Submit, _make, _Session

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


class StoreAndForwardSMSC(HappySMSC):
    """Receipts stay queued until acknowledged; unacknowledged ones go to the next bind."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[str, Submit] = {}                    # receipts not acknowledged
        self.in_flight: dict[str, tuple[_Session, int]] = {}   # message id -> (session, seq)
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True)

    def start(self) -> StoreAndForwardSMSC:
        super().start()
        self._flusher.start()
        return self

    def _send_receipt(self, session: _Session, submit: Submit) -> None:
        with self.lock:
            self.pending[submit.message_id] = submit
        self._flush()

    def _flush_loop(self) -> None:
        while not self._stopped.wait(0.1):
            self._flush()

    def _flush(self) -> None:
        target = self._any_receiver()
        if target is None:
            return
        with self.lock:
            due = [s for mid, s in self.pending.items()
                   if mid not in self.in_flight or self.in_flight[mid][0].closed]
            for submit in due:
                self.in_flight[submit.message_id] = (target, next(target.seq))
        now = dt.datetime.now(dt.UTC).strftime("%y%m%d%H%M")
        for submit in due:
            _, seq = self.in_flight[submit.message_id]
            text = (f"id:{submit.message_id} sub:001 dlvrd:001 submit date:{now} "
                    f"done date:{now} stat:DELIVRD err:000 text:{submit.text[:20]}")
            target.send(_make("deliver_sm", seq, esm_class=0x04,
                              source_addr=submit.destination, destination_addr=submit.source,
                              data_coding=0, short_message=text.encode("ascii"),
                              receipted_message_id=submit.message_id, message_state=2))

    def _on_deliver_sm_resp(self, session: _Session, pdu: Any) -> None:
        with self.lock:
            for mid, (owner, seq) in list(self.in_flight.items()):
                if owner is session and seq == pdu.sequence:
                    del self.in_flight[mid]
                    self.pending.pop(mid, None)


def test_kill_9_during_smpp_dispatch(tmp_path: Path) -> None:
    smsc = StoreAndForwardSMSC(receipt_delay=0.02).start()
    try:
        _run(tmp_path, smsc)
    finally:
        smsc.stop()


def _run(tmp: Path, smsc: StoreAndForwardSMSC) -> None:
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
    at_kill, accepted_at_kill = _statuses(db), len(smsc.accepted())
    assert accepted_at_kill < COUNT
    restart_until_delivered(config, log, db, COUNT)

    per_text = collections.Counter(s.text for s in smsc.accepted())
    assert set(per_text) == {f"crash {n}" for n in range(COUNT)}
    duplicates = sum(n - 1 for n in per_text.values())
    interrupted, adopted = interrupted_sends(db)
    print(f"\nSMPP crash test: {COUNT} messages, {accepted_at_kill} accepted by the SMSC when "
          f"killed, status at kill {dict(at_kill)}, interrupted sends {interrupted}, adopted "
          f"by their receipt {adopted}, duplicates {duplicates}")
    assert interrupted >= 1, "the kill interrupted no send: the test proved nothing"
    assert duplicates == 0
