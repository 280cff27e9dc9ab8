"""SDP as real phones need it (issue 15 item 0), with the Debian softphones on 127.0.0.1:
baresip offering only PCMA completes a DTMF menu call and hears clean A-law speech; linphone,
which offers telephone-event at 48, 16 and 8 kHz, gets the 8 kHz one, and its "pause"
(a sendonly re-INVITE) is answered recvonly."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.softphones import Baresip, Linphone, wav_rms_seconds
from tests.integration.voice_peers import Ivr, long_script, wait_until

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not Baresip.available(), reason="Debian baresip-core and sox needed")
@pytest.mark.parametrize("codecs", ["PCMA", "PCMU"])
def test_baresip_menu_call_with_each_law(start_ivr: Callable[..., Ivr], tmp_path: Path,
                                         codecs: str) -> None:
    ivr = start_ivr()
    phone = Baresip(tmp_path, codecs=codecs)
    phone.dial(f"sip:ivr@127.0.0.1:{ivr.port}", seconds=12)
    time.sleep(4.5)                 # the welcome prompt plays ~3.5 s
    phone.keys("2")
    output = phone.wait()
    assert "SIP/2.0 200 OK" in output, output[-3000:]
    answer = output[output.index("SIP/2.0 200 OK"):]
    expected = "8" if codecs == "PCMA" else "0"
    assert f"RTP/AVP {expected} 101" in answer, answer[:1500]
    assert wait_until(lambda: len(ivr.messages()) == 1)       # digit 2 reached the script
    heard = phone.heard()
    assert wav_rms_seconds(heard) >= 1.5, heard               # speech decoded as A-law/µ-law


@pytest.mark.skipif(not Linphone.available(), reason="Debian linphone-cli needed")
def test_linphone_gets_the_8khz_event_and_its_pause_is_answered_recvonly(
        start_ivr: Callable[..., Ivr], tmp_path: Path) -> None:
    ivr = start_ivr(script=long_script(tmp_path, 30))
    phone = Linphone(tmp_path)
    phone.start()
    try:
        phone.command(f"call sip:ivr@127.0.0.1:{ivr.port}", 3.0)
        assert wait_until(lambda: any(leg.rtp is not None and leg.confirmed
                                      for leg in ivr.engine.endpoint.legs()), 10)
        [leg] = ivr.engine.endpoint.legs()
        offer = leg.invite.body.decode()                        # type: ignore[attr-defined]
        events = {line.split()[0][len("a=rtpmap:"):]: line.split()[1] for line in
                  offer.splitlines() if "telephone-event" in line}
        eight_k = [pt for pt, name in events.items() if name == "telephone-event/8000"]
        assert len(events) >= 2 and eight_k, offer            # linphone offers several rates
        assert leg.event_pt == int(eight_k[0])
        assert leg.rtp is not None and leg.rtp.sending
        phone.command("pause", 3.0)
        assert wait_until(lambda: leg.held_by_remote, 5)
        assert leg.local_direction == "recvonly" and not leg.rtp.sending
        answered = phone.log()
        assert "a=recvonly" in answered[answered.rfind("a=sendonly"):], "no recvonly answer"
        phone.command("resume", 3.0)
        assert wait_until(lambda: not leg.held_by_remote and leg.rtp is not None
                          and leg.rtp.sending, 5)
        assert leg.local_direction == "sendrecv"
        phone.command("terminate", 1.0)
        assert wait_until(lambda: ivr.engine.calls.list_calls() == [], 5)
    finally:
        phone.stop()
