"""API users: one store for every HTTP dialect (Ozeki, Acrobits, JSON:API, Enswitch, Restcomm).

Passwords are scrypt hashes (random salt), compared in constant time and never logged.
scrypt is deliberately slow (~50 ms), which no SMS API can pay per request, so a successful
check is remembered (bounded, per process) as an HMAC of the credentials under a key that lives
only in this process, with the user it admitted; later requests compare against it in
constant time and skip the database. Any change to the users table, by this process or any
other (``PRAGMA data_version``, read on every check), forgets everything remembered, so a
removed user, a new password or a permission taken away counts from the next request
(docs/security.md). Repeated bad passwords from one address lock that address out for a while.

Each user also has a Restcomm ``AccountSid`` (``AC`` + 32 hex) and ``AuthToken``. The token is
a credential the user must be able to read back (``ivr user show``), so it is stored as is;
the database file is created mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import AuthError, ValidationError

__all__ = ["User", "UserStore", "PERMISSIONS", "DEFAULT_PERMISSIONS", "DEMO_USER",
           "DEMO_PASSWORD"]

log = logging.getLogger(__name__)

# "admin" signs in to the web console (/console); never granted unless asked for.
PERMISSIONS = frozenset({"sms", "calls", "admin"})
DEFAULT_PERMISSIONS = frozenset({"sms", "calls"})
DEMO_USER = "HTTP_User_1"          # the example credentials of Ozeki's SendSms page (seed 004)
DEMO_PASSWORD = "qwe123"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_DECOY_SALT = b"ivr-unknown-user"   # hashed against for names that do not exist
_LOCKOUT_FAILURES = 5              # bad passwords from one address within the window...
_LOCKOUT_WINDOW = 60.0
_LOCKOUT_SECONDS = 30.0            # ...lock that address out this long
_CACHE_SIZE = 1024                 # verified credentials remembered per process


@dataclass(frozen=True)
class User:
    name: str
    permissions: frozenset[str]
    account_sid: str
    auth_token: str
    rate_limit_per_minute: int = 0     # 0 = the server default
    loopback_only: bool = False        # the demo user: refused from other addresses

    def may(self, permission: str) -> bool:
        return permission in self.permissions


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)


def _check_permissions(permissions: frozenset[str] | set[str], rate_limit: int) -> None:
    unknown = set(permissions) - PERMISSIONS
    if unknown:
        raise ValidationError("permissions", f"unknown {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(sorted(PERMISSIONS))})")
    if rate_limit < 0:
        raise ValidationError("rate_limit", "0 (the server default) or more requests a minute")


def _is_loopback(address: str) -> bool:
    """An unknown address ("") is not loopback: only a socket's peer can prove that."""
    return address == "::1" or address.startswith("127.") or address.startswith("::ffff:127.")


