"""WAV conversion to pyVoIP's 8 kHz u8, tones, silence, TTS cache."""

from __future__ import annotations

import audioop
import io
import math
import wave
from pathlib import Path

import pytest

from ivr.errors import VoiceError
from ivr.voice import audio
from ivr.voice.tts import Tts


def wav(rate: int, width: int, channels: int, seconds: float = 0.5) -> bytes:
    frames = int(rate * seconds)
    peak = {1: 100, 2: 20000, 3: 5_000_000, 4: 1_000_000_000}[width]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        samples = b"".join(
            int(peak * math.sin(2 * math.pi * 440 * i / rate)).to_bytes(width, "little",
                                                                       signed=True) * channels
            for i in range(frames))
        if width == 1:  # 8-bit WAV is unsigned
            samples = audioop.bias(samples, 1, 128)
        w.writeframes(samples)
    return out.getvalue()


@pytest.mark.parametrize(("rate", "width", "channels"), [
    (8000, 2, 1), (16000, 2, 1), (22050, 2, 1), (44100, 2, 2), (48000, 3, 2), (11025, 1, 1),
    (8000, 4, 1)])
def test_any_wav_becomes_8k_u8_of_the_same_length(rate: int, width: int, channels: int) -> None:
    u8 = audio.wav_to_u8(wav(rate, width, channels), "t.wav")
    assert abs(audio.seconds(u8) - 0.5) < 0.01
    assert audio.rms_u8(u8) > 10            # the tone survived
    assert abs(sum(u8) / len(u8) - 128) < 3  # centred on 0x80 (unsigned 8-bit)


def test_not_a_wav_is_a_clear_error() -> None:
    with pytest.raises(VoiceError, match="not a playable WAV file.*sox"):
        audio.wav_to_u8(b"ID3\x03\x00mp3 data", "song.mp3")


def test_tone_silence_and_ulaw_round_trip() -> None:
    beep = audio.tone(0.5)
    assert len(beep) == 4000 and audio.rms_u8(beep) > 20
    assert audio.silence(0.25) == b"\x80" * 2000
    back = audio.ulaw_to_u8(audio.u8_to_ulaw(beep))
    assert len(back) == len(beep) and abs(audio.rms_u8(back) - audio.rms_u8(beep)) <= 2


def test_u8_to_wav_is_8k_16bit_mono() -> None:
    with wave.open(io.BytesIO(audio.u8_to_wav(audio.tone(1.0)))) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels(), w.getnframes()) == (
            8000, 2, 1, 8000)


def test_play_paths_resolve_under_sounds_dir(tmp_path: Path) -> None:
    (tmp_path / "hello.wav").write_bytes(wav(16000, 2, 1))
    u8 = audio.fetch_audio("hello.wav", str(tmp_path), str(tmp_path / "cache"))
    assert abs(audio.seconds(u8) - 0.5) < 0.01
    with pytest.raises(VoiceError, match="cannot read"):
        audio.fetch_audio("missing.wav", str(tmp_path), str(tmp_path / "cache"))


def test_tts_is_cached_on_disk_and_in_memory(tmp_path: Path) -> None:
    tts = Tts(str(tmp_path), voice="en", rate=170)
    first = tts.speak("Press one for sales.")
    assert audio.seconds(first) > 0.5 and audio.rms_u8(first) > 0
    assert len(list((tmp_path / "tts").glob("*.u8"))) == 1
    again = Tts(str(tmp_path)).speak("Press one for sales.")   # a new process: disk cache
    assert again == first
    other = tts.speak("Press one for sales.", rate=120)         # rate is part of the key
    assert audio.seconds(other) > audio.seconds(first)


def test_espeak_cli_fallback_produces_audio(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    Tts._espeak_cli("Fallback speech works.", "en", 170, target)
    assert audio.seconds(audio.wav_to_u8(target.read_bytes())) > 0.8
