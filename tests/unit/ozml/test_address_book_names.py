"""OzML SendSms and Call take address-book names (issue 15 item 7) through the interpreter's
``address_book`` seam, here a real address book on SQLite: docs/ozml.md's example."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ivr.addressbook import DbAddressBook, open_address_book
from ivr.ozml.interpreter import Interpreter
from ivr.ozml.memory import InMemorySmsSubmitter
from ivr.ozml.settings import OzmlSettings
from tests.unit.ozml.recording_call import RecordingCall
from tests.unit.ozml.test_interpreter import DocumentServer

ROOT = Path(__file__).resolve().parents[3]


def doc_example(name: str) -> str:
    text = (ROOT / "docs" / "ozml.md").read_text()
    after = text[text.index(f"<!-- example: {name} -->"):]
    block = after[after.index("```"):]
    return block[block.index("\n") + 1:block.index("\n```")]


@pytest.fixture
def book(tmp_path: Path) -> Iterator[DbAddressBook]:
    opened = open_address_book(f"sqlite:///{tmp_path}/ivr.db")
    opened.add("alice", "+3611111111", ("oncall",))         # as the page's commands do
    opened.add("bob", "+3622222222", ("oncall",))
    yield opened
    opened.close()


class Originator:
    def __init__(self) -> None:
        self.placed: list[str] = []

    def originate(self, number: str, url: str, caller_id: str = "",
                  on_failure: Callable[[str], None] | None = None) -> str:
        self.placed.append(number)
        return f"out-{len(self.placed)}"


def test_documented_names_in_send_sms_and_call(book: DbAddressBook) -> None:
    sms, originator = InMemorySmsSubmitter(), Originator()
    server = DocumentServer({"http://app/main": doc_example("address-book-names"),
                             "http://app/failed": ""})
    call = RecordingCall()
    Interpreter(OzmlSettings(), sms, fetcher=server, originator=originator,
                address_book=book).run(call, "http://app/main")
    assert sorted(r.recipient for _, r in sms.submitted) == ["+3611111111", "+3622222222"]
    assert {r.body for _, r in sms.submitted} == {"Caller +15550001111 needs a call back."}
    assert originator.placed == ["+3611111111"]              # Alice, by name
    location, form, _ = server.requests[-1]
    assert (location, form["Dialled"], form["ErrorMessage"]) == (
        "http://app/failed", "oncall", "'oncall' is an address book list; dial one contact")


def test_smsid_lists_every_id_and_plain_numbers_pass_through(book: DbAddressBook) -> None:
    sms = InMemorySmsSubmitter()
    script = ('<Response><SendSms Recipient="ONCALL">a</SendSms><Speak>sent $smsid</Speak>'
              '<SendSms Recipient="+3699999999">b</SendSms></Response>')
    call = RecordingCall()
    Interpreter(OzmlSettings(), sms, fetcher=DocumentServer({"http://app/main": script}),
                address_book=book).run(call, "http://app/main")
    ids = [sms_id for sms_id, _ in sms.submitted]
    assert [r.recipient for _, r in sms.submitted] == ["+3611111111", "+3622222222",
                                                       "+3699999999"]
    assert call.spoken() == [f"sent {ids[0]} {ids[1]}"]
