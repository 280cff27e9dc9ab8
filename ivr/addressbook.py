"""The address book (issue 15 item 7): named contacts and named lists of them, so that
``SendSms`` and ``Call`` can take ``Recipient=alice`` or ``Recipient=sales-team``.

Behind the small :class:`AddressBook` protocol; the SQLite implementation keeps its own two
tables (``addressbook_contacts``, ``addressbook_members``) in the message database
(``[sms] database_url``) through its own connection. PostgreSQL is not implemented yet.
Names are case-insensitive; a name is a contact or a list, never both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from ivr import local_db
from ivr.errors import ValidationError

__all__ = ["Contact", "AddressBook", "SqliteAddressBook", "open_address_book"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
_NUMBER = re.compile(r"^(\+?[0-9]{3,20}|sip:[^\s<>\"]{3,200})$")


@dataclass(frozen=True)
class Contact:
    name: str
    number: str                 # E.164-ish phone number or a sip: URI
    lists: tuple[str, ...] = ()


class AddressBook(Protocol):
    def add(self, name: str, number: str, lists: tuple[str, ...] = ()) -> Contact: ...

    def remove(self, name: str) -> bool: ...

    def contacts(self, list_name: str = "") -> list[Contact]: ...

    def lists(self) -> list[tuple[str, int]]: ...

    def resolve(self, recipient: str) -> list[str]:
        """The numbers a recipient stands for: a contact's, a list's members', or itself."""


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS addressbook_contacts (name TEXT PRIMARY KEY COLLATE NOCASE, "
    "number TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS addressbook_members (list TEXT NOT NULL COLLATE NOCASE, "
    "contact TEXT NOT NULL COLLATE NOCASE REFERENCES addressbook_contacts(name) "
    "ON DELETE CASCADE, PRIMARY KEY (list, contact))")


class SqliteAddressBook(local_db.Tables):
    def add(self, name: str, number: str, lists: tuple[str, ...] = ()) -> Contact:
        """Create or update a contact and add it to ``lists`` (created as needed)."""
        for value, what in [(name, "Name"), *((item, "List") for item in lists)]:
            if not _NAME.match(value):
                raise ValidationError(what, f"{value!r} is not a name (a letter, then "
                                      "letters, digits, _ . -)")
        if not _NUMBER.match(number):
            raise ValidationError("Number", f"{number!r} is not a phone number or sip: URI")
        with self._lock:
            if self._is_list(name):
                raise ValidationError("Name", f"{name!r} is already a list")
            taken = [item for item in lists if item.lower() == name.lower()
                     or self._is_contact(item)]
            if taken:
                raise ValidationError("List", f"{taken[0]!r} is already a contact")
            self._db.execute("INSERT INTO addressbook_contacts (name, number) VALUES (?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET number = excluded.number",
                             (name, number))
            self._db.executemany("INSERT OR IGNORE INTO addressbook_members (list, contact) "
                                 "VALUES (?, ?)", [(item, name) for item in lists])
            self._db.commit()
        return self._contact(name)

    def _is_list(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM addressbook_members WHERE list = ?",
                                (name,)).fetchone() is not None

    def _is_contact(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM addressbook_contacts WHERE name = ?",
                                (name,)).fetchone() is not None

    def _contact(self, name: str) -> Contact:
        with self._lock:
            row = self._db.execute("SELECT name, number FROM addressbook_contacts WHERE "
                                   "name = ?", (name,)).fetchone()
            lists = [r[0] for r in self._db.execute(
                "SELECT list FROM addressbook_members WHERE contact = ? ORDER BY list",
                (name,))]
        return Contact(row[0], row[1], tuple(lists))

    def remove(self, name: str) -> bool:
        with self._lock:
            self._db.execute("DELETE FROM addressbook_members WHERE contact = ?", (name,))
            gone = self._db.execute("DELETE FROM addressbook_contacts WHERE name = ?",
                                    (name,)).rowcount
            self._db.commit()
        return bool(gone)

    def contacts(self, list_name: str = "") -> list[Contact]:
        with self._lock:
            if list_name:
                names = [r[0] for r in self._db.execute(
                    "SELECT contact FROM addressbook_members WHERE list = ? ORDER BY contact",
                    (list_name,))]
            else:
                names = [r[0] for r in self._db.execute(
                    "SELECT name FROM addressbook_contacts ORDER BY name")]
        return [self._contact(name) for name in names]

    def lists(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(r[0], int(r[1])) for r in self._db.execute(
                "SELECT list, COUNT(*) FROM addressbook_members GROUP BY list ORDER BY list")]

    def resolve(self, recipient: str) -> list[str]:
        if not _NAME.match(recipient):
            return [recipient]
        with self._lock:
            row = self._db.execute("SELECT number FROM addressbook_contacts WHERE name = ?",
                                   (recipient,)).fetchone()
            if row:
                return [row[0]]
            members = [r[0] for r in self._db.execute(
                "SELECT c.number FROM addressbook_members m JOIN addressbook_contacts c "
                "ON c.name = m.contact WHERE m.list = ? ORDER BY c.name", (recipient,))]
        return members or [recipient]


def open_address_book(database_url: str) -> AddressBook | None:
    """The address book next to the messages; None on PostgreSQL (not implemented yet)."""
    db = local_db.connect(database_url, *_SCHEMA)
    return SqliteAddressBook(db) if db is not None else None
