"""``ivr user add|list|remove|show``: API accounts shared by every HTTP dialect."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser("user", help="manage HTTP API users")
    parser.add_argument("--config", action="append", default=[], metavar="FILE")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create a user (password from --password, stdin or "
                             "a prompt)")
    add.add_argument("name")
    add.add_argument("--password", help="avoid on shared machines: it lands in shell history")
    add.add_argument("--permissions", default="sms,calls", help="comma list: sms, calls, admin "
                     "(admin signs in to /console)")
    add.add_argument("--rate-limit", type=int, default=0, help="requests per minute (0 = "
                     "server default)")
    actions.add_parser("list", help="list users")
    remove = actions.add_parser("remove", help="delete a user")
    remove.add_argument("name")
    show = actions.add_parser("show", help="show a user with its Restcomm AccountSid/AuthToken")
    show.add_argument("name")
    parser.set_defaults(func=_run)


def _password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise SystemExit("ivr: error: the passwords differ")
    return first


def _print(user: Any) -> None:
    print(f"User: {user.name}")
    print(f"Permissions: {','.join(sorted(user.permissions))}")
    print(f"AccountSid: {user.account_sid}")
    print(f"AuthToken: {user.auth_token}")
    if user.rate_limit_per_minute:
        print(f"RateLimit: {user.rate_limit_per_minute}/min")
    if user.loopback_only:
        print("Restricted: loopback clients only")


def _run(args: argparse.Namespace) -> int:
    from ivr.config import load_settings
    from ivr.service import user_store_path
    from ivr.users import UserStore

    store = UserStore(user_store_path(load_settings(args.config).ivr.data_dir))
    if args.action == "add":
        permissions = {p.strip() for p in args.permissions.split(",") if p.strip()}
        _print(store.add(args.name, _password(args), permissions, args.rate_limit))
    elif args.action == "list":
        for user in store.list():
            print(f"{user.name}\t{','.join(sorted(user.permissions))}\t{user.account_sid}")
    elif args.action == "remove":
        if not store.remove(args.name):
            print(f"ivr: error: no user {args.name!r}", file=sys.stderr)
            return 1
        print(f"removed {args.name}")
    else:
        found = store.get(args.name)
        if found is None:
            print(f"ivr: error: no user {args.name!r}", file=sys.stderr)
            return 1
        _print(found)
    return 0
