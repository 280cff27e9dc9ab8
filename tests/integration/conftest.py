"""Fixtures of the SIP tests: ``start_ivr`` runs a voice engine on free loopback ports."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.ozml.interpreter import Interpreter
from ivr.service import build_sms_service
from ivr.voice.engine import VoiceEngine
from tests.integration.voice_peers import Ivr, free_port

ROOT = Path(__file__).resolve().parents[2]
PRESS2 = str(ROOT / "tests" / "data" / "sip" / "press2.xml")
_rtp_ranges = itertools.count(0)


@pytest.fixture
def start_ivr(make_settings: Callable[..., Settings],
              tmp_path: Path) -> Iterator[Callable[..., Ivr]]:
    """``start_ivr(script, notify=None, **sip_settings)``: wired as ``ivr serve`` wires it,
    ``<Call>`` included; stopped at the end of the test."""
    started: list[Ivr] = []

    def start(script: str = PRESS2,
              notify: Callable[[str, dict[str, str]], None] | None = None,
              **sip: object) -> Ivr:
        settings = make_settings()
        settings.sip.bind_port = free_port()
        low = 32000 + 400 * next(_rtp_ranges) % 20000
        settings.sip.rtp_port_low, settings.sip.rtp_port_high = low, low + 200
        settings.sip.default_script = script
        settings.audio.cache_dir = str(tmp_path / "cache")
        settings.audio.recordings_dir = str(tmp_path / "recordings")
        for key, value in sip.items():
            setattr(settings.sip, key, value)
        service = build_sms_service(settings)
        service.start()
        interpreter = Interpreter(settings.ozml, service)
        engine = VoiceEngine(settings, interpreter, notify=notify)
        interpreter.originator = engine
        try:
            engine.start()
        except Exception:
            service.stop()
            raise
        ivr = Ivr(settings, service, engine)
        started.append(ivr)
        return ivr

    yield start
    for ivr in started:
        ivr.engine.stop()
        ivr.service.stop()
