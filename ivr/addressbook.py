"""The address book (issue 15 item 7): named contacts and named lists of them, so that
``SendSms`` and ``Call`` (HTTP and OzML) can take ``Recipient=alice`` or
``Recipient=sales-team``.

Behind the small :class:`AddressBook` protocol. Its two tables (``address_contacts``,
``address_members``) live in the message database (``[sms] database_url``), SQLite or
PostgreSQL, declared once here and opened through :mod:`ivr.local_db`; each backend writes
its own statements (``addressbook_sql.py``). Names are case-insensitive (each row keeps the
name as written and its lower-case key, which both backends compare the same way); a name
is a contact or a list, never both.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from ivr import local_db
from ivr.errors import ValidationError
from ivr.sms.store.schema import Column, Index, Table

__all__ = ["Contact", "AddressBook", "AddressBookSql", "DbAddressBook", "TABLES", "INDEXES",
           "open_address_book"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
_NUMBER = re.compile(r"^(\+?[0-9]{3,20}|sip:[^\s<>\"]{3,200})$")

_NN = "NOT NULL"
TABLES = (
    Table("address_contacts", (Column("key", "text", "PRIMARY KEY"), Column("name", "text", _NN),
                               Column("number", "text", _NN))),
    Table("address_members", (
        Column("list_key", "text", _NN), Column("list", "text", _NN),
        Column("contact_key", "text", "NOT NULL REFERENCES address_contacts(key) "
                                      "ON DELETE CASCADE")),
        ("PRIMARY KEY (list_key, contact_key)",)),
)
INDEXES = (Index("address_members_contact", "address_members", ("contact_key",)),)


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

    def is_list(self, name: str) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class AddressBookSql:
    """Every statement of one backend; each takes keys (lower-case names)."""

    is_list: str
    is_contact: str
    upsert_contact: str
    add_member: str
    contact: str
    contact_lists: str
    remove_members: str
    remove_contact: str
    all_contacts: str
    list_contacts: str
    lists: str
    list_numbers: str
    legacy_probe: str = ""          # finds the first release's tables (SQLite only) …
    legacy: tuple[str, ...] = ()    # … and these carry them over


def _key(name: str) -> str:
    return name.lower()


class DbAddressBook:
    def __init__(self, database: local_db.Database, sql: AddressBookSql) -> None:
        self._database = database
        self._engine = database.engine
        self._sql = sql

    def add(self, name: str, number: str, lists: tuple[str, ...] = ()) -> Contact:
        """Create or update a contact and add it to ``lists`` (created as needed)."""
        for value, what in [(name, "Name"), *((item, "List") for item in lists)]:
            if not _NAME.match(value):
                raise ValidationError(what, f"{value!r} is not a name (a letter, then "
                                      "letters, digits, _ . -)")
        if not _NUMBER.match(number):
            raise ValidationError("Number", f"{number!r} is not a phone number or sip: URI")
        sql = self._sql
        with self._engine.tx() as db:
            if db.execute(sql.is_list, (_key(name),)).fetchone() is not None:
                raise ValidationError("Name", f"{name!r} is already a list")
            taken = [item for item in lists if _key(item) == _key(name)
                     or db.execute(sql.is_contact, (_key(item),)).fetchone() is not None]
            if taken:
                raise ValidationError("List", f"{taken[0]!r} is already a contact")
            db.execute(sql.upsert_contact, (_key(name), name, number))
            for item in lists:
                db.execute(sql.add_member, (_key(item), item, _key(name)))
        found = self._contact(name)
        assert found is not None       # just committed
        return found

    def _contact(self, name: str) -> Contact | None:
        with self._engine.read() as db:
            row = db.execute(self._sql.contact, (_key(name),)).fetchone()
            lists = [r[0] for r in db.execute(self._sql.contact_lists, (_key(name),))]
        return Contact(str(row[0]), str(row[1]), tuple(lists)) if row else None

    def remove(self, name: str) -> bool:
        with self._engine.tx() as db:
            db.execute(self._sql.remove_members, (_key(name),))
            gone = db.execute(self._sql.remove_contact, (_key(name),)).rowcount
        return bool(gone)

    def contacts(self, list_name: str = "") -> list[Contact]:
        with self._engine.read() as db:
            keys = [r[0] for r in (db.execute(self._sql.list_contacts, (_key(list_name),))
                                   if list_name else db.execute(self._sql.all_contacts))]
        return [c for c in map(self._contact, keys) if c is not None]

    def lists(self) -> list[tuple[str, int]]:
        with self._engine.read() as db:
            return [(str(r[0]), int(r[1])) for r in db.execute(self._sql.lists)]

    def resolve(self, recipient: str) -> list[str]:
        if not _NAME.match(recipient):
            return [recipient]
        with self._engine.read() as db:
            row = db.execute(self._sql.contact, (_key(recipient),)).fetchone()
            if row:
                return [str(row[1])]
            members = [str(r[0]) for r in db.execute(self._sql.list_numbers,
                                                      (_key(recipient),))]
        return members or [recipient]

    def is_list(self, name: str) -> bool:
        if not _NAME.match(name):
            return False
        with self._engine.read() as db:
            return db.execute(self._sql.is_list, (_key(name),)).fetchone() is not None

    def close(self) -> None:
        self._database.close()


def open_address_book(database_url: str) -> DbAddressBook:
    """The address book in the message database, its tables created where missing."""
    from ivr.addressbook_sql import ADDRESS_BOOK_SQL

    database = local_db.open_database(database_url, TABLES, INDEXES)
    sql = ADDRESS_BOOK_SQL[database.backend]
    if sql.legacy_probe:
        with database.engine.tx() as db:
            if db.execute(sql.legacy_probe).fetchone() is not None:
                log.info("address book: carrying the first release's tables over")
                for statement in sql.legacy:
                    db.execute(statement)
    return DbAddressBook(database, sql)
