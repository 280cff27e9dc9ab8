"""Issue 15 item 9: pyVoIP appears only in ivr/voice/media.py, behind RtpSession; no module
reaches into its camelCase internals or holds the stream as ``Any``."""

from __future__ import annotations

import re
from pathlib import Path

IVR = Path(__file__).resolve().parents[3] / "ivr"
PYVOIP_NAMES = re.compile(r"\b(outIP|outPort|inIP|inPort|pmout|pmin|bufferLock|NSD|sout|"
                          r"outSequence|outTimestamp|outSSRC|RTPClient|RTPPacketManager)\b")


def _sources() -> list[Path]:
    return [p for p in IVR.rglob("*.py") if p != IVR / "voice" / "media.py"]


def test_only_media_imports_pyvoip() -> None:
    importers = [str(p.relative_to(IVR)) for p in _sources()
                 if re.search(r"^\s*(from|import)\s+pyVoIP", p.read_text(), re.MULTILINE)
                 or "importlib" in p.read_text() and "pyVoIP" in p.read_text()]
    assert importers == []


def test_no_pyvoip_internals_or_untyped_rtp_outside_media() -> None:
    offenders = []
    for path in _sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if PYVOIP_NAMES.search(line) or re.search(r"\brtp\s*:\s*Any\b", line):
                offenders.append(f"{path.relative_to(IVR)}:{number}: {line.strip()}")
    assert offenders == []
