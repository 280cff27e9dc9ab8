"""``ivr contacts add|remove|list|lists``: the address book SendSms and Call resolve names in."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivr.addressbook import AddressBook

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser("contacts", help="manage the address book")
    parser.add_argument("--config", action="append", default=[], metavar="FILE")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add or update a contact")
    add.add_argument("name")
    add.add_argument("number", help="phone number (+3612345678) or sip: URI")
    add.add_argument("--list", action="append", default=[], dest="lists", metavar="LIST",
                     help="also put it on this named list (repeat)")
    remove = actions.add_parser("remove", help="delete a contact")
    remove.add_argument("name")
    listing = actions.add_parser("list", help="contacts, or the members of one list")
    listing.add_argument("--list", default="", dest="list_name", metavar="LIST")
    actions.add_parser("lists", help="named lists and their sizes")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ivr.addressbook import open_address_book
    from ivr.commands.calls import run_on_config

    return run_on_config(args.config, open_address_book, lambda book: _act(args, book))


def _act(args: argparse.Namespace, book: AddressBook) -> int:
    from ivr.errors import IvrError

    if args.action == "add":
        contact = book.add(args.name, args.number, tuple(args.lists))
        print(f"{contact.name}\t{contact.number}\t{' '.join(contact.lists)}")
    elif args.action == "remove":
        if not book.remove(args.name):
            raise IvrError(f"no contact {args.name!r}")
    elif args.action == "list":
        for contact in book.contacts(args.list_name):
            print(f"{contact.name}\t{contact.number}\t{' '.join(contact.lists)}")
    else:
        for name, count in book.lists():
            print(f"{name}\t{count}")
    return 0
