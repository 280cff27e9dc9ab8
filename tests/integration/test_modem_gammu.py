"""Cross-check: Debian's gammu (an independent AT driver) identifies the simulated modem and
sends through it, so tools/modem_sim.py is not shaped only by our own driver."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from modem_sim import ModemSim

GAMMU = shutil.which("gammu") or "/usr/bin/gammu"


@pytest.fixture
def gammu(tmp_path: Path) -> Iterator[tuple[ModemSim, list[str]]]:
    sim = ModemSim(link=str(tmp_path / "ttyGAMMU")).start()
    config = tmp_path / "gammurc"
    config.write_text(f"[gammu]\ndevice = {sim.device}\nconnection = at\n")
    yield sim, [GAMMU, "-c", str(config)]
    sim.stop()


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_gammu_identifies_the_simulator(gammu: tuple[ModemSim, list[str]]) -> None:
    sim, cmd = gammu
    out = run(cmd + ["--identify"])
    assert "Manufacturer         : IVR" in out
    assert sim.imei in out and sim.imsi in out


def test_gammu_sends_short_and_long_unicode_sms(gammu: tuple[ModemSim, list[str]]) -> None:
    sim, cmd = gammu
    run(cmd + ["sendsms", "TEXT", "+123", "-text", "hi"])
    long_text = "Привет мир, " + "x" * 150 + " end"
    run(cmd + ["sendsms", "TEXT", "+4912345", "-unicode", "-autolen", "200", "-text", long_text])
    assert sim.texts() == ["hi", long_text]
    assert [p.recipient for p in sim.sent] == ["+123"] + ["+4912345"] * 3
    assert [p.mr for p in sim.sent] == [0, 1, 2, 3]
