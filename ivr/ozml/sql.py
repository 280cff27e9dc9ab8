"""Ozeki's SQL OzML: ``<GoTo>SELECT …</GoTo>`` runs a query whose result is the next script.

Safety, in layers:

* variables are **bound, never interpolated**: ``$caller`` in the query becomes a
  placeholder and its value a parameter (``'$caller'``, quoted as Ozeki users write it, is
  the same placeholder), so a caller-controlled value is data whatever it contains;
* only one ``SELECT``/``WITH`` statement is accepted (lint and the builder check the start;
  the drivers refuse a second statement);
* the connection itself is read-only: SQLite is opened ``mode=ro``, PostgreSQL sessions run
  with ``default_transaction_read_only`` and a statement timeout.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ivr.errors import OzmlError
from ivr.ozml.expand import VARIABLE

__all__ = ["bind", "SqlDatabase"]

log = logging.getLogger(__name__)
_QUOTED_OR_BARE = re.compile(r"'\$([A-Za-z_][A-Za-z0-9_]*)'|" + VARIABLE.pattern)


def bind(query: str, variables: Mapping[str, str], placeholder: str) -> tuple[str, list[str]]:
    """``query`` with each ``$name`` (or ``'$name'``) replaced by ``placeholder``, and the
    values in order. An unknown ``$name`` is an error rather than a literal: in SQL it would
    only ever be a syntax error or, worse, a column name."""
    values: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = (match.group(1) or match.group(2)).lower()
        if name not in variables:
            raise OzmlError(f"SQL query uses ${name}, which is not set")
        values.append(variables[name])
        return placeholder

    if placeholder == "%s":
        query = query.replace("%", "%%")   # psycopg: a literal % must be doubled
    return _QUOTED_OR_BARE.sub(replace, query), values


class SqlDatabase:
    """A read-only connection to ``[ozml] sql_url``: ``sqlite:///path`` or
    ``postgresql://…``. One connection per thread for SQLite; a pool-less connection per
    query for PostgreSQL (queries are rare: once per GoTo)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        scheme = urlsplit(url).scheme
        if scheme == "sqlite":
            self.kind, self.placeholder = "sqlite", "?"
            # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them
            rest = url.split("://", 1)[1]
            self.path = rest[1:] if rest.startswith("/") else rest
        elif scheme in ("postgresql", "postgres"):
            self.kind, self.placeholder = "postgresql", "%s"
        else:
            raise OzmlError(f"[ozml] sql_url {url!r}: expected sqlite:///path or "
                            "postgresql://…")
        self._local = threading.local()

    def query_one(self, sql: str, params: Sequence[str]) -> str | None:
        try:
            if self.kind == "sqlite":
                row = self._sqlite().execute(sql, list(params)).fetchone()
            else:
                row = self._postgres(sql, params)
        except OzmlError:
            raise
        except Exception as exc:  # driver errors of both kinds: report, never crash the call
            raise OzmlError(f"SQL query failed: {exc.__class__.__name__}: "
                            f"{str(exc).strip().splitlines()[0] if str(exc) else ''}") from None
        if row is None or row[0] is None:
            return None
        value = row[0]
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("utf-8", errors="replace")
        return str(value)

    def _sqlite(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   timeout=self.timeout, check_same_thread=True)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
        return conn

    def _postgres(self, sql: str, params: Sequence[str]) -> Any:
        import psycopg

        timeout_ms = int(self.timeout * 1000)
        with psycopg.connect(self.url, connect_timeout=max(1, int(self.timeout)),
                             options=f"-c default_transaction_read_only=on "
                                     f"-c statement_timeout={timeout_ms}") as conn:
            conn.read_only = True
            with conn.cursor() as cursor:
                cursor.execute(sql, list(params))
                return cursor.fetchone()
