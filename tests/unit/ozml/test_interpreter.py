"""Interpreter semantics on an in-memory call: every verb, menus, timing, failure paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.errors import ValidationError
from ivr.ozml.fetch import Fetched
from ivr.ozml.interpreter import Interpreter
from ivr.ozml.memory import InMemorySmsSubmitter
from ivr.ozml.settings import OzmlSettings
from tests.unit.ozml.recording_call import RecordingCall


class DocumentServer:
    """A Fetcher over a dict of documents, recording every notification (a real HTTP server
    is used in tests/integration/test_cli_ozml.py)."""

    def __init__(self, documents: dict[str, str]) -> None:
        self.documents = documents
        self.requests: list[tuple[str, dict[str, str], str]] = []

    def fetch(self, location: str, form: dict[str, str], method: str = "POST") -> Fetched:
        from ivr.errors import OzmlFetchError

        self.requests.append((location, dict(form), method))
        if location not in self.documents:
            raise OzmlFetchError(f"{location} answered HTTP 404", source=location)
        return Fetched(self.documents[location].encode(), location)


def run(script: str, call: RecordingCall | None = None, *, docs: dict[str, str] | None = None,
        sms: InMemorySmsSubmitter | None = None, **settings: object) -> RecordingCall:
    call = call or RecordingCall()
    server = DocumentServer({"http://app/main": script, **(docs or {})})
    interpreter = Interpreter(OzmlSettings(**settings), sms or InMemorySmsSubmitter(),  # type: ignore[arg-type]
                              fetcher=server)
    interpreter.run(call, "http://app/main")
    call.server = server  # type: ignore[attr-defined]
    return call


def R(body: str) -> str:
    return f"<Response>{body}</Response>"


def test_speak_play_delay_beep_hangup_in_order() -> None:
    call = run(R('<Speak Language="en-GB" Voice="f1" Rate="150">Hi $caller</Speak>'
                 "<Play>http://app/a.wav</Play><Delay>2</Delay><Beep Duration=\"0.3\"/>"
                 "<Hangup/><Speak>never</Speak>"))
    assert call.events == [("answer", ""), ("speak", "Hi +15550001111"),
                           ("play", "http://app/a.wav"), ("silence", "2"), ("beep", "0.3"),
                           ("hangup", "")]


def test_end_of_script_hangs_up() -> None:
    call = run(R("<Speak>only</Speak>"))
    assert call.events[-1] == ("hangup", "")


def test_reject_as_first_command_never_answers() -> None:
    call = run(R("<Reject/><Speak>x</Speak>"))
    assert call.events == [("reject", "")]
    assert not call.answered


def test_exit_ends_the_script() -> None:
    call = run(R("<Speak>a</Speak><Exit/><Speak>b</Speak>"))
    assert call.spoken() == ["a"]


def test_play_repeat_keeps_relative_path_for_sounds_dir() -> None:
    call = run(R('<Play Repeat="3">x.wav</Play><Play Repeat="true" Timeout="2">$caller.wav</Play>'))
    plays = [label for kind, label in call.events if kind == "play"]
    assert plays[:3] == ["x.wav"] * 3
    assert plays[3] == "+15550001111.wav"


def test_var_substitution_in_text_and_url_is_encoded() -> None:
    call = run(R('<Var id="name">Ann &amp; Bob</Var><UserInput Digits="2" FinishOnKey="#"/>'
                 "<Speak>Hello $name, you typed $digits, $5 stays</Speak>"
                 "<GoTo>http://app/next?d=$digits</GoTo>"),
               RecordingCall(presses=[(0.0, "1"), (0.5, "#")]),
               docs={"http://app/next?d=1": R("<Speak>next</Speak>")})
    assert "Hello Ann & Bob, you typed 1, $5 stays" in call.spoken()
    assert call.spoken()[-1] == "next"


def test_menu_takes_the_branch_for_the_digit() -> None:
    menu = R('<UserInput><InitialCommands><Speak>menu</Speak></InitialCommands><Inputs>'
             '<Input Key="1"><Speak>one</Speak></Input><Input Key="2"><Speak>two</Speak></Input>'
             "</Inputs></UserInput><Speak>after</Speak>")
    call = run(menu, RecordingCall(presses=[(1.5, "2")]))
    assert call.spoken() == ["menu", "two", "after"]


def test_digit_during_prompt_stops_it_and_is_kept() -> None:
    menu = R('<UserInput><InitialCommands><Speak>p1</Speak><Speak>p2</Speak></InitialCommands>'
             '<Inputs><Input Key="2"><Speak>two</Speak></Input></Inputs></UserInput>')
    call = run(menu, RecordingCall(presses=[(0.3, "2")]))
    assert ("speak-interrupted", "p1") in call.events
    assert "p2" not in [label for kind, label in call.events if kind == "speak"]
    assert call.spoken()[-1] == "two"


def test_no_barge_in_plays_whole_prompt_but_keeps_digit() -> None:
    menu = R('<UserInput BargeIn="false"><InitialCommands><Speak>p1</Speak><Speak>p2</Speak>'
             '</InitialCommands><Inputs><Input Key="2"><Speak>two</Speak></Input></Inputs>'
             "</UserInput>")
    call = run(menu, RecordingCall(presses=[(0.3, "2")]))
    assert call.spoken() == ["p1", "p2", "two"]


def test_first_digit_timeout_starts_after_prompt() -> None:
    # prompt lasts 1 s; Timeout=2 -> a press at 2.9 s is still in time, at 3.1 s it is not
    menu = R('<UserInput Timeout="2" BargeIn="false"><InitialCommands><Speak>p</Speak>'
             '</InitialCommands><Inputs><Input Key="1"><Speak>one</Speak></Input></Inputs>'
             "<NoInput><Speak>none</Speak></NoInput></UserInput>")
    assert run(menu, RecordingCall(presses=[(2.9, "1")])).spoken()[-1] == "one"
    assert run(menu, RecordingCall(presses=[(3.1, "1")])).spoken()[-1] == "none"


def test_empty_prompt_still_collects() -> None:
    call = run(R('<UserInput><Inputs><Input Key="5"><Speak>five</Speak></Input></Inputs>'
                 "</UserInput>"), RecordingCall(presses=[(1.0, "5")]))
    assert call.spoken() == ["five"]


def test_multi_digit_finish_key_and_inter_digit_timeout() -> None:
    pin = R('<UserInput Digits="6" FinishOnKey="#" Timeout="5" InterDigitTimeout="2"><Inputs>'
            '<Input Key="1234"><Speak>ok</Speak></Input></Inputs>'
            "<Invalid><Speak>bad $digits</Speak></Invalid></UserInput>")
    assert run(pin, RecordingCall(presses=[(1, "1"), (2, "2"), (3, "3"), (4, "4"),
                                           (5, "#")])).spoken() == ["ok"]
    # 3 s gap after "12" exceeds InterDigitTimeout=2: collection ends with "12"
    assert run(pin, RecordingCall(presses=[(1, "1"), (2, "2"), (5, "3")])).spoken() == ["bad 12"]


def test_repeat_reprompts_then_no_input_branch() -> None:
    menu = R('<UserInput Timeout="1" Repeat="true" MaxRepeats="2"><InitialCommands>'
             "<Speak>menu</Speak></InitialCommands><Inputs><Input Key=\"1\"><Speak>one</Speak>"
             "</Input></Inputs><NoInput><Speak>bye</Speak></NoInput></UserInput>")
    call = run(menu)
    assert call.spoken() == ["menu", "menu", "menu", "bye"]


def test_invalid_branch_then_reprompt() -> None:
    menu = R('<UserInput Timeout="1" Repeat="true" MaxRepeats="1"><InitialCommands>'
             "<Speak>menu</Speak></InitialCommands><Inputs><Input Key=\"1\"><Speak>one</Speak>"
             "</Input></Inputs><Invalid><Speak>invalid</Speak></Invalid></UserInput>")
    call = run(menu, RecordingCall(presses=[(1.2, "9"), (3.5, "1")]))
    assert call.spoken() == ["menu", "invalid", "menu", "one"]


def test_without_repeat_no_input_falls_through() -> None:
    call = run(R('<UserInput Timeout="1"><Inputs><Input Key="1"><Speak>one</Speak></Input>'
                 "</Inputs></UserInput><Speak>next</Speak>"))
    assert call.spoken() == ["next"]


def test_nested_menu_back_key_returns_to_parent() -> None:
    menu = R('<UserInput Timeout="3"><InitialCommands><Speak>top</Speak></InitialCommands>'
             '<Inputs><Input Key="2"><UserInput BackKey="*" Timeout="3"><InitialCommands>'
             "<Speak>sub</Speak></InitialCommands><Inputs><Input Key=\"1\"><Speak>sub1</Speak>"
             '</Input></Inputs></UserInput></Input><Input Key="3"><Speak>three</Speak></Input>'
             "</Inputs></UserInput>")
    call = run(menu, RecordingCall(presses=[(1.5, "2"), (3.0, "*"), (4.5, "3")]))
    assert call.spoken() == ["top", "sub", "top", "three"]


def test_unmatched_digits_go_to_forward_url_as_dtmf_entered() -> None:
    menu = R('<UserInput ForwardToUrl="/dtmf"><Inputs><Input Key="1"><Speak>one</Speak>'
             "</Input></Inputs></UserInput><Speak>not reached</Speak>")
    call = run(menu, RecordingCall(presses=[(0.5, "7")]),
               docs={"http://app/dtmf": R("<Speak>from app</Speak>")})
    assert call.spoken() == ["from app"]
    location, form, method = call.server.requests[-1]  # type: ignore[attr-defined]
    assert (location, method) == ("http://app/dtmf", "POST")
    assert form["NotificationName"] == "DtmfEntered" and form["Digits"] == "7"
    assert form["CallId"] == "test-call" and form["Caller"] == "+15550001111"


def test_send_sms_defaults_to_caller_and_never_blocks() -> None:
    sms = InMemorySmsSubmitter()
    call = run(R('<SendSms>hi</SendSms><SendSms Recipient="+36201234567" Sender="IVR" '
                 'DelivaryReportURL="http://app/dlr?x=1">Code $callid</SendSms>'
                 "<Speak>sent $smsid</Speak>"), sms=sms)
    first, second = (request for _, request in sms.submitted)
    assert (first.recipient, first.body) == ("+15550001111", "hi")
    assert (second.recipient, second.sender, second.body) == ("+36201234567", "IVR",
                                                               "Code test-call")
    assert second.callback_url == "http://app/dlr?x=1" and second.callback_format == "ozeki"
    assert call.spoken() == [f"sent {sms.submitted[1][0]}"]


def test_rejected_sms_does_not_end_the_call() -> None:
    class Refusing:
        def submit_sms(self, request: object) -> str:
            raise ValidationError("Recipient", "not a phone number")

    call = RecordingCall()
    Interpreter(OzmlSettings(), Refusing(), fetcher=DocumentServer({  # type: ignore[arg-type]
        "http://app/main": R("<SendSms Recipient=\"x\">hi</SendSms><Speak>still here</Speak>")})
    ).run(call, "http://app/main")
    assert call.spoken() == ["still here"]


def test_goto_and_request_post_ozeki_notifications() -> None:
    call = run(R("<GoTo>/two</GoTo>"), docs={
        "http://app/two": R('<Request Method="GET">http://app/three</Request>'),
        "http://app/three": R("<Speak>three</Speak>")})
    requests = call.server.requests  # type: ignore[attr-defined]
    assert [(r[0], r[1]["NotificationName"], r[2]) for r in requests] == [
        ("http://app/main", "IncomingCall", "POST"), ("http://app/two", "GoTo", "POST"),
        ("http://app/three", "Request", "GET")]
    assert call.spoken() == ["three"]


def test_goto_loop_stops_at_hop_limit_with_apology() -> None:
    call = run(R("<GoTo>/main</GoTo>"), fetch_hop_limit=5)
    assert call.spoken() == ["Sorry, an application error occurred. Goodbye."]
    assert call.events[-1] == ("hangup", "")
    assert len(call.server.requests) == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize("target", ["/missing", "/broken", "/unknown"])
def test_failed_fetch_apologises_and_hangs_up(target: str) -> None:
    call = run(R(f"<Speak>a</Speak><GoTo>{target}</GoTo><Speak>b</Speak>"), docs={
        "http://app/broken": "<Response><Speak>x</Response>",
        "http://app/unknown": R("<Dance/>")})
    assert call.spoken() == ["a", "Sorry, an application error occurred. Goodbye."]
    assert call.events[-1] == ("hangup", "")


def test_fallback_url_is_used_when_the_target_fails() -> None:
    call = run(R("<GoTo>/missing</GoTo>"), fallback_url="http://app/fallback",
               docs={"http://app/fallback": R("<Speak>fallback</Speak>")})
    assert call.spoken() == ["fallback"]
    form = call.server.requests[-1][1]  # type: ignore[attr-defined]
    assert form["ErrorUrl"] == "http://app/missing"


def test_initial_script_failure_answers_apologises_hangs_up() -> None:
    call = RecordingCall()
    Interpreter(OzmlSettings(), InMemorySmsSubmitter(),
                fetcher=DocumentServer({})).run(call, "http://app/nothing")
    assert call.events == [("answer", ""), ("speak", OzmlSettings().apology_text),
                           ("hangup", "")]


def test_caller_hangup_mid_prompt_ends_script() -> None:
    call = run(R("<Speak>one</Speak><Speak>two</Speak><Speak>three</Speak>"),
               RecordingCall(hangup_at=1.5))
    assert call.events[-1] == ("speak-cut", "two")
    assert ("hangup", "") not in call.events


def test_record_then_finished_url_receives_record_url() -> None:
    call = run(R('<Record Duration="30" Inactivity="3" FinishDigits="#" FinishedUrl="/done"/>'
                 "<Speak>after $recordurl</Speak>"), docs={"http://app/done": ""})
    assert ("record", "30/3/#") in call.events
    assert call.spoken() == ["after http://rec/r.wav"]
    form = call.server.requests[-1][1]  # type: ignore[attr-defined]
    assert form["NotificationName"] == "RecordCompleted"
    assert form["RecordURL"] == "http://rec/r.wav" and form["Duration"] == "2.5"


def test_blind_transfer_ends_script_on_success_and_continues_on_failure() -> None:
    ok = run(R('<BlindTransfer Target="200"/><Speak>x</Speak>'))
    assert ("transfer", "200") in ok.events and ok.spoken() == []
    failed = run(R("<Forward Destination=\"300\"/><Speak>x</Speak>"),
                 RecordingCall(transfer_ok=False))
    assert failed.spoken() == ["x"]


def test_send_dtmf() -> None:
    assert ("send-dtmf", "12#") in run(R('<SendDTMF Keys="12#"/>')).events


def test_call_without_originator_notifies_error_url() -> None:
    call = run(R('<Call Url="/connected" ErrorUrl="/err">+3612345</Call><Speak>go on</Speak>'),
               docs={"http://app/err": ""})
    form = call.server.requests[-1][1]  # type: ignore[attr-defined]
    assert form["NotificationName"] == "Error" and form["Dialled"] == "+3612345"
    assert call.spoken() == ["go on"]


def test_call_with_originator() -> None:
    placed: list[tuple[str, str, str]] = []

    class Originator:
        def originate(self, number: str, url: str, caller_id: str = "",
                      on_failure: Callable[[str], None] | None = None) -> str:
            placed.append((number, url, caller_id))
            return "out-1"

    call = RecordingCall()
    Interpreter(OzmlSettings(), InMemorySmsSubmitter(), originator=Originator(),
                fetcher=DocumentServer({"http://app/main": R(
                    '<Call Url="/c" CallerId="100">+3612345</Call>')})).run(call, "http://app/main")
    assert placed == [("+3612345", "http://app/c", "100")]


def test_call_refused_later_notifies_error_url_from_the_dialling_thread() -> None:
    """originate() returns at once; a busy callee is known only later, through on_failure."""
    failures: list[Callable[[str], None]] = []

    class Originator:
        def originate(self, number: str, url: str, caller_id: str = "",
                      on_failure: Callable[[str], None] | None = None) -> str:
            assert on_failure is not None
            failures.append(on_failure)
            return "out-2"

    server = DocumentServer({"http://app/main": R(
        '<Call Url="/c" ErrorUrl="/err">+3612345</Call><Speak>go on</Speak>'),
        "http://app/err": ""})
    call = RecordingCall()
    Interpreter(OzmlSettings(), InMemorySmsSubmitter(), originator=Originator(),
                fetcher=server).run(call, "http://app/main")
    assert call.spoken() == ["go on"] and len(server.requests) == 1
    failures[0]("busy (486 Busy Here)")          # the callee answered 486 after the script ended
    location, form, method = server.requests[-1]
    assert (location, method) == ("http://app/err", "POST")
    assert (form["NotificationName"], form["Dialled"], form["ErrorMessage"]) == (
        "Error", "+3612345", "busy (486 Busy Here)")


def test_placed_call_script_is_fetched_as_call_connected() -> None:
    server = DocumentServer({"http://app/c": R("<Speak>hello</Speak>")})
    call = RecordingCall()
    Interpreter(OzmlSettings(), InMemorySmsSubmitter(), fetcher=server).run(
        call, "http://app/c", notification="CallConnected")
    assert server.requests[0][1]["NotificationName"] == "CallConnected"
    assert call.spoken() == ["hello"]


def test_file_scripts_goto_siblings(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(R("<GoTo>b.xml</GoTo>"))
    (tmp_path / "b.xml").write_text(R("<Speak>in b</Speak>"))
    call = RecordingCall()
    Interpreter(OzmlSettings(), InMemorySmsSubmitter()).run(call, str(tmp_path / "a.xml"))
    assert call.spoken() == ["in b"]
