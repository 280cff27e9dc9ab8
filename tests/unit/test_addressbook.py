"""The address book on a real SQLite file: names resolve, lists expand, clashes are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.addressbook import AddressBook, open_address_book
from ivr.errors import ValidationError


def open_book(tmp_path: Path) -> AddressBook:
    book = open_address_book(f"sqlite:///{tmp_path}/book.db")
    assert book is not None
    return book


def test_resolve_contacts_lists_and_plain_numbers(tmp_path: Path) -> None:
    book = open_book(tmp_path)
    book.add("alice", "+3611111111", ("sales", "all"))
    book.add("bob", "sip:bob@pbx.example.net", ("sales",))
    assert book.resolve("ALICE") == ["+3611111111"]
    assert book.resolve("sales") == ["+3611111111", "sip:bob@pbx.example.net"]
    assert book.resolve("+3699") == ["+3699"] and book.resolve("nobody") == ["nobody"]
    assert book.lists() == [("all", 1), ("sales", 2)]
    book.add("alice", "+3633333333")                      # update keeps the lists
    assert [c.lists for c in book.contacts("all")] == [("all", "sales")]
    assert book.remove("alice") and not book.remove("alice")
    assert book.lists() == [("sales", 1)]


@pytest.mark.parametrize("name, number, lists, param", [
    ("1abc", "+3611", (), "Name"), ("carol", "12", (), "Number"),
    ("carol", "+361111", ("bob",), "List"), ("sales", "+361111", (), "Name"),
])
def test_bad_names_numbers_and_clashes(tmp_path: Path, name: str, number: str,
                                       lists: tuple[str, ...], param: str) -> None:
    book = open_book(tmp_path)
    book.add("bob", "+3622222222", ("sales",))
    with pytest.raises(ValidationError) as info:
        book.add(name, number, lists)
    assert info.value.param == param
