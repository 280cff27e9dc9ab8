"""The durable message store: the only SQL in the SMS pipeline.

SQLite in WAL mode with ``synchronous=FULL`` (every commit is fsynced), one connection
guarded by a lock (SQLite has one writer anyway). "Accepted" means committed: callers get a
message id only after :meth:`insert` returned.

Claims carry a lease: a worker that dies leaves ``lease_until`` in the past and the message
is claimed again, so nothing is stuck until a restart. Each message has its own
``next_attempt_at``, so one failing number backs off alone, never head-of-line.

A status change and the callback it triggers are written in one transaction, so a crash can
neither lose a callback nor send one for a change that was rolled back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ivr.errors import StoreError
from ivr.sms.encoding import split_message
from ivr.sms.message import FINAL_STATUSES, Direction, Message, Part, Status
from ivr.sms.reconcile import Candidate, assign_parts
from ivr.sms.transports.base import DeliveryReport

__all__ = ["MessageQuery", "CallbackJob", "Store", "SqliteStore", "ChangeHook", "canonical_ids",
           "open_store"]

# (message after the change, new status) -> (url, method, params) to call back, or None.
# Called only for messages that have a callback URL (the others cost no Message build).
log = logging.getLogger(__name__)

ChangeHook = Callable[[Message, Status], "tuple[str, str, dict[str, str]] | None"]

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, direction TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,
    body TEXT NOT NULL, status TEXT NOT NULL, encoding TEXT NOT NULL, segments INTEGER NOT NULL,
    error_code INTEGER, error_message TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, updated_at REAL NOT NULL, sent_at REAL, delivered_at REAL,
    owner TEXT NOT NULL DEFAULT '', callback_url TEXT NOT NULL DEFAULT '',
    callback_method TEXT NOT NULL DEFAULT 'GET', callback_format TEXT NOT NULL DEFAULT 'ozeki',
    client_ref TEXT NOT NULL DEFAULT '', transport TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,
    claimed_by TEXT, lease_until REAL NOT NULL DEFAULT 0,
    request_status_report INTEGER NOT NULL DEFAULT 1, silent INTEGER NOT NULL DEFAULT 0,
    content_type TEXT NOT NULL DEFAULT 'text/plain',
    disposition_notification TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',
    in_doubt_since REAL);
CREATE INDEX IF NOT EXISTS messages_due ON messages (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS messages_owner ON messages (owner, created_at);
CREATE TABLE IF NOT EXISTS parts (
    message_id TEXT NOT NULL REFERENCES messages(id), idx INTEGER NOT NULL,
    provider_id TEXT NOT NULL DEFAULT '', reference INTEGER, status TEXT NOT NULL,
    error_code INTEGER, submitted_at REAL, updated_at REAL, PRIMARY KEY (message_id, idx));
CREATE INDEX IF NOT EXISTS parts_provider ON parts (provider_id);
CREATE INDEX IF NOT EXISTS parts_reference ON parts (reference, submitted_at);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, status TEXT NOT NULL,
    at REAL NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS events_message ON events (message_id);
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, status TEXT NOT NULL,
    url TEXT NOT NULL, method TEXT NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, created_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS callbacks_message ON callbacks (message_id, state);
CREATE TABLE IF NOT EXISTS unmatched_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, transport TEXT NOT NULL, provider_id TEXT NOT NULL,
    reference INTEGER, recipient TEXT NOT NULL, status TEXT NOT NULL, error_code INTEGER,
    error_text TEXT NOT NULL, received_at REAL NOT NULL, raw TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS unmatched_provider ON unmatched_reports (provider_id);
CREATE INDEX IF NOT EXISTS unmatched_age ON unmatched_reports (received_at);
CREATE INDEX IF NOT EXISTS unmatched_recipient ON unmatched_reports (recipient, received_at);
CREATE TABLE IF NOT EXISTS inbound_parts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, transport TEXT NOT NULL, sender TEXT NOT NULL,
    recipient TEXT NOT NULL, reference INTEGER NOT NULL, total INTEGER NOT NULL,
    sequence INTEGER NOT NULL, body TEXT NOT NULL, received_at REAL NOT NULL,
    UNIQUE (transport, sender, reference, total, sequence));
CREATE INDEX IF NOT EXISTS inbound_parts_age ON inbound_parts (received_at);
"""

# Columns added after a release: (table, column, SQLite type). Databases created before get
# them with ALTER TABLE when opened; new ones have them from SQLITE_SCHEMA.
ADDED_COLUMNS = (("messages", "in_doubt_since", "REAL"),
                 ("unmatched_reports", "text", "TEXT NOT NULL DEFAULT ''"))

_MESSAGE_COLUMNS = (
    "id, direction, sender, recipient, body, status, encoding, segments, error_code, "
    "error_message, created_at, updated_at, sent_at, delivered_at, owner, callback_url, "
    "callback_method, callback_format, client_ref, transport, attempts, request_status_report, "
    "silent, content_type, disposition_notification, source")
_SORTABLE = {"created_at", "sender", "recipient", "direction", "status", "updated_at"}


@dataclass
class MessageQuery:
    owner: str | None = None
    recipient: str | None = None
    sender: str | None = None
    status: str | None = None
    direction: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    sort: str = "created_at"
    descending: bool = False
    offset: int = 0
    limit: int = 50
    after_id: str | None = None


@dataclass(frozen=True)
class CallbackJob:
    id: int
    message_id: str
    status: str
    url: str
    method: str
    params: dict[str, str]
    attempts: int
    created_at: float


_HEX = re.compile(r"[0-9a-f]+")


def canonical_ids(raw: str) -> list[str]:
    """Every spelling an SMSC may use for one message id (Kannel's msg-id-type problem).

    Ids come hex in submit_sm_resp and decimal in the receipt, or the reverse, with leading
    zeros and either case. We store ids lower-cased without leading zeros and match a report
    against the id as given, read as hex converted to decimal, and read as decimal converted
    to hex.
    """
    value = raw.strip().lower()
    forms = [value.lstrip("0") or "0"]
    if value and len(value) <= 32 and _HEX.fullmatch(value):
        forms.append(str(int(value, 16)))
    if value.isdigit() and len(value) <= 38:
        forms.append(format(int(value), "x"))
    return list(dict.fromkeys(forms))


