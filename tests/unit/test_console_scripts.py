"""The console's simulated calls (a replay of the inputs so far) and its script-name rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.console.scripts import TIMEOUT, ScriptFiles, simulate
from ivr.errors import ValidationError
from ivr.ozml.settings import OzmlSettings

MENU = """<Response>
  <UserInput Timeout="4" Digits="1">
    <InitialCommands><Speak Voice="en-us">Press 1.</Speak></InitialCommands>
    <Inputs><Input Key="1"><Speak>One.</Speak></Input></Inputs>
    <NoInput><Speak>Nothing?</Speak></NoInput>
  </UserInput>
  <Hangup/>
</Response>"""


@pytest.fixture
def files(tmp_path: Path) -> ScriptFiles:
    (tmp_path / "menu.xml").write_text(MENU)
    return ScriptFiles(tmp_path)


def lines(result: object) -> list[str]:
    return [line.text for line in result.lines]  # type: ignore[attr-defined]


def test_a_call_waits_for_the_first_key(files: ScriptFiles) -> None:
    result = simulate(OzmlSettings(), files, "menu.xml", MENU, [])
    assert (result.state, result.wait_seconds) == ("waiting", 4.0)
    assert lines(result)[-1] == "[speak] Press 1.  (voice=en-us)"
    assert result.lines[-1].speak == {"text": "Press 1.", "voice": "en-us", "rate": ""}


def test_keys_and_timeouts_replay_from_the_start(files: ScriptFiles) -> None:
    pressed = simulate(OzmlSettings(), files, "menu.xml", MENU, ["1"])
    assert pressed.state == "ended"
    assert lines(pressed)[-3:] == ["[dtmf] caller pressed 1", "[speak] One.", "[hangup]"]
    waited = simulate(OzmlSettings(), files, "menu.xml", MENU, [TIMEOUT])
    assert "[wait] no key pressed within 4 s" in lines(waited)
    assert "[speak] Nothing?" in lines(waited)


def test_the_editor_text_is_run_not_the_saved_file(files: ScriptFiles) -> None:
    text = "<Response><Speak>Unsaved.</Speak></Response>"
    assert "[speak] Unsaved." in lines(simulate(OzmlSettings(), files, "menu.xml", text, []))


@pytest.mark.parametrize("inputs", [["x"], ["12"], ["1"] * 201])
def test_bad_inputs_are_refused(files: ScriptFiles, inputs: list[str]) -> None:
    with pytest.raises(ValidationError):
        simulate(OzmlSettings(), files, "menu.xml", MENU, inputs)


@pytest.mark.parametrize("name", ["../menu.xml", "a/b.xml", ".x.xml", "menu.txt", "", "..",
                                  "x" * 101 + ".xml", "menu.xml\x00"])
def test_names_are_one_xml_file_of_the_directory(files: ScriptFiles, name: str) -> None:
    with pytest.raises(ValidationError):
        files.path(name)


def test_write_is_atomic_and_listed(files: ScriptFiles) -> None:
    files.write("new.xml", "<Response><Hangup/></Response>")
    assert files.names() == ["menu.xml", "new.xml"]
    assert files.read("new.xml") == "<Response><Hangup/></Response>"
    assert files.read("absent.xml") is None
    assert not [p for p in files.directory.iterdir() if p.name.startswith(".console-")]
