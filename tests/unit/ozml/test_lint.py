"""Lint rules: each one fires on its case and stays quiet on the sample scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.ozml.lint import lint_bytes, lint_file

SCRIPTS = sorted(Path(__file__).resolve().parents[3].joinpath("ozml_scripts").glob("*.xml"))


def findings(body: str) -> list[tuple[str, int, str]]:
    return [(d.severity, d.line, d.message)
            for d in lint_bytes(f"<Response>\n{body}\n</Response>".encode(), "l.xml")]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_sample_scripts_are_clean(path: Path) -> None:
    assert lint_file(str(path)) == []


def test_sample_scripts_exist() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"welcome.xml", "sendsms.xml", "menu.xml", "pin.xml", "request.xml"} <= names


@pytest.mark.parametrize(("body", "severity", "fragment"), [
    ("<Speak>a</Speak>\n<Reject/>", "error", "<Reject> is only valid as the first command"),
    ('<UserInput><Inputs><Input Key="1"><Reject/></Input></Inputs></UserInput>', "error",
     "only valid as the first"),
    ("<Hangup/>\n<Speak>dead</Speak>", "warning", "unreachable"),
    ('<UserInput Digits="1"><Inputs><Input Key="12"/></Inputs></UserInput>', "error",
     "has 2 digits"),
    ('<UserInput Digits="2" FinishOnKey="#"><Inputs><Input Key="1#"/></Inputs></UserInput>',
     "error", "contains the finish key"),
    ('<UserInput Timeout="5" Repeat="true"><Inputs><Input Key="1"/></Inputs></UserInput>',
     "warning", "re-prompts without a limit"),
    ('<UserInput><Inputs><Input Key="1"/></Inputs></UserInput>', "warning",
     "only [ozml] max_call_seconds"),
    ('<Play Repeat="true">hold.wav</Play>', "warning", "until the caller hangs up"),
    ("<UserInput/>", "warning", "no <Input> and no ForwardToUrl"),
    ("<SendMessage>x</SendMessage>", "warning",
     "Ozeki command SendMessage is not supported by ivr: "),
    ("<Route Destination='1000'/>", "warning", "Ozeki command Route is not supported by ivr"),
    ("<CallSetup Caller='101' Callee='102'/>", "warning",
     "Ozeki command CallSetup is not supported by ivr"),
    ("<GoTo>SELECT a FROM b; DELETE FROM b</GoTo>", "error", "one SQL statement only"),
    ("<DeleteFile>../../etc/passwd</DeleteFile>", "warning", "refused unless it resolves"),
    ("<Play>/etc/passwd</Play>", "warning", "sounds_dir"),
    ("<ForEach Source='nothing'><Speak>$item</Speak></ForEach>", "warning",
     "no <Array> with that Id"),
    ("<Speak>Hello $nobody</Speak>", "warning", "$nobody is never set"),
    ("<Speak Colour=\"red\">x</Speak>", "warning", "no attribute 'Colour'"),
    ("<Speek>x</Speek>", "error", "did you mean <Speak>?"),
])
def test_rules(body: str, severity: str, fragment: str) -> None:
    found = findings(body)
    assert any(s == severity and fragment in m for s, _, m in found), found


def test_defined_and_builtin_variables_are_quiet() -> None:
    assert findings('<Var Id="x">1</Var><Speak>$x $caller $digits $callid</Speak>') == []


def test_self_goto_without_input_is_an_error(tmp_path: Path) -> None:
    loop = tmp_path / "loop.xml"
    loop.write_text("<Response><Speak>a</Speak><GoTo>loop.xml</GoTo></Response>")
    assert [d.severity for d in lint_file(str(loop))] == ["error"]
    menu = tmp_path / "menu.xml"
    menu.write_text('<Response><UserInput Timeout="5"><Inputs><Input Key="1"><Speak>x</Speak></Input>'
                    "</Inputs></UserInput><GoTo>menu.xml</GoTo></Response>")
    assert lint_file(str(menu)) == []


def test_unreadable_and_huge_files(tmp_path: Path) -> None:
    assert "cannot read" in lint_file(str(tmp_path / "none.xml"))[0].message
    big = tmp_path / "big.xml"
    big.write_bytes(b"<Response>" + b" " * 2_000_000 + b"</Response>")
    assert "over the" in lint_file(str(big))[0].message