# How far back a modem status report (TP-MR + recipient) may match a part: TP-MR wraps at
# 255, so only recent parts are candidates; the newest one wins. Unmatched reports older
# than this are dropped.
_MODEM_WINDOW = 3 * 86400.0
REPORT_MATCH_WINDOW = _MODEM_WINDOW
# An unmatched report younger than this may be the early receipt of a send whose result is
# being committed right now; only older ones may be adopted for an interrupted send.
EARLY_REPORT_GRACE = 1.0
# The parts of one concatenated inbound message (inbound_parts).
_PART_SET = "transport = ? AND sender = ? AND reference = ? AND total = ?"


def _spellings(number: str) -> tuple[str, str]:
    """A number with and without its "+": reports give either (an SMPP source_addr with
    TON international or not). Compared with IN, not LTRIM(), so an index can serve."""
    digits = number.lstrip("+")
    return digits, "+" + digits


def _no_callback(message: Message, status: Status) -> None:
    return None


def _ts(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


def _epoch(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


class Store(Protocol):
    """What the service, the dispatcher and the callback worker need from storage.

    Implemented by :class:`SqliteStore` and ``store_postgres.PostgresStore``; the contract
    tests in ``tests/unit/sms/test_store.py`` run on both.
    """

    def close(self) -> None: ...
    def insert(self, message: Message) -> None: ...
    def get(self, message_id: str) -> Message | None: ...
    def query(self, q: MessageQuery) -> tuple[list[Message], int]: ...
    def events(self, message_id: str) -> list[tuple[dt.datetime | None, str, str]]: ...
    def claim_due(self, worker: str, lease_seconds: float, limit: int = 1,
                  exclude: Sequence[str] = (), hook: ChangeHook | None = None,
                  look_first: bool = True) -> list[Message]: ...
    def hold_interrupted(self, hold: float) -> int: ...
    def next_due_in(self) -> float | None: ...
    def mark_sent(self, message_id: str, transport: str, provider_ids: list[str],
                  references: list[int | None], hook: ChangeHook) -> list[DeliveryReport]: ...
    def mark_retry(self, message_id: str, delay: float, error: str) -> None: ...
    def hold_in_doubt(self, message_id: str, hold: float, error: str) -> None: ...
    def release(self, message_id: str, delay: float = 0.0, reason: str = "") -> None: ...
    def mark_failed(self, message_id: str, error_code: int, error: str,
                    hook: ChangeHook) -> None: ...
    def apply_report(self, report: DeliveryReport, hook: ChangeHook,
                     modem_window: float = ...) -> Message | None: ...
    def insert_inbound(self, message: Message, provider_id: str = "") -> bool: ...
    def insert_inbound_part(self, message: Message, reference: int, total: int,
                            sequence: int) -> Message | None: ...
    def flush_inbound_parts(self, before: float,
                            new_id: Callable[[], str]) -> list[Message]: ...
    def expire_unmatched_reports(self, before: float) -> int: ...
    def renew_leases(self, worker: str, message_ids: Sequence[str],
                     lease_seconds: float) -> None: ...
    def callbacks_due(self, limit: int = 20) -> list[CallbackJob]: ...
    def next_callback_in(self) -> float | None: ...
    def callback_done(self, job_id: int, state: str = "done", error: str = "") -> None: ...
    def callback_retry(self, job_id: int, delay: float, error: str) -> None: ...
    def callbacks_defer(self, job_ids: Sequence[int], delay: float, reason: str) -> None: ...
    def callback_states(self, message_id: str) -> list[tuple[str, str, int]]: ...
    def callback_history(self, message_id: str) -> list[tuple[str, str, int, str]]: ...
    def depths(self) -> dict[str, int]: ...


class SqliteStore:
    """The embedded store: one SQLite file in WAL mode, ``synchronous=FULL``.

    Writes go through one connection under a lock, with group commit (see :meth:`_tx`);
    reads use a second connection, so they never wait for a commit's fsync and never see an
    operation that is not yet durable.
    """

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._now = clock
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._commits = threading.Condition()
        self._batch = 0              # the transaction that new operations join
        self._durable = -1           # the newest batch whose COMMIT has returned
        self._committing = False
        self._failed: dict[int, str] = {}   # batch -> why its COMMIT failed
        self._nesting = threading.local()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SQLITE_SCHEMA)
            self._add_columns(self._db)
            self._reader = sqlite3.connect(self.path, check_same_thread=False,
                                           isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the message store {self.path}: {exc}") from None

    @staticmethod
    def _add_columns(db: sqlite3.Connection) -> None:
        """Bring a database made by an older release up to :data:`ADDED_COLUMNS`."""
        for table, column, kind in ADDED_COLUMNS:
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                log.info("message store: added column %s.%s", table, column)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A connection that sees committed data only."""
        with self._read_lock:
            yield self._reader

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic operation, durable (committed and fsynced) when the block exits.

        Group commit: operations from concurrent threads join one open transaction, each in
        its own SAVEPOINT (a failing operation undoes only itself), and the first of them to
        finish commits for all. Under load one fsync covers many API requests, dispatcher
        claims and delivery reports instead of one each, and nobody acts on an operation
        before it is durable, because nobody returns before then.
        """
        if getattr(self._nesting, "active", False):
            yield self._db          # inside another operation of this thread: part of it
            return
        with self._lock:
            self._nesting.active = True
            try:
                if not self._db.in_transaction:
                    self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("SAVEPOINT operation")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK TO operation")
                        self._db.execute("RELEASE operation")
                    else:           # SQLite rolled the whole transaction back (I/O error)
                        self._fail_open_batch("the transaction was rolled back")
                    raise
                self._db.execute("RELEASE operation")
                batch = self._batch
            finally:
                self._nesting.active = False
        self._wait_durable(batch)

    def _fail_open_batch(self, why: str) -> None:
        with self._commits:
            self._failed[self._batch] = why
            self._batch += 1
            self._commits.notify_all()

    def _wait_durable(self, batch: int) -> None:
        with self._commits:
            while self._durable < batch and batch not in self._failed:
                if not self._committing:
                    self._committing = True
                    break
                self._commits.wait()
            else:
                if batch in self._failed:
                    raise StoreError(f"the message store could not commit: "
                                     f"{self._failed[batch]}")
                return
        error = ""
        with self._lock:
            committing = self._batch
            try:
                if self._db.in_transaction:
                    self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                error = str(exc)
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            finally:
                with self._commits:
                    self._batch = committing + 1
                    if error:
                        self._failed[committing] = error
                        for old in [b for b in self._failed if b < committing - 1000]:
                            del self._failed[old]
                    else:
                        self._durable = committing
                    self._committing = False
                    self._commits.notify_all()
        if error or batch in self._failed:
            raise StoreError(f"the message store could not commit: "
                             f"{error or self._failed[batch]}")

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._db.close()
            self._reader.close()

    # -- messages ------------------------------------------------------------------------
    def insert(self, message: Message) -> None:
        now = self._now()
        row = self._row(message)
        try:
            with self._tx() as db:
                db.execute(f"INSERT INTO messages ({_MESSAGE_COLUMNS}, next_attempt_at) "
                           f"VALUES ({','.join('?' * 27)})", (*row, now))
                db.executemany("INSERT INTO parts (message_id, idx, status) VALUES (?,?,?)",
                               [(message.id, p.index, p.status.value) for p in message.parts])
                db.execute("INSERT INTO events (message_id, status, at) VALUES (?,?,?)",
                           (message.id, message.status.value, now))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot store message {message.id}: {exc}") from None

    @staticmethod
    def _row(m: Message) -> tuple[object, ...]:
        created = _epoch(m.created_at) or 0.0
        return (m.id, m.direction.value, m.sender, m.recipient, m.body, m.status.value,
                m.encoding, m.segments, m.error_code, m.error_message, created,
                _epoch(m.updated_at) or created, _epoch(m.sent_at), _epoch(m.delivered_at),
                m.owner, m.callback_url, m.callback_method, m.callback_format, m.client_ref,
                m.transport, m.attempts, int(m.request_status_report), int(m.silent),
                m.content_type, m.disposition_notification, m.source)

    def get(self, message_id: str) -> Message | None:
        with self._read() as db:
            return self._message_in(db, message_id)

    @staticmethod
    def _message(row: Any, db: Any) -> Message:
        (mid, direction, sender, recipient, body, status, encoding, segments, error_code,
         error_message, created, updated, sent, delivered, owner, cb_url, cb_method, cb_format,
         client_ref, transport, attempts, srr, silent, content_type, disposition,
         source) = row
        parts = [Part(index=int(idx), provider_id=str(pid), reference=ref,
                      status=Status(pstatus), error_code=perr,
                      submitted_at=_ts(sub), updated_at=_ts(upd))
                 for idx, pid, ref, pstatus, perr, sub, upd in db.execute(
                     "SELECT idx, provider_id, reference, status, error_code, submitted_at, "
                     "updated_at FROM parts WHERE message_id = ? ORDER BY idx", (mid,))]
        return Message(
            id=str(mid), direction=Direction(direction), sender=str(sender),
            recipient=str(recipient), body=str(body), status=Status(status),
            encoding=str(encoding), segments=int(segments),
            error_code=error_code,
            error_message=str(error_message), created_at=_ts(created),
            updated_at=_ts(updated), sent_at=_ts(sent),
            delivered_at=_ts(delivered), owner=str(owner),
            callback_url=str(cb_url), callback_method=str(cb_method),
            callback_format=str(cb_format), client_ref=str(client_ref),
            transport=str(transport), attempts=int(attempts),
            request_status_report=bool(srr), silent=bool(silent),
            content_type=str(content_type), disposition_notification=str(disposition),
            source=str(source), parts=parts)

    def query(self, q: MessageQuery) -> tuple[list[Message], int]:
        where: list[str] = ["1=1"]
        args: list[object] = []
        for column, value in (("owner", q.owner), ("recipient", q.recipient),
                              ("sender", q.sender), ("status", q.status),
                              ("direction", q.direction)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if q.created_from is not None:
            where.append("created_at >= ?")
            args.append(q.created_from.timestamp())
        if q.created_to is not None:
            where.append("created_at <= ?")
            args.append(q.created_to.timestamp())
        sort = q.sort if q.sort in _SORTABLE else "created_at"
        order = "DESC" if q.descending else "ASC"
        with self._read() as db:
            total = db.execute(f"SELECT COUNT(*) FROM messages WHERE {' AND '.join(where)}",
                               args).fetchone()[0]
            if q.after_id:
                anchor = db.execute(f"SELECT {sort}, rowid FROM messages WHERE id = ?",
                                    (q.after_id,)).fetchone()
                if anchor is not None:
                    op = "<" if q.descending else ">"
                    where.append(f"({sort}, rowid) {op} (?, ?)")
                    args.extend(anchor)
            rows = db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} "
                f"ORDER BY {sort} {order}, rowid {order} LIMIT ? OFFSET ?",
                [*args, max(0, q.limit), max(0, q.offset)]).fetchall()
            return [self._message(row, db) for row in rows], int(total)

    def events(self, message_id: str) -> list[tuple[dt.datetime | None, str, str]]:
        with self._read() as db:
            return [(_ts(at), str(status), str(detail))
                    for at, status, detail in db.execute(
                        "SELECT at, status, detail FROM events WHERE message_id = ? ORDER BY id",
                        (message_id,))]

    # -- dispatch ------------------------------------------------------------------------
    def claim_due(self, worker: str, lease_seconds: float, limit: int = 1,
                  exclude: Sequence[str] = (), hook: ChangeHook | None = None,
                  look_first: bool = True) -> list[Message]:
        """Queued messages that are due, marked SENDING and leased to ``worker``.

        ``exclude`` names transports that are saturated right now (window full, rate limit
        reached): their messages stay queued, so a slow modem never ties up the workers
        that could serve an SMPP link (no head-of-line blocking across transports).

        A message whose earlier send was interrupted (see :meth:`hold_interrupted`) is
        first checked against the reports that arrived since: if they account for every
        part it is adopted as sent with their ids (``hook`` queues its callbacks) and
        returned in its new status (SENT or final), which tells the caller not to send it;
        otherwise it is sent again and its history says it may be a duplicate.

        ``look_first``: check on the read connection whether anything is due before taking
        the write lock; a worker whose last claim found work skips it (there is usually
        more, and the check would only add a query).
        """
        now = self._now()
        skip = ""
        if exclude:
            skip = f" AND transport NOT IN ({','.join('?' * len(exclude))})"
        due = f"status = 'queued' AND next_attempt_at <= ?{skip}"
        if look_first:
            with self._read() as db:
                # Most claims of idle workers find nothing: find that out without taking
                # the write lock and a commit (a message becomes visible here once it is
                # durable, and whoever made it due wakes the dispatcher after that).
                if db.execute(f"SELECT 1 FROM messages WHERE {due} LIMIT 1",
                              (now, *exclude)).fetchone() is None:
                    return []
        with self._tx() as db:
            rows = db.execute(
                f"SELECT id, in_doubt_since FROM messages WHERE ({due}) "
                "ORDER BY next_attempt_at LIMIT ?", (now, *exclude, limit)).fetchall()
            ids: list[str] = []
            for mid, in_doubt_since in rows:
                db.execute("UPDATE messages SET status = 'sending', claimed_by = ?, "
                           "lease_until = ?, attempts = attempts + 1, updated_at = ? "
                           "WHERE id = ?", (worker, now + lease_seconds, now, mid))
                detail = f"claimed by {worker}"
                ids.append(mid)
                if in_doubt_since is not None:
                    if self._adopt_reports(db, mid, in_doubt_since, now, hook):
                        continue
                    detail += (": no report accounts for the interrupted send, so it is sent "
                               "again; the peer may already have it (possible duplicate)")
                    log.warning("[sms %s] %s", mid, detail)
                db.execute("INSERT INTO events (message_id, status, at, detail) "
                           "VALUES (?,?,?,?)", (mid, "sending", now, detail))
            return [m for m in (self._message_in(db, mid) for mid in ids) if m is not None]

    def hold_interrupted(self, hold: float) -> int:
        """Requeue the messages of workers that died mid-send (their lease ran out), each
        ``hold`` seconds out, and remember when the interrupted send began.

        Whether the peer got such a message is unknown. Sending it at once would duplicate
        every one it did get; instead the peer gets ``hold`` seconds to report it (an SMSC
        re-sends unacknowledged receipts to the next bind), and :meth:`claim_due` adopts
        the message if those reports account for it.
        """
        now = self._now()
        held = 0
        with self._tx() as db:
            rows = db.execute("SELECT id, claimed_by, updated_at FROM messages "
                              "WHERE status = 'sending' AND lease_until < ?", (now,)).fetchall()
            for mid, previous, claimed_at in rows:
                changed = db.execute(
                    "UPDATE messages SET status = 'queued', claimed_by = NULL, lease_until = 0, "
                    "next_attempt_at = ?, updated_at = ?, in_doubt_since = "
                    "COALESCE(in_doubt_since, ?) WHERE id = ? AND status = 'sending' AND "
                    "lease_until < ?", (now + hold, now, claimed_at, mid, now)).rowcount
                if not changed:
                    continue            # another process got there first
                detail = (f"send by {previous} interrupted (its lease ran out): the peer may "
                          f"already have it, so it waits {hold:.0f} s for the peer's report "
                          "before it is sent again")
                db.execute("INSERT INTO events (message_id, status, at, detail) "
                           "VALUES (?,?,?,?)", (mid, "queued", now, detail))
                log.warning("[sms %s] %s", mid, detail)
                held += 1
        return held

    def _adopt_reports(self, db: Any, message_id: str, since: float, now: float,
                       hook: ChangeHook | None) -> bool:
        """Mark an interrupted message sent with the ids of the unmatched reports that
        account for it (reconcile.py), in the caller's transaction; False if they do not."""
        recipient, body, encoding, transport, segments = db.execute(
            "SELECT recipient, body, encoding, transport, segments FROM messages WHERE id = ?",
            (message_id,)).fetchone()
        # Reports younger than this may still be the early reports of a send in progress,
        # about to be taken by its own mark_sent: never adopt another message's report.
        settled = now - EARLY_REPORT_GRACE
        rows = db.execute(
            "SELECT transport, provider_id, reference, text FROM unmatched_reports "
            "WHERE recipient IN (?, ?) AND received_at >= ? AND received_at <= ? ORDER BY id",
            (*_spellings(recipient), since, settled)).fetchall()
        if not rows:
            return False
        try:
            texts = split_message(str(body), str(encoding)).parts
        except ValueError:
            return False
        if len(texts) != segments:      # not split the way we split text: cannot tell parts
            return False
        candidates = [Candidate(str(t), str(pid), ref, str(text or ""))
                      for t, pid, ref, text in rows if pid or ref is not None]
        adoption = assign_parts(texts, candidates, str(transport))
        if adoption is None:
            return False
        db.execute("INSERT INTO events (message_id, status, at, detail) VALUES (?,?,?,?)",
                   (message_id, "sending", now, "the peer reported the interrupted send "
                    f"({', '.join(p.key for p in adoption.parts)}): adopted as sent, not "
                    "sent again"))
        log.info("[sms %s] interrupted send found at %s by its report(s): not sent again",
                 message_id, adoption.transport)
        self.mark_sent(message_id, adoption.transport,
                       [p.provider_id for p in adoption.parts],
                       [p.reference for p in adoption.parts], hook or _no_callback)
        return True

    def _message_in(self, db: Any, message_id: str) -> Message | None:
        row = db.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?",
                         (message_id,)).fetchone()
        return None if row is None else self._message(row, db)

    def _serialize_matching(self, db: Any, transport: str) -> None:
        """Make matching work on one transport one transaction at a time.

        A report and the submit result it belongs to (or two parts of one inbound
        message) written by concurrent transactions would not see each other's rows and
        neither would match. SQLite has one writer, so nothing to do; PostgreSQL takes a
        transaction-level advisory lock (several connections, several processes).
        """
    def next_due_in(self) -> float | None:
        """Seconds until the next queued message is due (None when nothing waits)."""
        with self._read() as db:
            row = db.execute(
                "SELECT MIN(next_attempt_at) FROM messages WHERE status = 'queued'").fetchone()
        return None if row[0] is None else max(0.0, row[0] - self._now())

    def mark_sent(self, message_id: str, transport: str, provider_ids: list[str],
                  references: list[int | None], hook: ChangeHook,
                  ) -> list[DeliveryReport]:
        """Record the peer's acceptance; returns reports that had arrived before it."""
        now = self._now()
        with self._tx() as db:
            self._serialize_matching(db, transport)
            for idx in range(max(len(provider_ids), len(references))):
                pid = canonical_ids(provider_ids[idx])[0] if idx < len(provider_ids) and \
                    provider_ids[idx] else ""
                ref = references[idx] if idx < len(references) else None
                db.execute("UPDATE parts SET provider_id = ?, reference = ?, status = 'sent', "
                           "submitted_at = ?, updated_at = ? WHERE message_id = ? AND idx = ?",
                           (pid, ref, now, now, message_id, idx))
            db.execute("UPDATE parts SET status = 'sent', submitted_at = ?, updated_at = ? "
                       "WHERE message_id = ? AND status = 'queued'", (now, now, message_id))
            db.execute("UPDATE messages SET status = 'sent', transport = ?, sent_at = ?, "
                       "updated_at = ?, claimed_by = NULL, lease_until = 0, "
                       "in_doubt_since = NULL WHERE id = ? AND status = 'sending'",
                       (transport, now, now, message_id))
            self._changed(db, message_id, Status.SENT, now, f"accepted by {transport}", hook)
            # Reports that arrived before this commit (fast SMSC, synchronous loopback) are
            # applied in this same transaction: deleting them here and applying them later
            # would lose them to a crash in between.
            early: list[DeliveryReport] = []
            for idx in range(max(len(provider_ids), len(references))):
                pid = provider_ids[idx] if idx < len(provider_ids) else ""
                ref = references[idx] if idx < len(references) else None
                early.extend(self._take_unmatched(db, message_id, transport, pid, ref))
            for report in early:
                self._apply_locked(db, report, hook, now, now - _MODEM_WINDOW)
            return early

    def _take_unmatched(self, db: Any, message_id: str, transport: str, provider_id: str,
                        reference: int | None) -> list[DeliveryReport]:
        """Remove and return the stored early reports for one part."""
        rows: list[Any] = []
        if provider_id:
            forms = canonical_ids(provider_id)
            marks = ",".join("?" * len(forms))
            rows = db.execute(
                f"SELECT id, transport, provider_id, reference, recipient, status, error_code, "
                f"error_text, received_at, raw, text FROM unmatched_reports WHERE "
                f"transport = ? AND provider_id IN ({marks}) ORDER BY id",
                (transport, *forms)).fetchall()
        elif reference is not None:
            recipient = db.execute("SELECT recipient FROM messages WHERE id = ?",
                                   (message_id,)).fetchone()[0]
            rows = db.execute(
                "SELECT id, transport, provider_id, reference, recipient, status, error_code, "
                "error_text, received_at, raw, text FROM unmatched_reports WHERE "
                "transport = ? AND reference = ? AND recipient IN (?, ?) ORDER BY id",
                (transport, reference, *_spellings(recipient))).fetchall()
        for row in rows:
            db.execute("DELETE FROM unmatched_reports WHERE id = ?", (row[0],))
        return [DeliveryReport(transport=row[1], provider_id=row[2], reference=row[3],
                               recipient=row[4], status=Status(row[5]), error_code=row[6],
                               error_text=row[7], done_at=_ts(row[8]), raw=row[9],
                               text=row[10])
                for row in rows]

    def mark_retry(self, message_id: str, delay: float, error: str) -> None:
        now = self._now()
        with self._tx() as db:
            db.execute("UPDATE messages SET status = 'queued', next_attempt_at = ?, "
                       "claimed_by = NULL, lease_until = 0, updated_at = ?, error_message = ? "
                       "WHERE id = ?", (now + delay, now, error, message_id))
            db.execute("INSERT INTO events (message_id, status, at, detail) VALUES (?,?,?,?)",
                       (message_id, "queued", now, f"retry in {delay:.1f} s: {error}"))

    def hold_in_doubt(self, message_id: str, hold: float, error: str) -> None:
        """Requeue a send whose outcome is unknown ``hold`` seconds out, remembering when it
        began, exactly as :meth:`hold_interrupted` does for a dead worker's claim: the
        peer's report then gets the chance to be adopted before anything is resent."""
        now = self._now()
        with self._tx() as db:
            changed = db.execute(
                "UPDATE messages SET status = 'queued', claimed_by = NULL, lease_until = 0, "
                "next_attempt_at = ?, in_doubt_since = COALESCE(in_doubt_since, updated_at), "
                "updated_at = ?, error_message = ? WHERE id = ? AND status = 'sending'",
                (now + hold, now, error, message_id)).rowcount
            if changed:
                db.execute("INSERT INTO events (message_id, status, at, detail) "
                           "VALUES (?,?,?,?)", (message_id, "queued", now,
                                                f"outcome unknown ({error}): waits {hold:.0f} s "
                                                "for the peer's report before it is sent again"))

    def release(self, message_id: str, delay: float = 0.0, reason: str = "") -> None:
        """Give a claimed message back without counting an attempt (graceful shutdown, or
        a transport that is not ready: a modem re-initialising must not use up retries)."""
        now = self._now()
        with self._tx() as db:
            db.execute("UPDATE messages SET status = 'queued', claimed_by = NULL, "
                       "lease_until = 0, attempts = MAX(attempts - 1, 0), next_attempt_at = ? "
                       "WHERE id = ? AND status = 'sending'", (now + delay, message_id))
            if reason:
                db.execute("INSERT INTO events (message_id, status, at, detail) "
                           "VALUES (?,?,?,?)", (message_id, "queued", now,
                                                f"released for {delay:.1f} s: {reason}"))

    def mark_failed(self, message_id: str, error_code: int, error: str,
                    hook: ChangeHook) -> None:
        now = self._now()
        with self._tx() as db:
            db.execute("UPDATE parts SET status = 'failed', error_code = ?, updated_at = ? "
                       "WHERE message_id = ? AND status IN ('queued', 'sending', 'sent')",
                       (error_code, now, message_id))
            db.execute("UPDATE messages SET status = 'failed', error_code = ?, "
                       "error_message = ?, updated_at = ?, claimed_by = NULL, lease_until = 0 "
                       "WHERE id = ?", (error_code, error, now, message_id))
            self._changed(db, message_id, Status.FAILED, now, error, hook)

    # -- delivery reports ----------------------------------------------------------------
    def apply_report(self, report: DeliveryReport, hook: ChangeHook,
                     modem_window: float = _MODEM_WINDOW) -> Message | None:
        """Match ``report`` to a part and update the message; None if unmatched (kept)."""
        now = self._now()
        with self._tx() as db:
            self._serialize_matching(db, report.transport)
            message_id = self._apply_locked(db, report, hook, now, now - modem_window)
            return None if message_id is None else self._message_in(db, message_id)

    def _apply_locked(self, db: Any, report: DeliveryReport, hook: ChangeHook, now: float,
                      since: float) -> str | None:
        part = self._match(db, report, since)
        if part is None:
            # Kept until matched or older than the matching window (Jasmin keeps 86400 s,
            # gammu pairs within 600 s); expire_unmatched_reports() drops the old ones.
            db.execute("INSERT INTO unmatched_reports (transport, provider_id, reference, "
                       "recipient, status, error_code, error_text, received_at, raw, text) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (report.transport, canonical_ids(report.provider_id)[0]
                        if report.provider_id else "", report.reference, report.recipient,
                        report.status.value, report.error_code, report.error_text, now,
                        report.raw, report.text))
            return None
        message_id, idx = part
        previous = Status(db.execute("SELECT status FROM parts WHERE message_id = ? AND idx = ?",
                                     (message_id, idx)).fetchone()[0])
        if previous in FINAL_STATUSES:
            # A repeated receipt (SMSC retransmission) must not flip a final part.
            db.execute("INSERT INTO events (message_id, status, at, detail) VALUES (?,?,?,?)",
                       (message_id, report.status.value, now,
                        f"part {idx + 1}: repeated report ignored (already {previous.value})"))
            return message_id
        # HTTP providers give one id for the whole message, stored on every part: the report
        # then covers each part with that id (SMPP/modem parts have their own ids/references).
        db.execute("UPDATE parts SET status = ?, error_code = ?, updated_at = ? "
                   "WHERE message_id = ? AND (idx = ? OR (provider_id != '' AND provider_id = "
                   "(SELECT provider_id FROM parts WHERE message_id = ? AND idx = ?)))",
                   (report.status.value, report.error_code, now, message_id, idx, message_id,
                    idx))
        statuses = [Status(r[0]) for r in db.execute(
            "SELECT status FROM parts WHERE message_id = ?", (message_id,))]
        current = Status(db.execute("SELECT status FROM messages WHERE id = ?",
                                    (message_id,)).fetchone()[0])
        new = _aggregate(statuses)
        if new != current and current not in FINAL_STATUSES and new in FINAL_STATUSES:
            delivered_at = None
            if new == Status.DELIVERED:
                # The SMSC's "done date" has one-minute resolution and the SMSC's clock; when
                # it lands before our own send time, the time the report arrived is truer.
                sent_at = db.execute("SELECT sent_at FROM messages WHERE id = ?",
                                     (message_id,)).fetchone()[0]
                done = report.done_at.timestamp() if report.done_at else now
                delivered_at = done if sent_at is None or done >= sent_at else now
            error_code = None if new == Status.DELIVERED else (report.error_code or 30008)
            db.execute("UPDATE messages SET status = ?, updated_at = ?, error_code = "
                       "COALESCE(?, error_code), delivered_at = COALESCE(?, delivered_at), "
                       "claimed_by = NULL, lease_until = 0 WHERE id = ?",
                       (new.value, now, error_code, delivered_at, message_id))
            self._changed(db, message_id, new, now, report.error_text or report.raw[:200], hook)
        return message_id

    def _match(self, db: sqlite3.Connection, report: DeliveryReport,
               since: float) -> tuple[str, int] | None:
        if report.provider_id:
            forms = canonical_ids(report.provider_id)
            row = db.execute(
                f"SELECT p.message_id, p.idx FROM parts p JOIN messages m ON m.id = p.message_id "
                f"WHERE p.provider_id IN ({','.join('?' * len(forms))}) AND m.transport = ? "
                f"ORDER BY p.submitted_at DESC LIMIT 1", (*forms, report.transport)).fetchone()
            if row is not None:
                return str(row[0]), int(row[1])
        if report.reference is not None:
            # Modem TP-MR wraps at 255: the newest unfinished part to this recipient wins.
            row = db.execute(
                "SELECT p.message_id, p.idx FROM parts p JOIN messages m ON m.id = p.message_id "
                "WHERE p.reference = ? AND m.transport = ? "
                "AND LTRIM(m.recipient, '+') = LTRIM(?, '+') "
                "AND p.submitted_at >= ? AND p.status = 'sent' "
                "ORDER BY p.submitted_at DESC LIMIT 1",
                (report.reference, report.transport, report.recipient, since)).fetchone()
            if row is not None:
                return str(row[0]), int(row[1])
        return None

    def _changed(self, db: sqlite3.Connection, message_id: str, status: Status, now: float,
                 detail: str, hook: ChangeHook) -> None:
        db.execute("INSERT INTO events (message_id, status, at, detail) VALUES (?,?,?,?)",
                   (message_id, status.value, now, detail))
        row = db.execute("SELECT callback_url FROM messages WHERE id = ?",
                         (message_id,)).fetchone()
        if row is None or not row[0]:
            return
        message = self._message_in(db, message_id)
        callback = hook(message, status) if message is not None else None
        if callback is not None:
            url, method, params = callback
            db.execute("INSERT INTO callbacks (message_id, status, url, method, params, state, "
                       "next_attempt_at, created_at) VALUES (?,?,?,?,?, 'pending', ?, ?)",
                       (message_id, status.value, url, method, json.dumps(params), now, now))

    # -- inbound -------------------------------------------------------------------------
    def insert_inbound(self, message: Message, provider_id: str = "") -> bool:
        """Store a received message; ``False`` (nothing stored) for a repeat of one already
        stored with the same transport and provider id — a modem re-delivers +CMT when our
        +CNMA was late, an SMSC re-sends deliver_sm after a lost deliver_sm_resp (§7 #7)."""
        key = canonical_ids(provider_id)[0] if provider_id else ""
        try:
            with self._tx() as db:
                self._serialize_matching(db, message.transport)
                if key:
                    seen = db.execute(
                        "SELECT m.id FROM parts p JOIN messages m ON m.id = p.message_id "
                        "WHERE m.direction = 'inbound' AND m.transport = ? AND "
                        "p.provider_id = ?", (message.transport, key)).fetchone()
                    if seen is not None:
                        return False
                self._insert_inbound_locked(db, message, key,
                                            f"received via {message.transport}")
        except Exception as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot store inbound message {message.id}: {exc}") from None
        return True

    def _insert_inbound_locked(self, db: Any, message: Message, provider_id: str,
                               detail: str) -> None:
        now = self._now()
        db.execute(f"INSERT INTO messages ({_MESSAGE_COLUMNS}, next_attempt_at) "
                   f"VALUES ({','.join('?' * 27)})", (*self._row(message), now))
        db.execute("INSERT INTO parts (message_id, idx, provider_id, status, "
                   "submitted_at, updated_at) VALUES (?, 0, ?, ?, ?, ?)",
                   (message.id, provider_id, message.status.value, now, now))
        db.execute("INSERT INTO events (message_id, status, at, detail) "
                   "VALUES (?,?,?,?)", (message.id, message.status.value, now, detail))

    def insert_inbound_part(self, message: Message, reference: int, total: int,
                            sequence: int) -> Message | None:
        """Keep one part of a concatenated inbound message, durably (the peer was already
        told we have it). The part that completes the set turns them into one stored
        message, in the same transaction, and gets it back; a repeated part changes
        nothing."""
        now = self._now()
        key = (message.transport, message.sender, reference, total)
        try:
            with self._tx() as db:
                self._serialize_matching(db, message.transport)
                if db.execute(f"SELECT 1 FROM inbound_parts WHERE {_PART_SET} AND sequence = ?",
                              (*key, sequence)).fetchone() is None:
                    db.execute("INSERT INTO inbound_parts (transport, sender, recipient, "
                               "reference, total, sequence, body, received_at) "
                               "VALUES (?,?,?,?,?,?,?,?)",
                               (message.transport, message.sender, message.recipient,
                                reference, total, sequence, message.body, now))
                rows = db.execute(f"SELECT sequence, body, received_at FROM inbound_parts "
                                  f"WHERE {_PART_SET} ORDER BY sequence", key).fetchall()
                if len(rows) < total:
                    return None
                db.execute(f"DELETE FROM inbound_parts WHERE {_PART_SET}", key)
                whole = replace(message, body="".join(r[1] for r in rows), segments=total,
                                created_at=_ts(rows[0][2]), updated_at=_ts(now))
                self._insert_inbound_locked(db, whole, "", f"received via {message.transport}"
                                            f" in {total} parts (reference {reference})")
                return whole
        except Exception as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot store part {sequence}/{total} of an inbound message "
                             f"from {message.sender}: {exc}") from None

    def flush_inbound_parts(self, before: float,
                            new_id: Callable[[], str]) -> list[Message]:
        """Sets still incomplete after the timeout become messages with the parts that did
        arrive, so one lost part never holds the rest back for ever (as on the modem
        path); the message's event names the missing parts."""
        flushed: list[Message] = []
        with self._tx() as db:
            stale = db.execute("SELECT DISTINCT transport, sender, reference, total "
                               "FROM inbound_parts WHERE received_at < ?", (before,)).fetchall()
            for transport, sender, reference, total in stale:
                key = (transport, sender, reference, total)
                rows = db.execute(f"SELECT sequence, body, received_at, recipient FROM "
                                  f"inbound_parts WHERE {_PART_SET} ORDER BY sequence",
                                  key).fetchall()
                db.execute(f"DELETE FROM inbound_parts WHERE {_PART_SET}", key)
                missing = sorted(set(range(1, total + 1)) - {r[0] for r in rows})
                when = _ts(rows[0][2])
                message = Message(id=new_id(), direction=Direction.INBOUND, sender=sender,
                                  recipient=rows[0][3], body="".join(r[1] for r in rows),
                                  status=Status.RECEIVED, segments=total, created_at=when,
                                  updated_at=when, transport=transport,
                                  source=f"transport:{transport}")
                self._insert_inbound_locked(
                    db, message, "", f"received via {transport} INCOMPLETE: part(s) "
                    f"{', '.join(map(str, missing))} of {total} never arrived "
                    f"(reference {reference})")
                flushed.append(message)
        return flushed

    # -- housekeeping --------------------------------------------------------------------
    def expire_unmatched_reports(self, before: float) -> int:
        """Drop reports that nothing matched within the window (Jasmin keeps 86400 s)."""
        with self._tx() as db:
            return int(db.execute("DELETE FROM unmatched_reports WHERE received_at < ?",
                                  (before,)).rowcount)

    def renew_leases(self, worker: str, message_ids: Sequence[str],
                     lease_seconds: float) -> None:
        """Keep claims alive while their sends still run (a modem sending ten parts, an
        SMSC throttling us): an expired lease would let another worker send the same
        message again."""
        if not message_ids:
            return
        with self._tx() as db:
            db.execute(f"UPDATE messages SET lease_until = ? WHERE status = 'sending' AND "
                       f"claimed_by = ? AND id IN ({','.join('?' * len(message_ids))})",
                       (self._now() + lease_seconds, worker, *message_ids))

    # -- callbacks -----------------------------------------------------------------------
    def callbacks_due(self, limit: int = 20) -> list[CallbackJob]:
        """Due jobs, each the oldest pending one of its message: an application hears
        "sent" before "delivered" even when "sent" needed retries."""
        now = self._now()
        with self._read() as db:
            rows = db.execute(
                "SELECT id, message_id, status, url, method, params, attempts, created_at "
                "FROM callbacks c WHERE state = 'pending' AND next_attempt_at <= ? "
                "AND NOT EXISTS (SELECT 1 FROM callbacks e WHERE e.message_id = c.message_id "
                "AND e.state = 'pending' AND e.id < c.id) "
                "ORDER BY next_attempt_at, id LIMIT ?", (now, limit)).fetchall()
        return [CallbackJob(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])
                for r in rows]

    def next_callback_in(self) -> float | None:
        with self._read() as db:
            row = db.execute("SELECT MIN(next_attempt_at) FROM callbacks "
                                   "WHERE state = 'pending'").fetchone()
        return None if row[0] is None else max(0.0, row[0] - self._now())

    def callback_done(self, job_id: int, state: str = "done", error: str = "") -> None:
        with self._tx() as db:
            db.execute("UPDATE callbacks SET state = ?, attempts = attempts + 1, "
                       "last_error = ? WHERE id = ?", (state, error, job_id))

    def callback_retry(self, job_id: int, delay: float, error: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE callbacks SET attempts = attempts + 1, next_attempt_at = ?, "
                       "last_error = ? WHERE id = ?", (self._now() + delay, error, job_id))

    def callbacks_defer(self, job_ids: Sequence[int], delay: float, reason: str) -> None:
        """Move due jobs later without an attempt (their receiver is known to be down), all
        in one statement: cheap, and it keeps them from blocking other receivers' jobs."""
        if not job_ids:
            return
        with self._tx() as db:
            db.execute(f"UPDATE callbacks SET next_attempt_at = ?, last_error = ? WHERE "
                       f"state = 'pending' AND id IN ({','.join('?' * len(job_ids))})",
                       (self._now() + delay, reason, *job_ids))

    def callback_states(self, message_id: str) -> list[tuple[str, str, int]]:
        with self._read() as db:
            return [(str(s), str(state), int(n)) for s, state, n in db.execute(
                "SELECT status, state, attempts FROM callbacks WHERE message_id = ? ORDER BY id",
                (message_id,))]

    def callback_history(self, message_id: str) -> list[tuple[str, str, int, str]]:
        """(status reported, state, attempts, last attempt's result) per callback job."""
        with self._read() as db:
            return [(str(s), str(state), int(n), str(error)) for s, state, n, error in
                    db.execute("SELECT status, state, attempts, last_error FROM callbacks "
                               "WHERE message_id = ? ORDER BY id", (message_id,))]

    def depths(self) -> dict[str, int]:
        """Queue depths for /metrics: messages waiting or being sent, callbacks pending."""
        with self._read() as db:
            queued, sending = db.execute(
                "SELECT COUNT(*) FILTER (WHERE status = 'queued'), "
                "COUNT(*) FILTER (WHERE status = 'sending') FROM messages "
                "WHERE status IN ('queued', 'sending')").fetchone()
            pending = db.execute("SELECT COUNT(*) FROM callbacks "
                                 "WHERE state = 'pending'").fetchone()[0]
        return {"ivr_store_queued_messages": int(queued or 0),
                "ivr_store_sending_messages": int(sending or 0),
                "ivr_callbacks_pending": int(pending or 0)}


def _aggregate(parts: list[Status]) -> Status:
    """Message status from its parts (reference sms-gateway-peers.md §8.1).

    Delivered only when every part is delivered; one failed part makes the message failed
    and one undelivered part makes it undelivered, at once, since it can no longer arrive
    whole (never "delivered" when a part failed). A part with no final report keeps the
    message ``sent``: no fake delivery.
    """
    if any(p == Status.FAILED for p in parts):
        return Status.FAILED
    if any(p == Status.UNDELIVERED for p in parts):
        return Status.UNDELIVERED
    if parts and all(p == Status.DELIVERED for p in parts):
        return Status.DELIVERED
    return Status.SENT


def open_store(database_url: str, pool_size: int = 8) -> Store:
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``postgresql://...``
    (``pool_size`` connections per process)."""
    if database_url.startswith(("postgresql://", "postgres://")):
        from ivr.sms.store_postgres import PostgresStore

        return PostgresStore(database_url, pool_size=pool_size)
    if database_url.startswith("sqlite:///"):
        return SqliteStore(database_url[len("sqlite:///"):])
    from ivr.errors import ConfigError

    raise ConfigError(f"[sms] database_url {database_url!r}: use sqlite:///PATH or "
                      "postgresql://user:password@host/dbname")
