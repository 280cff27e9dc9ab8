"""The store's tables, declared once as values; each backend renders them in its own types.

Kinds, not SQL types: ``text``, ``int``, ``time`` (epoch seconds as a float: PostgreSQL's
``REAL`` is 4 bytes and would round them to minutes, so it gets ``DOUBLE PRECISION``),
``serial`` (an auto-incrementing key) and ``rowid`` (SQLite has it implicitly; PostgreSQL
gets an explicit column, which paging uses as a tie-breaker).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Column", "Table", "Index", "TABLES", "INDEXES", "ADDED_COLUMNS", "render",
           "render_column"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str                 # text | int | time | serial | rowid
    extra: str = ""           # NOT NULL, DEFAULT, PRIMARY KEY, REFERENCES (same in both)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    constraints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[str, ...]


def _c(name: str, kind: str, extra: str = "") -> Column:
    return Column(name, kind, extra)


_NN = "NOT NULL"
TABLES = (
    Table("messages", (
        _c("id", "text", "PRIMARY KEY"), _c("rowid", "rowid"),
        _c("direction", "text", _NN), _c("sender", "text", _NN), _c("recipient", "text", _NN),
        _c("body", "text", _NN), _c("status", "text", _NN), _c("encoding", "text", _NN),
        _c("segments", "int", _NN), _c("error_code", "int"),
        _c("error_message", "text", "NOT NULL DEFAULT ''"),
        _c("created_at", "time", _NN), _c("updated_at", "time", _NN), _c("sent_at", "time"),
        _c("delivered_at", "time"), _c("owner", "text", "NOT NULL DEFAULT ''"),
        _c("callback_url", "text", "NOT NULL DEFAULT ''"),
        _c("callback_method", "text", "NOT NULL DEFAULT 'GET'"),
        _c("callback_format", "text", "NOT NULL DEFAULT 'ozeki'"),
        _c("client_ref", "text", "NOT NULL DEFAULT ''"),
        _c("transport", "text", "NOT NULL DEFAULT ''"),
        _c("attempts", "int", "NOT NULL DEFAULT 0"),
        _c("next_attempt_at", "time", "NOT NULL DEFAULT 0"), _c("claimed_by", "text"),
        _c("lease_until", "time", "NOT NULL DEFAULT 0"),
        _c("request_status_report", "int", "NOT NULL DEFAULT 1"),
        _c("silent", "int", "NOT NULL DEFAULT 0"),
        _c("content_type", "text", "NOT NULL DEFAULT 'text/plain'"),
        _c("disposition_notification", "text", "NOT NULL DEFAULT ''"),
        _c("source", "text", "NOT NULL DEFAULT ''"), _c("in_doubt_since", "time"))),
    Table("parts", (
        _c("message_id", "text", "NOT NULL REFERENCES messages(id)"), _c("idx", "int", _NN),
        _c("provider_id", "text", "NOT NULL DEFAULT ''"), _c("reference", "int"),
        _c("status", "text", _NN), _c("error_code", "int"), _c("submitted_at", "time"),
        _c("updated_at", "time")), ("PRIMARY KEY (message_id, idx)",)),
    Table("events", (
        _c("id", "serial"), _c("message_id", "text", _NN), _c("status", "text", _NN),
        _c("at", "time", _NN), _c("detail", "text", "NOT NULL DEFAULT ''"))),
    Table("callbacks", (
        _c("id", "serial"), _c("message_id", "text", _NN), _c("status", "text", _NN),
        _c("url", "text", _NN), _c("method", "text", _NN), _c("params", "text", _NN),
        _c("state", "text", _NN), _c("attempts", "int", "NOT NULL DEFAULT 0"),
        _c("next_attempt_at", "time", _NN), _c("created_at", "time", _NN),
        _c("last_error", "text", "NOT NULL DEFAULT ''"))),
    Table("callback_attempts", (
        _c("id", "serial"), _c("callback_id", "int", _NN), _c("at", "time", _NN),
        _c("result", "text", _NN))),
    Table("unmatched_reports", (
        _c("id", "serial"), _c("transport", "text", _NN), _c("provider_id", "text", _NN),
        _c("reference", "int"), _c("recipient", "text", _NN), _c("status", "text", _NN),
        _c("error_code", "int"), _c("error_text", "text", _NN),
        _c("received_at", "time", _NN), _c("raw", "text", _NN),
        _c("text", "text", "NOT NULL DEFAULT ''"))),
    Table("inbound_parts", (
        _c("id", "serial"), _c("transport", "text", _NN), _c("sender", "text", _NN),
        _c("recipient", "text", _NN), _c("reference", "int", _NN), _c("total", "int", _NN),
        _c("sequence", "int", _NN), _c("body", "text", _NN), _c("received_at", "time", _NN)),
        ("UNIQUE (transport, sender, reference, total, sequence)",)),
)

INDEXES = (
    Index("messages_due", "messages", ("status", "next_attempt_at")),
    Index("messages_owner", "messages", ("owner", "created_at")),
    Index("parts_provider", "parts", ("provider_id",)),
    Index("parts_reference", "parts", ("reference", "submitted_at")),
    Index("events_message", "events", ("message_id",)),
    Index("callbacks_due", "callbacks", ("state", "next_attempt_at")),
    Index("callbacks_message", "callbacks", ("message_id", "state")),
    Index("callback_attempts_job", "callback_attempts", ("callback_id",)),
    Index("unmatched_provider", "unmatched_reports", ("provider_id",)),
    Index("unmatched_age", "unmatched_reports", ("received_at",)),
    Index("unmatched_recipient", "unmatched_reports", ("recipient", "received_at")),
    Index("inbound_parts_age", "inbound_parts", ("received_at",)),
)

# Columns added after a release: databases created before get them with ALTER TABLE when
# opened (each backend checks its own catalogue); new ones have them from TABLES.
# Each entry: (table, column name, Column).
ADDED_COLUMNS = tuple((table, column.name, column) for table, column in (
    ("messages", _c("in_doubt_since", "time")),
    ("unmatched_reports", _c("text", "text", "NOT NULL DEFAULT ''"))))


def render_column(column: Column, types: Mapping[str, str]) -> str:
    """``name TYPE extra``; empty for a kind the backend has implicitly (types[kind] == "")."""
    kind = types[column.kind]
    return f"{column.name} {kind} {column.extra}".strip() if kind else ""


def render(types: Mapping[str, str], tables: Sequence[Table] = TABLES,
           indexes: Sequence[Index] = INDEXES) -> list[tuple[str, str]]:
    """(name, CREATE TABLE/INDEX IF NOT EXISTS statement) for each of ``tables`` and
    ``indexes`` (the store's own by default; the call history and the address book declare
    theirs the same way), with ``types`` mapping each kind."""
    statements = []
    for table in tables:
        body = [text for text in (render_column(c, types) for c in table.columns) if text]
        statements.append((table.name, f"CREATE TABLE IF NOT EXISTS {table.name} "
                                        f"({', '.join([*body, *table.constraints])})"))
    statements.extend((i.name, f"CREATE INDEX IF NOT EXISTS {i.name} ON {i.table} "
                               f"({', '.join(i.columns)})") for i in indexes)
    return statements
