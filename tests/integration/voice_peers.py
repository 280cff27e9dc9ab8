"""Helpers shared by the SIP tests: free loopback ports, bounded waits, the IVR under test."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from ivr.config import Settings
from ivr.sms.store import MessageQuery
from ivr.sms.submit import SmsService
from ivr.voice.engine import VoiceEngine

__all__ = ["Ivr", "free_port", "media_port", "wait_until", "long_script"]


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def media_port() -> int:
    """An even UDP port for SIPp's media (-mp: it binds this and the next two), above the RTP
    ranges the test IVRs take (32000-52400, tests/integration/conftest.py): a free ephemeral
    port picked inside them could be taken by the IVR's RTP a moment later (503 to the call)."""
    for _ in range(200):
        port = free_port() & ~1
        if port >= 53000 and port + 2 < 61000:
            return port
    raise RuntimeError("no free media port above 53000")


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def long_script(directory: Path, repeats: int = 20, after: str = "") -> str:
    """A script that speaks for a long while (calls that must stay up), then ``after``."""
    path = directory / "long.xml"
    path.write_text("<Response><Speak>" + "This is a very long prompt. " * repeats +
                    f"</Speak>{after}</Response>")
    return str(path)


class Ivr:
    """A running voice engine with its SMS service (what ``ivr serve`` wires for SIP)."""

    def __init__(self, settings: Settings, service: SmsService, engine: VoiceEngine) -> None:
        self.settings, self.service, self.engine = settings, service, engine

    @property
    def port(self) -> int:
        return self.engine.endpoint.port

    def messages(self) -> list[object]:
        return self.service.query(MessageQuery())[0]  # type: ignore[return-value]