class UserStore:
    """Users in a small SQLite file (``<data_dir>/users.db``); thread-safe."""

    def __init__(self, path: str | os.PathLike[str], cache_size: int = _CACHE_SIZE) -> None:
        self.path = Path(path)
        self.cache_size = cache_size
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if new:
            os.chmod(self.path, 0o600)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS users (
            name TEXT PRIMARY KEY, salt BLOB NOT NULL, hash BLOB NOT NULL,
            permissions TEXT NOT NULL, account_sid TEXT UNIQUE NOT NULL,
            auth_token TEXT NOT NULL, rate_limit INTEGER NOT NULL DEFAULT 0,
            loopback_only INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL)""")
        self._cache_key = secrets.token_bytes(32)
        # (kind, login) -> (HMAC of login and secret, the user they admitted); valid while
        # the database's data_version is the one it was filled under.
        self._verified: dict[tuple[str, str], tuple[bytes, User]] = {}
        self._version = self._data_version()
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    # -- management ----------------------------------------------------------------------
    def add(self, name: str, password: str,
            permissions: frozenset[str] | set[str] = DEFAULT_PERMISSIONS,
            rate_limit_per_minute: int = 0, loopback_only: bool = False) -> User:
        if not name or any(c.isspace() for c in name) or len(name) > 64:
            raise ValidationError("name", "1-64 characters without spaces")
        if len(password) < 6:
            raise ValidationError("password", "at least 6 characters")
        _check_permissions(permissions, rate_limit_per_minute)
        salt = secrets.token_bytes(16)
        user = User(name, frozenset(permissions), "AC" + secrets.token_hex(16),
                    secrets.token_hex(16), rate_limit_per_minute, loopback_only)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO users VALUES (?,?,?,?,?,?,?,?,?)",
                    (name, salt, _hash(password, salt), ",".join(sorted(user.permissions)),
                     user.account_sid, user.auth_token, rate_limit_per_minute,
                     int(loopback_only), time.time()))
            except sqlite3.IntegrityError:
                raise ValidationError("name", f"user {name!r} already exists") from None
            self._verified.clear()
        log.info("user %s added (permissions %s)", name, ",".join(sorted(user.permissions)))
        return user

    def update(self, name: str, permissions: frozenset[str] | set[str],
               rate_limit_per_minute: int) -> User | None:
        """Change a user's permissions and rate limit; None when there is no such user."""
        _check_permissions(permissions, rate_limit_per_minute)
        with self._lock:
            changed = self._db.execute(
                "UPDATE users SET permissions = ?, rate_limit = ? WHERE name = ?",
                (",".join(sorted(permissions)), rate_limit_per_minute, name)).rowcount
            self._verified.clear()
        if changed:
            log.info("user %s now has permissions %s, rate limit %d/min", name,
                     ",".join(sorted(permissions)) or "(none)", rate_limit_per_minute)
        return self.get(name) if changed else None

    def remove(self, name: str) -> bool:
        with self._lock:
            removed = self._db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount
            self._verified.clear()
        return bool(removed)

    def get(self, name: str) -> User | None:
        row = self._row("name", name)
        return None if row is None else self._user(row)

    def get_by_account_sid(self, account_sid: str) -> User | None:
        row = self._row("account_sid", account_sid)
        return None if row is None else self._user(row)

    def list(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM users ORDER BY name").fetchall()
        return [self._user(row) for row in rows]

    def ensure_demo_user(self) -> User:
        """The documented example account, limited to loopback clients. Several processes
        (HTTP workers) may ask at once: whoever loses the race reads the winner's."""
        existing = self.get(DEMO_USER)
        if existing is not None:
            return existing
        try:
            return self.add(DEMO_USER, DEMO_PASSWORD, DEFAULT_PERMISSIONS, loopback_only=True)
        except ValidationError:
            created = self.get(DEMO_USER)
            if created is None:
                raise
            return created

    # -- authentication ------------------------------------------------------------------
    def authenticate(self, name: str, password: str, remote_addr: str = "", *,
                     proxied: bool = False) -> User:
        """The user, or AuthError(missing|bad_credentials|forbidden|rate_limited).

        ``remote_addr`` keys the lockout; ``proxied`` (came through a reverse proxy) means
        the request is never from this machine, whatever the address."""
        if not name or not password:
            raise AuthError("missing", "username and password are required")
        self._check_lockout(remote_addr)
        user, token, version = self._remembered("name", name, password)
        if user is None:
            row = self._row("name", name)
            if row is None:
                # The same scrypt work as for a known user: the answer's timing must not tell
                # which user names exist.
                _hash(password, _DECOY_SALT)
            else:
                salt, stored = bytes(row[1]), bytes(row[2])  # type: ignore[call-overload]
                if hmac.compare_digest(_hash(password, salt), stored):
                    user = self._remember("name", name, token, version, row)
        return self._admitted(user, remote_addr, name, "username or password", proxied)

    def authenticate_account(self, account_sid: str, auth_token: str,
                             remote_addr: str = "", *, proxied: bool = False) -> User:
        if not account_sid or not auth_token:
            raise AuthError("missing", "AccountSid and AuthToken are required")
        self._check_lockout(remote_addr)
        user, token, version = self._remembered("sid", account_sid, auth_token)
        if user is None:
            row = self._row("account_sid", account_sid)
            if row is not None and hmac.compare_digest(
                    str(row[5]).encode("utf-8"),
                    auth_token.encode("utf-8", "surrogateescape")):
                user = self._remember("sid", account_sid, token, version, row)
        return self._admitted(user, remote_addr, account_sid, "AccountSid or AuthToken",
                              proxied)

    def _admitted(self, user: User | None, remote_addr: str, login: str, what: str,
                  proxied: bool) -> User:
        """``user`` (None: bad credentials, counted against the address), if this address
        may use it."""
        if user is None:
            self._failed(remote_addr, login)
            raise AuthError("bad_credentials", f"bad {what}")
        if user.loopback_only and (proxied or not _is_loopback(remote_addr)):
            raise AuthError("forbidden", f"{user.name} may only be used from this machine")
        return user

    # -- the cache of verified credentials ------------------------------------------------
    def _data_version(self) -> int:
        """Changes whenever another connection (another process: the CLI, a console in
        another HTTP worker) commits to the file; our own writes clear the cache directly."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _remembered(self, kind: str, login: str, secret: str) -> tuple[User | None, bytes, int]:
        """(the user these credentials were verified for, or None; their HMAC; the
        database version the answer is valid for)."""
        token = hmac.new(self._cache_key, login.encode("utf-8", "surrogateescape") + b"\0"
                         + secret.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
        with self._lock:
            version = self._data_version()
            if version != self._version:
                self._verified.clear()
                self._version = version
            entry = self._verified.get((kind, login))
        if entry is not None and hmac.compare_digest(entry[0], token):
            return entry[1], token, version
        return None, token, version

    def _remember(self, kind: str, login: str, token: bytes, version: int,
                  row: tuple[object, ...]) -> User:
        """The user of a verified ``row``, remembered unless the table changed since
        ``version`` (the row may then be stale; the next request reads it again)."""
        user = self._user(row)
        with self._lock:
            if self._data_version() == version == self._version:
                if len(self._verified) >= self.cache_size:
                    self._verified.pop(next(iter(self._verified)))   # the oldest
                self._verified[(kind, login)] = (token, user)
        return user

    def _check_lockout(self, remote_addr: str) -> None:
        until = self._locked_until.get(remote_addr, 0.0)
        if until > time.monotonic():
            raise AuthError("rate_limited", "too many failed logins from this address; "
                            f"retry in {until - time.monotonic():.0f} s")

    def _failed(self, remote_addr: str, who: str) -> None:
        now = time.monotonic()
        with self._lock:
            recent = self._failures.setdefault(remote_addr, deque())
            recent.append(now)
            while recent and recent[0] < now - _LOCKOUT_WINDOW:
                recent.popleft()
            if len(recent) >= _LOCKOUT_FAILURES:
                self._locked_until[remote_addr] = now + _LOCKOUT_SECONDS
                recent.clear()
                log.warning("address %s locked out for %.0f s after repeated failed logins "
                            "(last as %r)", remote_addr or "?", _LOCKOUT_SECONDS, who)

    def _row(self, column: str, value: str) -> tuple[object, ...] | None:
        with self._lock:
            row: tuple[object, ...] | None = self._db.execute(
                f"SELECT * FROM users WHERE {column} = ?", (value,)).fetchone()
        return row

    @staticmethod
    def _user(row: tuple[object, ...]) -> User:
        name, _, _, permissions, sid, token, rate, loopback, _ = row
        return User(str(name), frozenset(p for p in str(permissions).split(",") if p),
                    str(sid), str(token), int(rate), bool(loopback))  # type: ignore[call-overload]

    def close(self) -> None:
        with self._lock:
            self._db.close()
