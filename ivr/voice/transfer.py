"""Attended transfer (issue 15 item 2; RFC 5589 §7, RFC 3515, RFC 3891): we, the transferor,
consult the target on a second call, then REFER the caller to it with Replaces.

1. The caller is put on hold (music on hold; the script pauses).
2. A consultation call to the target goes through our UAC (ring timeout as for any call).
   Not answered → the caller is taken off hold: ``failed: <reason>``.
3. REFER to the caller, ``Refer-To: <target contact?Replaces=<consultation dialog>>``.
   Refused → the consultation is hung up, the caller taken off hold.
4. NOTIFY ``message/sipfrag`` progress from the caller: a 2xx means its INVITE with Replaces
   reached the target, which now talks to the caller and ends our consultation leg; we end
   the caller's leg (BYE) and hang up the consultation if the target has not. A failure
   status, or none within :data:`NOTIFY_TIMEOUT`, returns to the caller as in 3.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivr.call import CallEnded
from ivr.errors import VoiceError
from ivr.voice import sipmsg
from ivr.voice.uac import OutboundLeg, dial_target

if TYPE_CHECKING:
    from ivr.voice.calls import SipCall

__all__ = ["TransferResult", "attended_transfer", "NOTIFY_TIMEOUT"]

log = logging.getLogger(__name__)
NOTIFY_TIMEOUT = 32.0          # the transferee's INVITE transaction (timer B) plus slack
_REPLACED_GRACE = 2.0          # how long the target gets to end the replaced leg itself


@dataclass(frozen=True)
class TransferResult:
    transferred: bool
    reason: str                # "transferred to …" or "failed: …"


def attended_transfer(call: SipCall, target: str) -> TransferResult:
    leg = call.leg
    settings = leg.endpoint.settings
    try:
        destination = dial_target(target, settings)
    except VoiceError as exc:
        return _failed(call, f"cannot dial {target}: {exc}", held=False)
    if not call.hold():
        return _failed(call, "the caller refused the hold", held=False)
    try:
        consult = OutboundLeg(leg.endpoint, destination, call.callee if call.callee.isalnum()
                              else "")
    except VoiceError as exc:
        return _failed(call, str(exc))
    leg.endpoint.add(consult)
    log.info("[call %s] consulting %s on call %s", call.call_id, destination.uri,
             consult.call_id)
    if not consult.dial():
        return _failed(call, f"the target did not answer the consultation "
                             f"({consult.end_reason})")
    dialog = consult.dialog
    assert dialog is not None
    refer_to = sipmsg.replaces_uri(dialog.remote_target, consult.call_id,
                                   sipmsg.tag(dialog.remote), sipmsg.tag(dialog.local))
    progress: queue.Queue[int] = queue.Queue()
    leg.on_refer_progress = progress.put
    try:
        if leg.ended or not leg.refer(refer_to):
            consult.hangup("attended transfer refused")
            return _failed(call, "the caller's phone did not accept the REFER")
        status = _final_progress(progress, call)
    finally:
        leg.on_refer_progress = None
    if not 200 <= status < 300:
        consult.hangup("attended transfer failed")
        why = f"the caller's INVITE to the target failed ({status})" if status else \
            f"no final NOTIFY from the caller within {NOTIFY_TIMEOUT:g} s"
        return _failed(call, why)
    reason = f"transferred to {destination.uri} (attended)"
    leg.hangup(reason)
    deadline = time.monotonic() + _REPLACED_GRACE
    while not consult.ended and time.monotonic() < deadline:
        time.sleep(0.05)
    consult.hangup("replaced by the transferred call")
    log.info("[call %s] %s", call.call_id, reason)
    return TransferResult(True, reason)


def _final_progress(progress: queue.Queue[int], call: SipCall) -> int:
    deadline = time.monotonic() + NOTIFY_TIMEOUT
    while time.monotonic() < deadline:
        if call.leg.ended:
            return 0
        try:
            status = progress.get(timeout=0.1)
        except queue.Empty:
            continue
        if status >= 200:
            return status
    return 0


def _failed(call: SipCall, why: str, *, held: bool = True) -> TransferResult:
    """Back to the caller (off hold, the script goes on) with the reason."""
    log.warning("[call %s] attended transfer failed: %s", call.call_id, why)
    if held:
        try:
            call.unhold()
        except CallEnded:
            pass
    return TransferResult(False, f"failed: {why}")
