"""Audio in the one format pyVoIP's RTP client takes: 8 kHz, mono, 8-bit unsigned (silence 0x80).

pyVoIP sends 160 bytes every 20 ms, so a prompt of N bytes lasts N / 8000 seconds. WAV files
of any rate, width and channel count are converted here; anything else is a clear error.
``audioop`` is in the standard library up to 3.12 and comes from ``audioop-lts`` on 3.13+.

Hostile files: a WAV header may claim hours of audio or a rate of 1 Hz (which ``ratecv``
would stretch 8000-fold), so the decoded length and the rate are capped before converting,
downloads are capped in bytes and never follow redirects, and a file name must stay inside
``sounds_dir`` (``../`` and absolute paths elsewhere are refused). Recordings are encoded as
MP3 (Ozeki's default, LAME through ``lameenc``) or WAV.
"""

from __future__ import annotations

import audioop
import hashlib
import io
import math
import wave
from pathlib import Path

import urllib3

from ivr.errors import IvrError, VoiceError
from ivr.outbound import OutboundError, Vetter, open_vetted
from ivr.ozml.files import confine
from ivr.urlpolicy import UrlPolicy

__all__ = ["RATE", "SILENCE", "wav_to_u8", "u8_to_wav", "u8_to_mp3", "encode_recording",
           "tone", "tones", "silence", "u8_to_ulaw", "ulaw_to_u8", "rms_u8", "fetch_audio",
           "seconds", "MAX_PROMPT_SECONDS", "MAX_DOWNLOAD_BYTES"]

RATE = 8000
SILENCE = 0x80
MAX_PROMPT_SECONDS = 3600.0       # longer prompts are refused, not decoded
MAX_DOWNLOAD_BYTES = 50_000_000
_MIN_RATE, _MAX_RATE = 4000, 384000   # ratecv's stretch is bounded by RATE / _MIN_RATE = 2


def seconds(u8: bytes) -> float:
    return len(u8) / RATE


def wav_to_u8(data: bytes, source: str = "<audio>") -> bytes:
    try:
        with wave.open(io.BytesIO(data)) as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            if not _MIN_RATE <= rate <= _MAX_RATE:
                raise VoiceError(f"{source}: sample rate {rate} Hz is outside "
                                 f"{_MIN_RATE}-{_MAX_RATE} Hz")
            count = wav.getnframes()
            if count / rate > MAX_PROMPT_SECONDS:
                raise VoiceError(f"{source}: {count / rate:.0f} s of audio, over the "
                                 f"{MAX_PROMPT_SECONDS:.0f} s limit")
            frames = wav.readframes(count)
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


def u8_to_mp3(u8: bytes, bitrate: int = 32) -> bytes:
    """8 kHz mono MP3 (MPEG-2.5 layer III) through LAME; 32 kbit/s is ample for a phone line."""
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    encoder.set_quality(5)
    pcm = audioop.lin2lin(audioop.bias(u8, 1, -128), 1, 2)
    return bytes(encoder.encode(pcm)) + bytes(encoder.flush())


def encode_recording(u8: bytes, fmt: str) -> bytes:
    """A recording in ``fmt`` (``mp3`` or ``wav``), as <Record Format> asks."""
    return u8_to_mp3(u8) if fmt == "mp3" else u8_to_wav(u8)


def tones(spec: str) -> bytes:
    """``1400/0.1,0/0.1,2300/0.1``: tones (Hz/seconds; 0 Hz is silence), e.g. Contact ID's
    handshake. Capped like any prompt."""
    out = bytearray()
    try:
        for part in spec.split(","):
            frequency, _, duration = part.partition("/")
            hz, secs = float(frequency), float(duration)
            if not (0 <= hz <= RATE / 2 and 0 < secs and len(out) / RATE + secs <= 60):
                raise ValueError(part)
            out += tone(secs, hz) if hz else silence(secs)
    except ValueError:
        raise VoiceError(f"tone:{spec}: expected Hz/seconds[,Hz/seconds…]") from None
    return bytes(out)


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


def fetch_audio(source: str, sounds_dir: str, cache_dir: str, timeout: float = 15.0,
                policy: Vetter | None = None) -> bytes:
    """u8 audio for a Play source: an http(s) URL (downloaded once, cached), a ``tone:``
    spec, or a file inside ``sounds_dir`` (Ozeki's ContentStorage/Static; relative names
    resolve there, names that leave it are refused). ``policy``: the deployment's outbound
    URL policy (None: nothing denied, still connected to the address resolved once)."""
    if source.startswith("tone:"):
        return tones(source[5:])
    if source.startswith(("http://", "https://")):
        cache = Path(cache_dir) / "play" / (hashlib.sha256(source.encode()).hexdigest()
                                            + ".u8")
        if cache.exists():
            return cache.read_bytes()
        u8 = wav_to_u8(_download(source, timeout, policy or UrlPolicy([], [])), source)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(u8)
        return u8
    try:
        path = confine(source, [sounds_dir], what="audio file")
    except IvrError as exc:
        raise VoiceError(str(exc)) from None
    try:
        if path.stat().st_size > MAX_DOWNLOAD_BYTES:
            raise VoiceError(f"{path}: over {MAX_DOWNLOAD_BYTES} bytes")
        return wav_to_u8(path.read_bytes(), str(path))
    except OSError as exc:
        raise VoiceError(f"cannot read {path}: {exc.strerror}") from None


def _download(source: str, timeout: float, policy: Vetter) -> bytes:
    """The body of ``source``, connected to the address the policy judged; a redirect is
    refused (the policy checked ``source`` itself, not where it might send us) and so is a
    body over MAX_DOWNLOAD_BYTES."""
    try:
        response = open_vetted("GET", source, policy, read_timeout=timeout)
    except OutboundError as exc:
        raise VoiceError(f"cannot download {source}: {exc}") from None
    try:
        if 300 <= response.status < 400:
            raise VoiceError(f"{source} redirects to {response.headers.get('Location')!r}; "
                             "give the final URL (redirects are not followed for audio)")
        if response.status >= 400:
            raise VoiceError(f"cannot download {source}: HTTP {response.status}")
        body = bytearray()
        for chunk in response.stream(65536):
            body += chunk
            if len(body) > MAX_DOWNLOAD_BYTES:
                raise VoiceError(f"{source}: over {MAX_DOWNLOAD_BYTES} bytes")
        return bytes(body)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise VoiceError(f"cannot download {source}: {exc}") from None
    finally:
        response.release_conn()
