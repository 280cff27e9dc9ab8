"""The address book on a real SQLite file and a real PostgreSQL database: names resolve,
lists expand, clashes are refused, and the first release's SQLite tables are carried over."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.addressbook import AddressBook, open_address_book
from ivr.errors import ValidationError


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("fresh_postgres_url"))
    return f"sqlite:///{tmp_path}/book.db"


@pytest.fixture
def book(database_url: str) -> Iterator[AddressBook]:
    opened = open_address_book(database_url)
    yield opened
    opened.close()


def test_resolve_contacts_lists_and_plain_numbers(book: AddressBook) -> None:
    book.add("alice", "+3611111111", ("sales", "all"))
    book.add("bob", "sip:bob@pbx.example.net", ("Sales",))
    assert book.resolve("ALICE") == ["+3611111111"]
    assert book.resolve("sales") == ["+3611111111", "sip:bob@pbx.example.net"]
    assert book.resolve("+3699") == ["+3699"] and book.resolve("nobody") == ["nobody"]
    assert book.lists() == [("all", 1), ("Sales", 2)]
    book.add("Alice", "+3633333333")                      # update keeps the lists
    assert [(c.name, c.number, c.lists) for c in book.contacts("ALL")] == [
        ("Alice", "+3633333333", ("all", "sales"))]
    assert [c.name for c in book.contacts()] == ["Alice", "bob"]
    assert book.remove("alice") and not book.remove("alice")
    assert book.lists() == [("Sales", 1)]


def test_the_book_survives_reopening(database_url: str) -> None:
    first = open_address_book(database_url)
    first.add("carol", "+3644444444", ("night",))
    first.close()
    again = open_address_book(database_url)       # tables exist: created only where missing
    try:
        assert again.resolve("night") == ["+3644444444"]
    finally:
        again.close()


@pytest.mark.parametrize("name, number, lists, param", [
    ("1abc", "+3611", (), "Name"), ("carol", "12", (), "Number"),
    ("carol", "+361111", ("BOB",), "List"), ("SALES", "+361111", (), "Name"),
    ("carol", "+361111", ("carol",), "List"),
])
def test_bad_names_numbers_and_clashes(book: AddressBook, name: str, number: str,
                                       lists: tuple[str, ...], param: str) -> None:
    book.add("bob", "+3622222222", ("sales",))
    with pytest.raises(ValidationError) as info:
        book.add(name, number, lists)
    assert info.value.param == param
    assert [c.name for c in book.contacts()] == ["bob"]      # nothing half-written


def test_the_first_releases_sqlite_tables_are_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE addressbook_contacts (name TEXT PRIMARY KEY COLLATE NOCASE, "
                    "number TEXT NOT NULL)")
        old.execute("CREATE TABLE addressbook_members (list TEXT NOT NULL COLLATE NOCASE, "
                    "contact TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (list, contact))")
        old.execute("INSERT INTO addressbook_contacts VALUES ('Dave', '+3655555555')")
        old.execute("INSERT INTO addressbook_members VALUES ('ops', 'dave')")
    book = open_address_book(f"sqlite:///{path}")
    try:
        assert book.resolve("OPS") == ["+3655555555"]
        assert [(c.name, c.lists) for c in book.contacts()] == [("Dave", ("ops",))]
    finally:
        book.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'addressbook%'"
                          ).fetchall() == []
