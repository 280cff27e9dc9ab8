"""The address book's statements, one set per backend (nothing translates SQL)."""

from __future__ import annotations

from ivr.addressbook import AddressBookSql
from ivr.local_db import POSTGRES, SQLITE

__all__ = ["ADDRESS_BOOK_SQL"]

ADDRESS_BOOK_SQL = {
    SQLITE: AddressBookSql(
        is_list="SELECT 1 FROM address_members WHERE list_key = ? LIMIT 1",
        is_contact="SELECT 1 FROM address_contacts WHERE key = ?",
        upsert_contact="INSERT INTO address_contacts (key, name, number) VALUES (?, ?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET name = excluded.name, "
                       "number = excluded.number",
        add_member="INSERT OR IGNORE INTO address_members (list_key, list, contact_key) "
                   "VALUES (?, ?, ?)",
        contact="SELECT name, number FROM address_contacts WHERE key = ?",
        contact_lists="SELECT list FROM address_members WHERE contact_key = ? "
                      "ORDER BY list_key",
        remove_members="DELETE FROM address_members WHERE contact_key = ?",
        remove_contact="DELETE FROM address_contacts WHERE key = ?",
        all_contacts="SELECT key FROM address_contacts ORDER BY key",
        list_contacts="SELECT contact_key FROM address_members WHERE list_key = ? "
                      "ORDER BY contact_key",
        lists="SELECT MIN(list), COUNT(*) FROM address_members GROUP BY list_key "
              "ORDER BY list_key",
        list_numbers="SELECT c.number FROM address_members m JOIN address_contacts c "
                     "ON c.key = m.contact_key WHERE m.list_key = ? ORDER BY c.key",
        # The first release kept the address book in two tables compared with COLLATE
        # NOCASE, SQLite only: carried over once, then dropped.
        legacy_probe="SELECT 1 FROM sqlite_master WHERE type = 'table' "
                     "AND name = 'addressbook_contacts'",
        legacy=(
            "INSERT OR IGNORE INTO address_contacts (key, name, number) "
            "SELECT lower(name), name, number FROM addressbook_contacts",
            "INSERT OR IGNORE INTO address_members (list_key, list, contact_key) "
            "SELECT lower(list), list, lower(contact) FROM addressbook_members",
            "DROP TABLE addressbook_members",
            "DROP TABLE addressbook_contacts")),
    POSTGRES: AddressBookSql(
        is_list="SELECT 1 FROM address_members WHERE list_key = %s LIMIT 1",
        is_contact="SELECT 1 FROM address_contacts WHERE key = %s",
        upsert_contact="INSERT INTO address_contacts (key, name, number) VALUES (%s, %s, %s) "
                       "ON CONFLICT (key) DO UPDATE SET name = excluded.name, "
                       "number = excluded.number",
        add_member="INSERT INTO address_members (list_key, list, contact_key) "
                   "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        contact="SELECT name, number FROM address_contacts WHERE key = %s",
        contact_lists="SELECT list FROM address_members WHERE contact_key = %s "
                      "ORDER BY list_key",
        remove_members="DELETE FROM address_members WHERE contact_key = %s",
        remove_contact="DELETE FROM address_contacts WHERE key = %s",
        all_contacts="SELECT key FROM address_contacts ORDER BY key",
        list_contacts="SELECT contact_key FROM address_members WHERE list_key = %s "
                      "ORDER BY contact_key",
        lists="SELECT MIN(list), COUNT(*) FROM address_members GROUP BY list_key "
              "ORDER BY list_key",
        list_numbers="SELECT c.number FROM address_members m JOIN address_contacts c "
                     "ON c.key = m.contact_key WHERE m.list_key = %s ORDER BY c.key"),
}
