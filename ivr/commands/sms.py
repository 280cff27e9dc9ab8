"""``ivr send-sms`` and ``ivr sms list|show``: the same SmsService the APIs use."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    send = sub.add_parser("send-sms", help="queue an SMS (and optionally wait for its fate)")
    send.add_argument("--to", required=True, help="recipient number")
    send.add_argument("--text", required=True, help="message text")
    send.add_argument("--from", dest="sender", default="", help="sender number or name")
    send.add_argument("--transport", default="", metavar="NAME|URL",
                      help="a configured transport name, or a transport URL to use just now")
    send.add_argument("--wait", action="store_true",
                      help="run the pipeline until a final status; exit 0 only if delivered")
    send.add_argument("--timeout", type=float, default=120.0, help="--wait limit in seconds")
    send.add_argument("--config", action="append", default=[], metavar="FILE")
    send.set_defaults(func=_send)

    sms = sub.add_parser("sms", help="inspect stored messages")
    sms.add_argument("--config", action="append", default=[], metavar="FILE")
    actions = sms.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="newest messages first")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--status", help="only this status")
    show = actions.add_parser("show", help="one message with its parts and history")
    show.add_argument("id")
    webhook = actions.add_parser("webhook", help="the delivery-report URL (with its token) "
                                 "to give an HTTP provider for transport NAME")
    webhook.add_argument("name")
    webhook.add_argument("--kind", choices=("http", "restcomm"), default="http",
                         help="generic id/status receiver, or a Restcomm StatusCallback")
    for action in (listing, show, webhook):
        # Accepted after the action too (`ivr sms list --config x.ini`); SUPPRESS keeps a
        # sub-parser default from overwriting a --config given before the action.
        action.add_argument("--config", action="append", default=argparse.SUPPRESS,
                            metavar="FILE")
    sms.set_defaults(func=_inspect)


def _settings(config: list[str | os.PathLike[str]]) -> Any:
    from ivr.config import load_settings

    return load_settings(list(config))


def _service(settings: Any, transport_url: str = "") -> tuple[Any, str]:
    from ivr.config import database_url
    from ivr.logsafe import redact_url
    from ivr.service import build_sms_service, build_transport

    # Which database this command reads and writes: two instances share one only if
    # they name the same one (docs/operations.md, "Data").
    print(f"database: {redact_url(database_url(settings))}", file=sys.stderr)
    extra: dict[str, Any] = {}
    name = transport_url
    if "://" in transport_url:
        name = "cli"
        extra[name] = build_transport(name, transport_url)
    return build_sms_service(settings, extra_transports=extra), name


def _send(args: argparse.Namespace) -> int:
    from ivr.call import SmsRequest

    service, transport = _service(_settings(args.config), args.transport)
    message = service.submit(SmsRequest(recipient=args.to, body=args.text, sender=args.sender,
                                        transport=transport, source="cli"))
    print(f"accepted {message.id} to {message.recipient} ({message.segments} part(s), "
          f"{message.encoding})")
    if not args.wait:
        print("queued: `ivr serve` (or --wait) sends it")
        return 0
    service.start()
    try:
        [final] = service.run_until_final([message.id], args.timeout)
    finally:
        service.stop()
    print(f"status: {final.status.value}" + (f" (error {final.error_code}: "
                                             f"{final.error_message})" if final.error_code else ""))
    for part in final.parts:
        print(f"  part {part.index + 1}: {part.status.value} provider id "
              f"{part.provider_id or '-'}" + (f" ref {part.reference}"
                                               if part.reference is not None else ""))
    return 0 if final.status.value == "delivered" else 1


def _inspect(args: argparse.Namespace) -> int:
    from ivr.sms.store import MessageQuery

    settings = _settings(args.config)
    service, _ = _service(settings)
    if args.action == "webhook":
        return _webhook(service, settings.http.public_base_url, args.name, args.kind)
    if args.action == "list":
        messages, total = service.query(MessageQuery(status=args.status, descending=True,
                                                     limit=args.limit))
        for m in messages:
            when = m.created_at.strftime("%Y-%m-%d %H:%M:%S") if m.created_at else "?"
            print(f"{m.id}  {when}  {m.direction.value:8} {m.status.value:11} "
                  f"{m.recipient:16} {m.body[:40]!r}")
        print(f"{len(messages)} of {total}", file=sys.stderr)
        return 0
    message = service.get(args.id)
    if message is None:
        print(f"ivr: error: no message {args.id}", file=sys.stderr)
        return 1
    for label, value in (("id", message.id), ("direction", message.direction.value),
                         ("status", message.status.value), ("from", message.sender),
                         ("to", message.recipient), ("text", message.body),
                         ("encoding", f"{message.encoding}, {message.segments} part(s)"),
                         ("transport", message.transport), ("attempts", message.attempts),
                         ("error", f"{message.error_code or ''} {message.error_message}".strip()),
                         ("callback", message.callback_url), ("owner", message.owner)):
        print(f"{label:10} {value}")
    for part in message.parts:
        print(f"part {part.index + 1:<5} {part.status.value:11} {part.provider_id or '-'}")
    for at, status, detail in service.store.events(message.id):
        print(f"{at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f"  {status:11} {detail}")
    return 0


def _webhook(service: Any, public_base_url: str, name: str, kind: str) -> int:
    from ivr.sms.callbacks import webhook_token
    from ivr.sms.transports.http import dlr_webhook_url

    if name not in service.transports:
        print(f"ivr: error: no transport {name!r} (configured: "
              f"{', '.join(service.transports)})", file=sys.stderr)
        return 1
    print(dlr_webhook_url(public_base_url, kind, name,
                          webhook_token(service.callbacks.key, name)))
    return 0
