"""Ozeki's documented behaviour as the default (issue 14): menus, limits, new verbs, safety."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from ivr.ozml import alarm
from ivr.ozml.cache import ScriptCache
from ivr.ozml.interpreter import Interpreter
from ivr.ozml.lint import lint_bytes
from ivr.ozml.memory import InMemoryEmailSubmitter, InMemorySmsSubmitter
from ivr.ozml.parser import MAX_WARNINGS, parse_document
from ivr.ozml.settings import OzmlSettings
from ivr.ozml.sql import SqlDatabase, bind
from tests.unit.ozml.recording_call import RecordingCall
from tests.unit.ozml.test_interpreter import DocumentServer


def R(body: str) -> str:
    return f"<Response>{body}</Response>"


def run(script: str, call: RecordingCall | None = None, **kw: object) -> RecordingCall:
    call = call or RecordingCall()
    docs = kw.pop("docs", {})
    settings = OzmlSettings(**kw.pop("settings", {}))  # type: ignore[arg-type]
    server = DocumentServer({"http://app/main": script, **docs})  # type: ignore[dict-item]
    Interpreter(settings, InMemorySmsSubmitter(), fetcher=server,
                clock=lambda: call.now, **kw).run(call, "http://app/main")  # type: ignore[arg-type]
    call.server = server  # type: ignore[attr-defined]
    return call


# -- menus ------------------------------------------------------------------------------------
def test_hash_is_an_ordinary_key_and_digits_defaults_to_one() -> None:
    menu = R('<UserInput Timeout="3"><Inputs><Input Key="#"><Speak>hash</Speak></Input>'
             '<Input Key="1"><Speak>one</Speak></Input></Inputs></UserInput>')
    assert run(menu, RecordingCall(presses=[(0.5, "#")])).spoken() == ["hash"]
    # Digits defaults to 1: "1" then "2" is the choice "1", not "12"
    assert run(menu, RecordingCall(presses=[(0.5, "1"), (0.6, "2")])).spoken() == ["one"]


def test_min_and_max_digits() -> None:
    menu = R('<UserInput Timeout="3" MinDigits="3" MaxDigits="5" InterDigitTimeout="1">'
             '<Inputs><Input Key="12345"><Speak>full</Speak></Input>'
             '<Input Key="12"><Speak>short</Speak></Input></Inputs>'
             "<Invalid><Speak>bad $digits</Speak></Invalid></UserInput>")
    presses = [(0.5 + i * 0.1, d) for i, d in enumerate("123456")]
    assert run(menu, RecordingCall(presses=presses)).spoken() == ["full"]
    # two digits then silence: fewer than MinDigits is invalid even though Key="12" exists
    short = run(menu, RecordingCall(presses=[(0.5, "1"), (0.6, "2")]))
    assert short.spoken() == ["bad 12"]


def test_top_level_back_key_continues_after_the_menu() -> None:
    menu = R('<UserInput Timeout="3" BackKey="*"><InitialCommands><Speak>menu</Speak>'
             '</InitialCommands><Inputs><Input Key="1"><Speak>one</Speak></Input></Inputs>'
             "</UserInput><Speak>after</Speak>")
    assert run(menu, RecordingCall(presses=[(1.5, "*")])).spoken() == ["menu", "after"]


def test_repeat_true_is_unlimited_until_max_call_seconds() -> None:
    menu = R('<UserInput Timeout="10" Repeat="true"><InitialCommands><Speak>menu</Speak>'
             '</InitialCommands><Inputs><Input Key="1"><Speak>one</Speak></Input></Inputs>'
             "</UserInput>")
    call = run(menu, settings={"max_call_seconds": 120})
    # each round is 1 s of prompt + 10 s of waiting: far more than the old cap of 4 prompts
    assert call.spoken().count("menu") == 11
    assert call.events[-1] == ("hangup", "") and call.now <= 121


def test_menu_without_timeout_waits_until_the_limit() -> None:
    call = run(R('<UserInput><Inputs><Input Key="1"><Speak>one</Speak></Input></Inputs>'
                 "</UserInput><Speak>after</Speak>"), settings={"max_call_seconds": 60})
    assert ("timeout", "60") in call.events and "after" not in call.spoken()
    late = run(R('<UserInput><Inputs><Input Key="1"><Speak>one</Speak></Input></Inputs>'
                 "</UserInput>"), RecordingCall(presses=[(45.0, "1")]),
               settings={"max_call_seconds": 60})
    assert late.spoken() == ["one"]


def test_hold_music_repeats_until_the_limit() -> None:
    call = run(R('<Speak>Please hold</Speak><Play Repeat="true">hold.wav</Play>'),
               settings={"max_call_seconds": 30})
    assert [label for kind, label in call.events if kind == "play"].count("hold.wav") == 29


def test_explicit_attributes_keep_the_old_safer_behaviour() -> None:
    menu = R('<UserInput Timeout="1" Repeat="true" MaxRepeats="3" FinishOnKey="#" Digits="4">'
             '<InitialCommands><Speak>menu</Speak></InitialCommands>'
             '<Inputs><Input Key="12"><Speak>twelve</Speak></Input></Inputs></UserInput>')
    assert run(menu).spoken() == ["menu"] * 4
    assert run(menu, RecordingCall(presses=[(1.5, "1"), (1.6, "2"), (1.7, "#")])
               ).spoken() == ["menu", "twelve"]


# -- Delay, Record ----------------------------------------------------------------------------
def test_delay_time_attribute_as_ozeki_documents() -> None:
    call = run(R('<Delay Time="2"/><Delay>1.5</Delay><Delay Seconds="1"/>'))
    assert [e for e in call.events if e[0] == "silence"] == [("silence", "2"), ("silence", "1.5"),
                                                             ("silence", "1")]


def test_record_defaults_to_mp3_without_beep() -> None:
    seen = []

    class Call(RecordingCall):
        def record(self, spec):  # type: ignore[no-untyped-def]
            seen.append(spec)
            return super().record(spec)

    run(R("<Record/>"), Call())
    run(R('<Record Format="wav" Beep="true"/>'), Call())
    assert [(s.format, s.beep) for s in seen] == [("mp3", False), ("wav", True)]


# -- unsupported commands never end the script -----------------------------------------------
@pytest.mark.parametrize("command", [
    "<Route RingTime='30' Destination='1000'/>", "<CallSetup Caller='101' Callee='102'/>",
    "<ReceiveMessage/>", "<SendMessage>x</SendMessage>",
])
def test_unsupported_ozeki_command_is_skipped(command: str) -> None:
    call = run(R(f"<Speak>before</Speak>{command}<Speak>after</Speak>"))
    assert call.spoken() == ["before", "after"]
    name = command[1:].split()[0].split(">")[0].rstrip("/")
    [warning] = [d for d in lint_bytes(R(command).encode(), "u.xml")
                 if "not supported" in d.message]
    assert warning.message.startswith(f"Ozeki command {name} is not supported by ivr: ")


# -- Array / ForEach --------------------------------------------------------------------------
def test_ozeki_array_foreach_example_p7650() -> None:
    example = ('<?xml version="1.0"?>\n<Response>\n    <array id="sampleArray">\n'
               "        <item>Hello</item>\n        <item>Welcome</item>\n    </array>\n"
               '    <ForEach source="sampleArray">\n        <speak>$item</speak>\n'
               "    </ForEach>\n</Response>")
    assert lint_bytes(example.encode(), "p7650.xml") == []
    assert run(example).spoken() == ["Hello", "Welcome"]


def test_foreach_restores_item_and_substitutes_in_attributes() -> None:
    call = run(R('<Var Id="item">outer</Var><Array Id="n"><Item>+3611</Item><Item>+3622</Item>'
                 '</Array><ForEach Source="n"><SendDTMF Keys="1"/><Speak Language="en">call '
                 "$item</Speak></ForEach><Speak>$item</Speak>"))
    assert call.spoken() == ["call +3611", "call +3622", "outer"]


# -- DeleteFile / MoveFile --------------------------------------------------------------------
def test_delete_and_move_are_confined(tmp_path: Path) -> None:
    recordings, sounds, outside = (tmp_path / d for d in ("rec", "sounds", "secret"))
    for d in (recordings, sounds, outside):
        d.mkdir()
    (recordings / "a.mp3").write_bytes(b"a")
    (recordings / "b.mp3").write_bytes(b"b")
    (outside / "keep.txt").write_text("x")
    (sounds / "escape").symlink_to(outside)
    script = R('<MoveFile Source="a.mp3" Destination="voicemail/$caller.mp3"/>'
               "<DeleteFile>b.mp3</DeleteFile>"
               "<DeleteFile>../secret/keep.txt</DeleteFile>"
               f'<DeleteFile File="{outside}/keep.txt"/>'
               f'<DeleteFile File="{sounds}/escape/keep.txt"/>'
               f'<MoveFile Source="{outside}/keep.txt" Destination="stolen.txt"/>'
               "<Speak>done</Speak>")
    call = run(script, file_roots=(str(recordings), str(sounds)))
    assert call.spoken() == ["done"]
    assert (recordings / "voicemail" / "+15550001111.mp3").read_bytes() == b"a"
    assert not (recordings / "b.mp3").exists()
    assert (outside / "keep.txt").exists() and not (recordings / "stolen.txt").exists()


# -- SQL OzML ---------------------------------------------------------------------------------
def test_bind_turns_variables_into_parameters() -> None:
    sql, params = bind("SELECT ozml FROM s WHERE caller = '$caller' AND d = $digits AND "
                       "note LIKE 'x%'", {"caller": "+1", "digits": "5"}, "?")
    assert sql == "SELECT ozml FROM s WHERE caller = ? AND d = ? AND note LIKE 'x%'"
    assert params == ["+1", "5"]
    assert bind("SELECT 1 WHERE a LIKE 'x%' AND b = $v", {"v": "1"}, "%s")[0] == \
        "SELECT 1 WHERE a LIKE 'x%%' AND b = %s"


def sqlite_db(tmp_path: Path) -> str:
    path = tmp_path / "ozml.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE scripts (caller TEXT, ozml TEXT)")
        db.execute("INSERT INTO scripts VALUES (?, ?)",
                   ("+15550001111", R("<Speak>Hello from SQL, $caller</Speak>")))
        db.execute("INSERT INTO scripts VALUES (?, ?)", ("x", R("<Speak>secret</Speak>")))
    return f"sqlite:///{path}"


def test_sql_goto_runs_the_query_result_on_sqlite(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path)
    call = run(R("<GoTo>SELECT ozml FROM scripts WHERE caller = '$caller'</GoTo>"),
               settings={"sql_url": url})
    assert call.spoken() == ["Hello from SQL, +15550001111"]


def test_sql_injection_in_a_variable_stays_data(tmp_path: Path) -> None:
    url = sqlite_db(tmp_path)
    hostile = "' OR '1'='1"
    call = run(R(f'<Var Id="who">{hostile}</Var>'
                 "<GoTo>SELECT ozml FROM scripts WHERE caller = '$who'</GoTo>"),
               settings={"sql_url": url})
    # interpolated, the quote would have matched every row; bound, it matches none
    assert "secret" not in call.spoken()
    assert call.spoken() == ["Sorry, an application error occurred. Goodbye."]
    drop = run(R('<Var Id="who">x\'; DROP TABLE scripts; --</Var>'
                 "<GoTo>SELECT ozml FROM scripts WHERE caller = $who</GoTo>"),
               settings={"sql_url": url})
    assert drop.spoken()[-1].startswith("Sorry")
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        assert db.execute("SELECT COUNT(*) FROM scripts").fetchone() == (2,)


def test_sql_connection_is_read_only(tmp_path: Path) -> None:
    database = SqlDatabase(sqlite_db(tmp_path))
    with pytest.raises(Exception, match="SQL query failed"):
        database.query_one("WITH x AS (SELECT 1) DELETE FROM scripts", [])


# -- ReceiveAlarmNotification (Contact ID) ----------------------------------------------------
def test_contact_id_checksum_and_fields() -> None:
    keys = alarm.encode("1234", "1", "110", "01", "010")
    assert len(keys) == 16 and alarm.ContactId.parse(keys) is not None
    message = alarm.ContactId.parse(keys)
    assert message is not None and message.variables() == {
        "account": "1234", "eventqualifier": "NewEvent", "eventcode": "110",
        "eventname": "Fire", "partition": "01", "zone": "010"}
    broken = keys[:-1] + ("1" if keys[-1] != "1" else "2")
    assert alarm.ContactId.parse(broken) is None


def test_receive_alarm_notification_example_p5556() -> None:
    example = ("<OzML> <ReceiveAlarmNotification> <Received> <SendEmail Recipient="
               '"recepient@mail.com" Message="Account $account, Event name $eventname, Zone '
               '$zone" Subject="alarmTest"> </SendEmail> </Received> </ReceiveAlarmNotification>'
               " </OzML>").replace("OzML>", "Response>")
    keys = alarm.encode("1234", "1", "130", "01", "015")
    email = InMemoryEmailSubmitter()
    bad = alarm.encode("1234", "1", "130", "01", "016")[:-1] + "0"
    presses = [(0.4 + i * 0.1, k) for i, k in enumerate(bad + keys)]
    call = run(example, RecordingCall(presses=presses), email=email)
    [(_, request)] = email.submitted
    assert (request.recipient, request.subject, request.body) == (
        "recepient@mail.com", "alarmTest", "Account 1234, Event name Burglary, Zone 015")
    plays = [label for kind, label in call.events if kind == "play"]
    assert plays == [alarm.handshake_tone(), alarm.kissoff_tone()]


# -- compile once, linear warnings ------------------------------------------------------------
def test_cache_compiles_a_body_once_and_relabels_the_source() -> None:
    cache = ScriptCache()
    body = R("<Speak>hi</Speak>").encode()
    first = cache.compile(body, "http://a/1")
    second = cache.compile(body, "http://b/2")
    assert (cache.misses, cache.hits) == (1, 1)
    assert second.commands is first.commands and second.source == "http://b/2"


def test_file_cache_sees_edits(tmp_path: Path) -> None:
    script = tmp_path / "s.xml"
    script.write_text(R("<Speak>one</Speak>"))
    interpreter = Interpreter(OzmlSettings(), InMemorySmsSubmitter())
    first = RecordingCall()
    interpreter.run(first, str(script))
    interpreter.run(RecordingCall(), str(script))
    assert interpreter.cache.hits >= 1
    script.write_text(R("<Speak>two, edited</Speak>"))
    edited = RecordingCall()
    interpreter.run(edited, str(script))
    assert (first.spoken(), edited.spoken()) == (["one"], ["two, edited"])


def test_warning_heavy_document_is_linear_and_capped() -> None:
    def document(count: int) -> bytes:
        return R("".join(f'<Speak A{i}="x" B{i}="y">t</Speak>' for i in range(count))).encode()

    small, large = document(500), document(4000)
    timings = []
    for data in (small, large):
        best = float("inf")
        for _ in range(3):        # the best of three: a GC pause or a busy core is not the parser
            started = time.perf_counter()
            warnings = parse_document(data, "w.xml").warnings
            best = min(best, time.perf_counter() - started)
        timings.append(best)
        assert len(warnings) == MAX_WARNINGS + 1 and "more unknown attributes" in \
            warnings[-1].message
    assert timings[1] < timings[0] * 8 * 3 + 0.05   # 8x the size: far from 64x


def test_send_alarm_notification_example_p5554() -> None:
    """The alarm goes out on a new call as Contact ID keys; ResultUrl hears Sent."""
    example = R("<SendAlarmNotification PhoneNumber='101' AccountNumber='1234' EventCode='110' "
                "PartitionNumber='1' ZoneNumber='10' "
                "ResultUrl='http://yourapp.com/alarmnotification.php'/><Speak>done</Speak>")
    assert lint_bytes(example.encode(), "p5554.xml") == []
    alarm_calls: list[RecordingCall] = []

    class Originator:
        def __init__(self) -> None:
            self.interpreter: Interpreter | None = None

        def originate(self, number: str, url: str, caller_id: str = "",
                      on_failure: object = None) -> str:
            call = RecordingCall(callee=number)
            alarm_calls.append(call)
            assert self.interpreter is not None
            self.interpreter.run(call, url, notification="CallConnected")
            return "alarm-call"

    originator = Originator()
    server = DocumentServer({"http://app/main": example,
                             "http://yourapp.com/alarmnotification.php": R("<Hangup/>")})
    call = RecordingCall()
    interpreter = Interpreter(OzmlSettings(), InMemorySmsSubmitter(), fetcher=server,
                              originator=originator)
    originator.interpreter = interpreter
    interpreter.run(call, "http://app/main")
    assert call.spoken() == ["done"]
    [alarm_call] = alarm_calls
    keys = alarm.encode("1234", "1", "110", "01", "010")
    assert ("send-dtmf", keys) in alarm_call.events and alarm_call.events[-1] == ("hangup", "")
    location, form, method = server.requests[-1]
    assert (location, method) == ("http://yourapp.com/alarmnotification.php", "POST")
    assert (form["NotificationName"], form["Result"], form["ContactId"]) == (
        "SendAlarmNotification", "Sent", keys)


def test_send_alarm_notification_without_calls_reports_failed() -> None:
    server = DocumentServer({"http://app/main": R(
        "<SendAlarmNotification PhoneNumber='101' AccountNumber='1234' EventCode='110' "
        "PartitionNumber='1' ZoneNumber='10' ResultUrl='/result'/><Speak>on</Speak>"),
        "http://app/result": R("<Hangup/>")})
    call = RecordingCall()
    Interpreter(OzmlSettings(), InMemorySmsSubmitter(), fetcher=server).run(call,
                                                                           "http://app/main")
    assert call.spoken() == ["on"]
    assert server.requests[-1][1]["Result"] == "Failed"


def test_record_path_moves_the_recording_inside_recordings_dir(tmp_path: Path) -> None:
    recordings = tmp_path / "rec"
    recordings.mkdir()

    class Call(RecordingCall):
        def record(self, spec):  # type: ignore[no-untyped-def]
            from ivr.call import RecordResult
            path = recordings / "r.mp3"
            path.write_bytes(b"mp3")
            return RecordResult(str(path), path.as_uri(), 2.0, "silence")

    call = run(R('<Record RecordPath="box/$caller.mp3"/><Speak>$recordurl</Speak>'
                 '<Record RecordPath="../../escape.mp3"/>'), Call(),
               file_roots=(str(recordings),))
    moved = recordings / "box" / "+15550001111.mp3"
    assert moved.read_bytes() == b"mp3" and call.spoken() == [moved.resolve().as_uri()]
    assert not (tmp_path.parent / "escape.mp3").exists() and (recordings / "r.mp3").exists()


def test_play_url_refused_by_the_policy_is_skipped() -> None:
    class DenyAll:
        def check(self, url: str, *, fresh: bool = False) -> str:
            return "denied for the test"

    call = run(R("<Play>http://169.254.169.254/x.wav</Play><Speak>after</Speak>"),
               url_policy=DenyAll())
    assert [e for e in call.events if e[0] == "play"] == [] and call.spoken() == ["after"]
