"""Console sessions: sign-in with an API user holding ``admin``, cookies, CSRF.

The session is Flask's signed cookie (HttpOnly, ``SameSite=Strict``, path ``/console``,
``Secure`` when the public base URL is https) under a key kept in ``<data_dir>/console.key``
(0600), so every HTTP worker process accepts the same cookies. Each request checks the user
again: removing a user or taking ``admin`` away ends their sessions at once.

CSRF: a random token lives in the session; every state-changing request must echo it in the
``csrf_token`` form field or the ``X-CSRF-Token`` header (OWASP "synchronizer token"), the
sign-in form included (login CSRF). SameSite=Strict is the second line.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, request, session

from ivr.keyfile import key_file
from ivr.users import User

__all__ = ["configure", "csrf_token", "check_csrf", "signed_in_user", "sign_in", "sign_out",
           "ADMIN"]

log = logging.getLogger(__name__)

ADMIN = "admin"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def configure(app: Flask, data_dir: str, public_base_url: str) -> None:
    app.secret_key = key_file(Path(data_dir) / "console.key")
    app.config.update(
        SESSION_COOKIE_NAME="ivr_console", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_SECURE=public_base_url.lower().startswith("https:"),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8))


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """403 for a state-changing request without this session's token."""
    if request.method not in _UNSAFE:
        return
    expected = session.get("csrf")
    given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not given or \
            not hmac.compare_digest(expected.encode(), given.encode()):
        log.warning("[req %s] console: %s %s refused: missing or wrong CSRF token",
                    g.get("request_id", "?"), request.method, request.path)
        abort(403, "missing or wrong CSRF token; reload the page")


def signed_in_user(users: Any) -> User | None:
    """The session's user if it still exists and still has ``admin``."""
    name = session.get("user")
    if not isinstance(name, str):
        return None
    user: User | None = users.get(name)
    if user is None or not user.may(ADMIN):
        session.pop("user", None)
        return None
    return user


def sign_in(user: User) -> None:
    """A fresh session (new CSRF token) for ``user``: nothing from before sign-in survives."""
    session.clear()
    session.permanent = True
    session["user"] = user.name
    session["csrf"] = secrets.token_urlsafe(32)


def sign_out() -> None:
    session.clear()
