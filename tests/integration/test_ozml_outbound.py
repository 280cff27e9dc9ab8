"""OzML's outbound reach over real peers: the URL policy on every fetch hop (a real HTTP app),
SQL OzML on a real PostgreSQL (tools/postgres.py) with an injection attempt, and Play's file
confinement and WAV caps on real files."""

from __future__ import annotations

import io
import sys
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from ivr.errors import OzmlFetchError, VoiceError
from ivr.ozml.fetch import HttpFetcher
from ivr.ozml.interpreter import Interpreter
from ivr.ozml.memory import InMemorySmsSubmitter
from ivr.ozml.settings import OzmlSettings
from ivr.sms.callbacks import UrlPolicy
from ivr.voice import audio
from tests.unit.ozml.recording_call import RecordingCall

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from ozml_webapp import create_app  # noqa: E402


@pytest.fixture(scope="module")
def webapp() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def test_redirect_hops_are_checked_by_the_policy(webapp: str) -> None:
    allowed = HttpFetcher(policy=UrlPolicy(["127.0.0.1"], []))
    assert b"came from the web" in allowed.fetch(f"{webapp}/redirect?to=/start", {}).body
    # a redirect to a denied address (the cloud metadata service) is refused before it is
    # requested, though the first URL was fine
    fetcher = HttpFetcher(policy=UrlPolicy(["127.0.0.1"], ["169.254.0.0/16"]))
    with pytest.raises(OzmlFetchError, match="refused by the outbound URL policy"):
        fetcher.fetch(f"{webapp}/redirect?to=http://169.254.169.254/latest/meta-data/", {})
    denied = HttpFetcher(policy=UrlPolicy([], ["127.0.0.0/8"]))
    with pytest.raises(OzmlFetchError, match="refused"):
        denied.fetch(f"{webapp}/start", {})


def test_goto_to_a_denied_url_ends_in_the_apology(webapp: str, tmp_path: Path) -> None:
    script = tmp_path / "s.xml"
    script.write_text(f"<Response><GoTo>{webapp}/start</GoTo></Response>")
    call = RecordingCall()
    Interpreter(OzmlSettings(), InMemorySmsSubmitter(),
                url_policy=UrlPolicy([], ["127.0.0.0/8"])).run(call, str(script))
    assert call.spoken() == [OzmlSettings().apology_text]


def test_sql_ozml_on_postgresql_binds_variables(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ozml_scripts")
        conn.execute("CREATE TABLE ozml_scripts (caller text, ozml text)")
        conn.execute("INSERT INTO ozml_scripts VALUES (%s, %s), (%s, %s)",
                     ("+15550001111", "<Response><Speak>Hi from PostgreSQL, $caller"
                      "</Speak></Response>", "x", "<Response><Speak>secret</Speak></Response>"))

    def run(body: str) -> RecordingCall:
        call = RecordingCall()
        documents = {"http://app/main": f"<Response>{body}</Response>"}

        class Docs:
            def fetch(self, location: str, form: dict[str, str], method: str = "POST"
                      ) -> object:
                from ivr.ozml.fetch import Fetched
                return Fetched(documents[location].encode(), location)

        Interpreter(OzmlSettings(sql_url=postgres_url), InMemorySmsSubmitter(),
                    fetcher=Docs()).run(call, "http://app/main")  # type: ignore[arg-type]
        return call

    assert run("<GoTo>SELECT ozml FROM ozml_scripts WHERE caller = '$caller'</GoTo>"
               ).spoken() == ["Hi from PostgreSQL, +15550001111"]
    hostile = run("<Var Id=\"who\">' OR '1'='1</Var>"
                  "<Request>SELECT ozml FROM ozml_scripts WHERE caller = $who</Request>")
    assert hostile.spoken() == [OzmlSettings().apology_text]     # no row: data, not SQL
    writes = run("<GoTo>WITH gone AS (DELETE FROM ozml_scripts RETURNING ozml) "
                 "SELECT ozml FROM gone</GoTo>")
    assert writes.spoken() == [OzmlSettings().apology_text]      # read-only session
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM ozml_scripts").fetchone() == (2,)


def wav_bytes(rate: int, frames: int, claimed: int | None = None) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * frames)
    data = bytearray(out.getvalue())
    if claimed is not None:                 # a header that lies about the length
        data[40:44] = (claimed * 2).to_bytes(4, "little")
    return bytes(data)


def test_play_paths_stay_in_sounds_dir(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    (sounds / "ok.wav").write_bytes(wav_bytes(8000, 800))
    (tmp_path / "secret.wav").write_bytes(wav_bytes(8000, 800))
    cache = str(tmp_path / "cache")
    assert len(audio.fetch_audio("ok.wav", str(sounds), cache)) == 800
    assert len(audio.fetch_audio(str(sounds / "ok.wav"), str(sounds), cache)) == 800
    for bad in ("../secret.wav", str(tmp_path / "secret.wav"), "/etc/passwd"):
        with pytest.raises(VoiceError, match="outside"):
            audio.fetch_audio(bad, str(sounds), cache)


def test_wav_rate_and_length_are_capped() -> None:
    with pytest.raises(VoiceError, match="sample rate 100 Hz"):
        audio.wav_to_u8(wav_bytes(100, 10), "slow.wav")     # ratecv would stretch it 80x
    with pytest.raises(VoiceError, match="over the 3600 s limit"):
        audio.wav_to_u8(wav_bytes(8000, 10, claimed=8000 * 7200), "long.wav")


def test_mp3_recording_is_real_mp3() -> None:
    mp3 = audio.encode_recording(audio.tone(1.0), "mp3")
    assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0)   # frame sync
    assert 2000 < len(mp3) < 8000        # ~32 kbit/s for one second
    assert audio.encode_recording(audio.tone(1.0), "wav")[:4] == b"RIFF"
