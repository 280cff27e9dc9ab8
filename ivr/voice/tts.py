"""Text to speech with pyttsx3 driving espeak-ng, cached as ready-to-send 8 kHz u8 audio.

pyttsx3's engine is not thread-safe and is one per process, so synthesis is serialised behind
one process-wide lock (it takes ~10-20 ms per prompt, far below a prompt's length). Results are cached in memory (LRU) and on
disk, keyed by engine, voice, rate and text, so a repeated prompt starts without synthesis
(reference ivr-markup-peers.md §4 #8). pyttsx3 prints "Audio saved to ..." on stdout; that is
captured so the IVR's own output stays clean.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import subprocess
import tempfile
import threading
import time
import wave
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ivr.errors import VoiceError
from ivr.voice.audio import wav_to_u8

__all__ = ["Tts"]

log = logging.getLogger(__name__)
_ENGINE_ID = "pyttsx3-espeak-ng-1"
# pyttsx3.init() hands every caller the same engine per process (a weak-value cache), so its
# voice and rate are process-wide state: synthesis is serialised per process, not per Tts
# (two Tts objects setting different rates at once produced each other's speech).
_SYNTHESIS = threading.Lock()


class Tts:
    def __init__(self, cache_dir: str, voice: str = "en", rate: int = 170,
                 memory_items: int = 256) -> None:
        self.cache_dir = Path(cache_dir) / "tts"
        self.voice = voice
        self.rate = rate
        self.memory_items = memory_items
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._engine: Any = None

    def key(self, text: str, voice: str, rate: int) -> str:
        return hashlib.sha256(f"{_ENGINE_ID}\0{voice}\0{rate}\0{text}".encode()).hexdigest()

    def speak(self, text: str, voice: str = "", rate: int = 0) -> bytes:
        """u8 audio for ``text``; raises VoiceError when synthesis fails."""
        voice, rate = voice or self.voice, rate or self.rate
        key = self.key(text, voice, rate)
        with self._lock:
            cached = self._memory.get(key)
            if cached is not None:
                self._memory.move_to_end(key)
                return cached
        path = self.cache_dir / f"{key}.u8"
        if path.exists():
            audio = path.read_bytes()
        else:
            audio = self._synthesise(text, voice, rate)
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(audio)
            tmp.replace(path)
        with self._lock:
            self._memory[key] = audio
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)
        return audio

    def _synthesise(self, text: str, voice: str, rate: int) -> bytes:
        with _SYNTHESIS, tempfile.TemporaryDirectory(prefix="ivr-tts-") as tmp:
            target = Path(tmp) / "out.wav"
            # pyttsx3 queues property changes as engine events and its espeak driver may
            # still be finishing the previous file when runAndWait returns, so a prompt's own
            # Rate/Voice was sometimes spoken with the previous one's (2 of 5 full test runs).
            # pyttsx3 therefore only ever speaks with this Tts's defaults; a prompt that asks
            # for another voice or rate goes to the espeak-ng command, which takes them as
            # arguments (same engine, ~20 ms to start, and the result is cached anyway).
            if (voice, rate) == (self.voice, self.rate):
                try:
                    self._pyttsx3(text, voice, rate, target)
                except Exception as exc:  # pyttsx3/espeak raise many types; fall back below
                    log.warning("pyttsx3 failed (%s); using the espeak-ng command", exc)
                    self._engine = None
            if not _complete(target):
                self._espeak_cli(text, voice, rate, target)
            data = target.read_bytes()
        audio = wav_to_u8(data, "tts")
        log.debug("synthesised %.1f s for %r (voice %s, rate %d)", len(audio) / 8000,
                  text[:40], voice, rate)
        return audio

    def _pyttsx3(self, text: str, voice: str, rate: int, target: Path) -> None:
        if self._engine is None:
            import pyttsx3

            self._engine = pyttsx3.init()
        self._engine.setProperty("voice", voice)
        self._engine.setProperty("rate", rate)
        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Audio saved to ..."
            self._engine.save_to_file(text, str(target))
            self._engine.runAndWait()
            # pyttsx3 2.99's espeak driver may finish the WAV after runAndWait returns.
            deadline = time.monotonic() + 3.0
            while not _complete(target) and time.monotonic() < deadline:
                time.sleep(0.01)

    @staticmethod
    def _espeak_cli(text: str, voice: str, rate: int, target: Path) -> None:
        """The same engine as a process: slower to start (~20 ms), but it cannot hang us."""
        try:
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(target),
                            "--", text], check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            raise VoiceError(f"text to speech failed for voice {voice!r}: {exc}") from None
        if not _complete(target):
            raise VoiceError(f"text to speech produced no audio for voice {voice!r}")


def _complete(path: Path) -> bool:
    """A WAV file whose header is written and whose data length matches the file."""
    try:
        with wave.open(str(path)) as wav:
            frames = wav.getnframes()
            return frames > 0 and path.stat().st_size >= 44 + frames * wav.getsampwidth()
    except (OSError, EOFError, wave.Error):
        return False
