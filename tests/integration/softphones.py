"""Real softphones on 127.0.0.1 for the SIP tests: baresip (Debian ``baresip-core``) and
linphonec (Debian ``linphone-cli``), driven the way their users drive them: baresip by key
input on its UDP console (``cons`` module), linphonec through ``linphonecsh``. Audio goes to
and from files (baresip ``aufile`` + ``sndfile`` dumps, linphonec ``soundcard use files``)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import wave
from pathlib import Path

__all__ = ["Baresip", "Linphone", "wav_rms_seconds"]


def wav_rms_seconds(path: Path, threshold: int = 300) -> float:
    """Seconds of 20 ms frames louder than ``threshold`` (16-bit RMS) in a WAV file."""
    import audioop

    with wave.open(str(path)) as wav:
        width, rate = wav.getsampwidth(), wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    step = rate // 50 * width
    loud = sum(1 for n in range(0, len(frames) - step + 1, step)
               if audioop.rms(frames[n:n + step], width) > threshold)
    return loud * 0.02


class Baresip:
    """baresip with one account restricted to ``codecs`` (e.g. ``PCMA``)."""

    def __init__(self, workdir: Path, codecs: str = "PCMU,PCMA") -> None:
        self.dir = workdir / "baresip"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "snd").mkdir(exist_ok=True)
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16",
                        str(self.dir / "tone.wav"), "synth", "30", "sine", "440", "vol", "0.3"],
                       check=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.console = probe.getsockname()[1]
        (self.dir / "config").write_text(f"""poll_method epoll
sip_listen 127.0.0.1:0
audio_player aufile,/dev/null
audio_source aufile,{self.dir / 'tone.wav'}
audio_alert aufile,/dev/null
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module sndfile.so
module cons.so
module_app account.so
module_app menu.so
cons_listen 127.0.0.1:{self.console}
snd_path {self.dir / 'snd'}
""")
        (self.dir / "accounts").write_text(
            f"<sip:baresip@127.0.0.1>;regint=0;audio_codecs={codecs}\n")
        self.process: subprocess.Popen[str] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("baresip") is not None and shutil.which("sox") is not None

    def dial(self, uri: str, seconds: float) -> None:
        """Call ``uri`` and quit after ``seconds`` (baresip's -t)."""
        self.process = subprocess.Popen(
            ["baresip", "-f", str(self.dir), "-s", "-t", str(int(seconds)), "-e",
             f"/dial {uri}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def keys(self, text: str) -> None:
        """Press keys (digits in a call are sent as RFC 4733 events)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for key in text:
                sock.sendto(key.encode(), ("127.0.0.1", self.console))
                time.sleep(0.2)

    def wait(self, timeout: float = 30) -> str:
        assert self.process is not None
        output, _ = self.process.communicate(timeout=timeout)
        return output

    def heard(self) -> Path:
        """The decoded audio baresip played (sndfile's ``dump-…-dec.wav``)."""
        return max((self.dir / "snd").glob("*-dec.wav"), key=lambda p: p.stat().st_size)


class Linphone:
    """linphonec with files as the sound card, driven through linphonecsh."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "linphone"
        self.dir.mkdir(parents=True, exist_ok=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        (self.dir / "linphonerc").write_text(f"""[sip]
sip_port={self.port}
sip_tcp_port=-1
sip_tls_port=-1
default_proxy=-1
use_ipv6=0
[video]
capture=0
display=0
automatically_initiate=0
[rtp]
audio_rtp_port={self.port + 2}
[sound]
echocancellation=0
""")
        self.process = False

    @staticmethod
    def available() -> bool:
        return shutil.which("linphonecsh") is not None

    def start(self) -> None:
        """linphonecsh starts linphonec in pipe mode (one per user) and relays commands."""
        subprocess.run(["linphonecsh", "init", "-c", str(self.dir / "linphonerc"), "-d", "6",
                        "-l", str(self.dir / "linphone.log")], check=True, timeout=20,
                       capture_output=True)
        self.process = True
        time.sleep(1.0)
        self.command(f"ports sip {self.port}")      # linphonec 5.1 reads 0 from linphonerc
        self.command("ipv6 disable")               # else SDP names the host's IPv6 address
        self.command("soundcard use files")

    def command(self, line: str, pause: float = 0.5) -> str:
        done = subprocess.run(["linphonecsh", "generic", line], capture_output=True,
                              text=True, timeout=20)
        time.sleep(pause)
        return done.stdout

    def stop(self) -> None:
        if self.process:
            subprocess.run(["linphonecsh", "exit"], capture_output=True, timeout=20)
            self.process = False

    def log(self) -> str:
        path = self.dir / "linphone.log"
        return path.read_text(errors="replace") if path.exists() else ""
