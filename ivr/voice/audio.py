"""Audio in the one format pyVoIP's RTP client takes: 8 kHz, mono, 8-bit unsigned (silence 0x80).

pyVoIP sends 160 bytes every 20 ms, so a prompt of N bytes lasts N / 8000 seconds. WAV files
of any rate, width and channel count are converted here; anything else is a clear error.
``audioop`` is in the standard library up to 3.12 and comes from ``audioop-lts`` on 3.13+.
"""

from __future__ import annotations

import audioop
import hashlib
import io
import math
import wave
from pathlib import Path

import requests

from ivr.errors import VoiceError

__all__ = ["RATE", "SILENCE", "wav_to_u8", "u8_to_wav", "tone", "silence", "u8_to_ulaw",
           "ulaw_to_u8", "rms_u8", "fetch_audio", "seconds"]

RATE = 8000
SILENCE = 0x80


def seconds(u8: bytes) -> float:
    return len(u8) / RATE


def wav_to_u8(data: bytes, source: str = "<audio>") -> bytes:
    try:
        with wave.open(io.BytesIO(data)) as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise VoiceError(f"{source}: not a playable WAV file ({exc}); convert it with "
                         f"`sox {source} -r 8000 -c 1 -b 16 out.wav`") from None
    if width not in (1, 2, 3, 4):
        raise VoiceError(f"{source}: unsupported sample width {width * 8} bits")
    if width == 1:  # WAV 8-bit is unsigned; audioop works on signed samples
        frames = audioop.bias(frames, 1, -128)
    if channels > 1:
        if channels != 2:
            raise VoiceError(f"{source}: {channels} channels; mono or stereo only")
        frames = audioop.tomono(frames, width, 0.5, 0.5)
    if rate != RATE:
        frames, _ = audioop.ratecv(frames, width, 1, rate, RATE, None)
    return audioop.bias(audioop.lin2lin(frames, width, 1), 1, 128)


def u8_to_wav(u8: bytes) -> bytes:
    """8 kHz 16-bit mono WAV (what Record writes and players expect)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(audioop.lin2lin(audioop.bias(u8, 1, -128), 1, 2))
    return out.getvalue()


def tone(duration: float, frequency: float = 1000.0, level: float = 0.3) -> bytes:
    count = int(round(duration * RATE))
    return bytes(int(128 + 127 * level * math.sin(2 * math.pi * frequency * i / RATE))
                 for i in range(count))


def silence(duration: float) -> bytes:
    return bytes([SILENCE]) * int(round(duration * RATE))


def u8_to_ulaw(u8: bytes) -> bytes:
    return audioop.lin2ulaw(audioop.lin2lin(audioop.bias(u8, 1, -128), 1, 2), 2)


def ulaw_to_u8(ulaw: bytes) -> bytes:
    return audioop.bias(audioop.lin2lin(audioop.ulaw2lin(ulaw, 2), 2, 1), 1, 128)


def rms_u8(u8: bytes) -> int:
    return audioop.rms(audioop.bias(u8, 1, -128), 1) if u8 else 0


def fetch_audio(source: str, sounds_dir: str, cache_dir: str, timeout: float = 15.0) -> bytes:
    """u8 audio for a Play source: an http(s) URL (downloaded once, cached) or a file path
    (relative paths under ``sounds_dir``, like Ozeki's ContentStorage/Static)."""
    if source.startswith(("http://", "https://")):
        cache = Path(cache_dir) / "play" / (hashlib.sha256(source.encode()).hexdigest()
                                            + ".u8")
        if cache.exists():
            return cache.read_bytes()
        try:
            response = requests.get(source, timeout=(5.0, timeout))
            response.raise_for_status()
        except requests.RequestException as exc:
            raise VoiceError(f"cannot download {source}: {exc}") from None
        u8 = wav_to_u8(response.content, source)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(u8)
        return u8
    path = Path(source)
    if not path.is_absolute():
        path = Path(sounds_dir) / path
    try:
        return wav_to_u8(path.read_bytes(), str(path))
    except OSError as exc:
        raise VoiceError(f"cannot read {path}: {exc.strerror}") from None
