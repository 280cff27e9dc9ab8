"""``ivr serve``: the IVR (SIP) and the HTTP API in one process, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from ivr.config import Settings, apply_overrides, load_settings
from ivr.errors import ConfigError
from ivr.logsafe import redact_url

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser("serve", help="answer SIP calls and serve the HTTP API")
    parser.add_argument("--config", action="append", default=[], metavar="FILE",
                        help="INI configuration file (repeatable; later files win)")
    parser.add_argument("--http-host", help="HTTP API address [127.0.0.1]")
    parser.add_argument("--http-port", type=int, help="HTTP API port [9509]")
    parser.add_argument("--sip-host", help="SIP/RTP address, also put in SDP [127.0.0.1]")
    parser.add_argument("--sip-port", type=int, help="SIP UDP port [5060]")
    parser.add_argument("--script", metavar="FILE|URL",
                        help="serve every call with this script (direct mode, no dialplan)")
    parser.add_argument("--no-sip", action="store_true", help="HTTP API and SMS only")
    parser.add_argument("--no-http", action="store_true", help="SIP only")
    parser.add_argument("--demo", action="store_true",
                        help="create the demo user HTTP_User_1/qwe123 (loopback only)")
    parser.set_defaults(func=_serve)


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = apply_overrides(load_settings(args.config), {
        "http.host": args.http_host,
        "http.port": args.http_port,
        "sip.bind_host": args.sip_host,
        "sip.bind_port": args.sip_port,
    })
    if args.script:
        settings.sip.mode = "direct"
        settings.sip.default_script = args.script
        settings.sip.dialplan.clear()
    if args.no_sip:
        settings.sip.enabled = False
    if args.no_http:
        settings.http.enabled = False
    if args.demo:
        settings.http.demo_user = True
        # The README's first SendSms reports to a receiver on this machine; loopback is
        # denied to callbacks by default (docs/security.md), so the demo allows it.
        settings.sms.callback_allow.extend(["127.0.0.0/8", "::1"])
    return settings


def _banner(settings: Settings, demo: Any) -> None:
    sip = settings.sip
    if sip.enabled:
        where = f"{sip.bind_host}:{sip.bind_port}"
        if sip.mode == "register":
            print(f"SIP: registered as {sip.username}@{sip.server}:{sip.server_port} (local {where})")
        else:
            print(f"SIP: answering calls on sip:ivr@{where} (direct mode), script "
                  f"{sip.default_script}")
    if settings.http.enabled:
        base = f"http://{settings.http.host}:{settings.http.port}"
        print(f"HTTP API: {base}/api  (OpenAPI: {base}/openapi.json)")
    print("SMS transports: " + ", ".join(f"{name}={redact_url(url)}"   # no passwords
                                         for name, url in settings.sms.transports.items()))
    if demo is not None:
        base = f"http://{settings.http.host}:{settings.http.port}"
        print("Demo mode: callbacks may reach this machine (127.0.0.0/8, ::1).")
        print("Demo account (loopback only; remove with `ivr user remove HTTP_User_1`):")
        print("  Username: HTTP_User_1   Password: qwe123")
        print(f"  AccountSid: {demo.account_sid}")
        print(f"  AuthToken: {demo.auth_token}")
        print(f"  try: curl '{base}/api?command=SendSms&Username=HTTP_User_1&Password=qwe123"
              "&Recipient=%2b0615546670&Message=Hello+world'")
    print("Press Ctrl-C to stop.", flush=True)


def _serve(args: argparse.Namespace) -> int:
    import logging

    from ivr.service import Runtime

    settings = settings_from_args(args)
    if not args.verbose:  # [ivr] log_level (INFO: a server logs its calls and messages)
        level = logging.getLevelName(settings.ivr.log_level.upper())
        if not isinstance(level, int):
            raise ConfigError(f"[ivr] log_level {settings.ivr.log_level!r}: use DEBUG, INFO, "
                              "WARNING or ERROR")
        logging.getLogger().setLevel(level)

    runtime = Runtime(settings)
    demo = runtime.services.users.ensure_demo_user() if settings.http.demo_user else None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    runtime.start()
    try:
        _banner(settings, demo)
        stop.wait()
    finally:
        print("stopping...", flush=True)
        runtime.stop()
    return 0
