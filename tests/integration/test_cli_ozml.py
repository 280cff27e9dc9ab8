"""`ivr lint` and `ivr simulate` as an ops person runs them, and fetches over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
IVR = [sys.executable, "-m", "ivr.cli"]
sys.path.insert(0, str(ROOT / "tools"))
from ozml_webapp import create_app  # noqa: E402


def ivr(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IVR, *args], capture_output=True, text=True, cwd=ROOT,
                          input=stdin, timeout=60)


@pytest.fixture(scope="module")
def webapp() -> Iterator[tuple[str, object]]:
    app = create_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join(5)


def test_lint_samples_exit_zero() -> None:
    result = ivr("lint", *sorted(str(p) for p in (ROOT / "ozml_scripts").glob("*.xml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stderr


def test_lint_reports_compiler_style_and_exits_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<Response>\n  <Speek>hi</Speek>\n</Response>\n")
    result = ivr("lint", str(bad))
    assert result.returncode == 1
    assert f"{bad}:2:3: error: unknown command <Speek> (did you mean <Speak>?)" in result.stdout


def test_simulate_menu_digit_two_takes_support_branch() -> None:
    result = ivr("simulate", "ozml_scripts/menu.xml", "--digits", "2")
    assert result.returncode == 0, result.stderr
    assert "[dtmf] caller pressed 2" in result.stdout
    assert "[speak] You chose support." in result.stdout
    assert "Sales is closed" not in result.stdout


def test_simulate_seed_sendsms_prints_the_sms() -> None:
    result = ivr("simulate", "ozml_scripts/sendsms.xml")
    assert "[sms] to +062554670: Hello! How are you?" in result.stdout
    lines = result.stdout.splitlines()
    assert "[speak] The SMS has been sent." in lines[-2] and "[hangup]" in lines[-1]


def test_simulate_reads_digits_from_stdin() -> None:
    result = ivr("simulate", "ozml_scripts/pin.xml", stdin="1234#\n")
    assert "[speak] Thank you. Your PIN is correct." in result.stdout


def test_simulate_times_out_like_a_call() -> None:
    result = ivr("simulate", "ozml_scripts/menu.xml", "--digits", "")
    assert result.stdout.count("no key pressed within 5 s") == 3
    assert "We did not hear from you." in result.stdout


def test_simulate_request_example_against_web_app(webapp: tuple[str, object]) -> None:
    base, app = webapp
    script = (ROOT / "ozml_scripts" / "request.xml").read_text().replace(
        "http://127.0.0.1:8088", base)
    path = ROOT / "var" / "request-test.xml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(script)
    try:
        result = ivr("simulate", str(path), "--digits", "7", "--caller", "+3611111")
    finally:
        path.unlink()
    assert "[speak] The web application received 7." in result.stdout
    hits = app.config["hits"]  # type: ignore[attr-defined]
    assert hits[-1][0] == "menu"
    assert hits[-1][1]["NotificationName"] == "DtmfEntered"
    assert hits[-1][1]["Caller"] == "+3611111"


@pytest.mark.parametrize(("path", "expect"), [
    ("/start", "Hello +15550001111, this text came from the web."),
    ("/warn", "Attributes we do not know are ignored."),
    ("/broken", "Sorry, an application error occurred."),
    ("/unknown-verb", "Sorry, an application error occurred."),
    ("/error", "Sorry, an application error occurred."),
    ("/loop", "Sorry, an application error occurred."),
])
def test_simulate_url_scripts(webapp: tuple[str, object], path: str, expect: str) -> None:
    base, _ = webapp
    result = ivr("simulate", base + path)
    assert expect in result.stdout, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("[hangup]")


def test_fetch_of_unreachable_app_is_bounded() -> None:
    import socket

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = ivr("simulate", f"http://127.0.0.1:{port}/x")
    assert "Sorry, an application error occurred." in result.stdout
    assert "cannot fetch" in result.stderr


def test_simulate_ozeki_array_foreach_example() -> None:
    """p_7650's example reads the array's items out, in order."""
    result = ivr("simulate", "ozml_scripts/array.xml", "--digits", "")
    lines = [line.split("s  ", 1)[1] for line in result.stdout.splitlines()]
    assert lines == ["[answer] call from +15550001111 to ivr", "[speak] Hello",
                     "[speak] Welcome", "[hangup]"], result.stdout + result.stderr


def test_simulate_ozeki_receive_alarm_example() -> None:
    """p_5556's example: handshake, the panel's 16 keys, kissoff, then the e-mail."""
    result = ivr("simulate", "ozml_scripts/alarm.xml", "--digits", "123418113001015*")
    out = result.stdout
    assert "[play] tone:1400/0.1,0/0.1,2300/0.1" in out and "[play] tone:1400/0.8" in out
    assert ("[email] to recepient@mail.com: alarmTest: Account 1234, Event name Burglary, "
            "Zone 015") in out


def test_simulate_unsupported_command_is_skipped(tmp_path: Path) -> None:
    script = tmp_path / "route.xml"
    script.write_text('<Response><Route RingTime="30" Destination="1000"/>'
                      "<Speak>after</Speak></Response>")
    lint = ivr("lint", str(script))
    assert lint.returncode == 0 and "Ozeki command Route is not supported by ivr: " in lint.stdout
    result = ivr("simulate", str(script), "--digits", "")
    assert "[speak] after" in result.stdout
    assert "Route is not supported" in result.stderr


def test_simulate_silent_menu_ends_at_max_call_seconds(tmp_path: Path) -> None:
    config = tmp_path / "ivr.ini"
    config.write_text("[ozml]\nmax_call_seconds = 30\n")
    script = tmp_path / "menu.xml"
    script.write_text('<Response><UserInput Repeat="true" Timeout="5"><InitialCommands>'
                      "<Speak>menu</Speak></InitialCommands><Inputs><Input Key=\"1\">"
                      "<Speak>one</Speak></Input></Inputs></UserInput></Response>")
    result = ivr("simulate", str(script), "--digits", "", "--config", str(config))
    assert result.stdout.count("[speak] menu") == 6     # 5 s + 0.5 s per round, 30 s in all
    assert "max_call_seconds" in result.stderr and result.stdout.rstrip().endswith("[hangup]")


def test_simulate_resolves_address_book_names_as_a_call_does(tmp_path: Path) -> None:
    config = tmp_path / "ivr.ini"
    config.write_text(f"[ivr]\ndata_dir = {tmp_path}/var\n")
    for name, number in (("alice", "+3611111111"), ("bob", "+3622222222")):
        added = ivr("contacts", "--config", str(config), "add", name, number, "--list", "oncall")
        assert added.returncode == 0, added.stderr
    script = tmp_path / "page.xml"
    script.write_text('<Response><SendSms Recipient="Bob">hi bob</SendSms>'
                      '<SendSms Recipient="oncall">all hands</SendSms></Response>')
    result = ivr("simulate", str(script), "--digits", "", "--config", str(config))
    assert "[sms] to +3622222222: hi bob" in result.stdout, result.stdout + result.stderr
    assert "[sms] to +3611111111: all hands" in result.stdout
    assert "[sms] to +3622222222: all hands" in result.stdout


def test_simulate_creates_no_database_for_the_address_book(tmp_path: Path) -> None:
    config = tmp_path / "ivr.ini"
    config.write_text(f"[ivr]\ndata_dir = {tmp_path}/var\n")
    script = tmp_path / "page.xml"
    script.write_text('<Response><SendSms Recipient="bob">hi</SendSms></Response>')
    result = ivr("simulate", str(script), "--digits", "", "--config", str(config))
    assert "[sms] to bob: hi" in result.stdout, result.stdout + result.stderr
    assert not (tmp_path / "var" / "ivr.db").exists()
