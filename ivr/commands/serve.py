"""``ivr serve``: the HTTP API, the SMS core and the IVR (SIP), each role in processes of its
own under one supervisor (ivr.roles), until SIGINT/SIGTERM. ``--role`` runs one role alone,
for deployments that spread the roles over several machines sharing PostgreSQL."""

from __future__ import annotations

import argparse
import os
import socket
from functools import partial
from pathlib import Path
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
    parser.add_argument("--role", choices=("http", "sms", "voice"),
                        help="run this role alone (default: all of them)")
    parser.add_argument("--http-workers", type=int, metavar="N",
                        help="HTTP worker processes [[http] workers, 0 = one per core]")
    parser.add_argument("--demo", action="store_true",
                        help="create the demo user HTTP_User_1/qwe123 (loopback only)")
    parser.set_defaults(func=_serve)


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = apply_overrides(load_settings(args.config), {
        "http.host": args.http_host,
        "http.port": args.http_port,
        "http.workers": args.http_workers,
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


def _banner(settings: Settings, demo: Any, roles: tuple[str, ...]) -> None:
    sip = settings.sip
    if sip.enabled and "voice" in roles:
        where = f"{sip.bind_host}:{sip.bind_port}"
        if sip.mode == "register":
            print(f"SIP: registered as {sip.username}@{sip.server}:{sip.server_port} (local {where})")
        else:
            print(f"SIP: answering calls on sip:ivr@{where} (direct mode), script "
                  f"{sip.default_script}")
    if settings.http.enabled and "http" in roles:
        base = f"http://{settings.http.host}:{settings.http.port}"
        print(f"HTTP API: {base}/api  (OpenAPI: {base}/openapi.json), "
              f"{http_worker_count(settings)} worker process(es)")
    if "sms" in roles:
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


def http_worker_count(settings: Settings) -> int:
    return settings.http.workers if settings.http.workers > 0 else (os.cpu_count() or 1)


def build_specs(settings: Settings, roles: tuple[str, ...],
                listener: socket.socket | None) -> list[Any]:
    """The children to supervise: the SMS core first (it binds the wake-up socket), then
    voice, then the HTTP workers sharing ``listener``."""
    from ivr.roles.roles import HttpRole, SmsRole, VoiceRole
    from ivr.roles.supervisor import RoleSpec

    specs = []
    others = (listener,) if listener is not None else ()
    if "sms" in roles:
        specs.append(RoleSpec("sms", "sms", partial(SmsRole, settings), grace=30.0,
                              not_mine=others))
    if "voice" in roles and settings.sip.enabled:
        specs.append(RoleSpec("voice", "voice", partial(VoiceRole, settings), grace=15.0,
                              not_mine=others))
    if "http" in roles and settings.http.enabled and listener is not None:
        grace = settings.http.drain_seconds + 5.0
        for index in range(1, http_worker_count(settings) + 1):
            specs.append(RoleSpec("http", f"http-{index}",
                                  partial(HttpRole, settings, listener, index), grace=grace))
    return specs


def _serve(args: argparse.Namespace) -> int:
    import logging

    from ivr.roles.http import bind_listener
    from ivr.roles.supervisor import Supervisor
    from ivr.service import user_store_path
    from ivr.users import UserStore

    settings = settings_from_args(args)
    if not args.verbose:  # [ivr] log_level (INFO: a server logs its calls and messages)
        level = logging.getLevelName(settings.ivr.log_level.upper())
        if not isinstance(level, int):
            raise ConfigError(f"[ivr] log_level {settings.ivr.log_level!r}: use DEBUG, INFO, "
                              "WARNING or ERROR")
        logging.getLogger().setLevel(level)

    roles: tuple[str, ...] = (args.role,) if args.role else ("http", "sms", "voice")
    Path(settings.ivr.data_dir).mkdir(parents=True, exist_ok=True)
    demo = None
    if settings.http.demo_user and "http" in roles:
        users = UserStore(user_store_path(settings.ivr.data_dir))
        try:    # closed before the roles fork: a database connection must not cross it
            demo = users.ensure_demo_user()
        finally:
            users.close()
    listener = None
    if "http" in roles and settings.http.enabled:
        try:
            listener = bind_listener(settings.http.host, settings.http.port,
                                     settings.http.backlog)
        except OSError as exc:
            raise ConfigError(f"[http] cannot listen on {settings.http.host}:"
                              f"{settings.http.port}: {exc.strerror}") from None
        settings.http.port = listener.getsockname()[1]   # port 0: the one the kernel chose
    specs = build_specs(settings, roles, listener)
    if not specs:
        raise ConfigError(f"nothing to run: role(s) {', '.join(roles)} disabled in the "
                          "configuration ([sip] enabled / [http] enabled) or on the command line")
    supervisor = Supervisor(specs)
    try:
        return supervisor.run(ready=lambda: _banner(settings, demo, roles))
    finally:
        print("stopped.", flush=True)
        if listener is not None:
            listener.close()
