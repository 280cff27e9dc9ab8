"""Every statement of the SQLite backend (``?`` placeholders; one writer, so matching needs
no lock and a claim needs no row lock: the claim runs inside ``BEGIN IMMEDIATE``)."""

from __future__ import annotations

from ivr.sms.store.callbacks import CallbackQueueSql
from ivr.sms.store.combined import BackendSql
from ivr.sms.store.inbound import InboundSql
from ivr.sms.store.messages import MessageLogSql
from ivr.sms.store.outbox import OutboxSql
from ivr.sms.store.reports import ReportsSql
from ivr.sms.store.rows import MESSAGE_COLUMNS, MESSAGE_PARAMS

__all__ = ["SQLITE_SQL", "TYPES"]

# schema.py's column kinds; rowid is implicit in SQLite.
TYPES = {"text": "TEXT", "int": "INTEGER", "time": "REAL", "rowid": "",
         "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}


def _marks(count: int) -> str:
    return ",".join("?" * count)


_UNMATCHED = ("SELECT id, transport, provider_id, reference, recipient, status, error_code, "
              "error_text, received_at, raw, text FROM unmatched_reports WHERE transport = ? ")
_SET = "FROM inbound_parts WHERE transport = ? AND sender = ? AND reference = ? AND total = ?"

SQLITE_SQL = BackendSql(
    log=MessageLogSql(
        insert_message=f"INSERT INTO messages ({MESSAGE_COLUMNS}, next_attempt_at) "
                       f"VALUES ({_marks(MESSAGE_PARAMS + 1)})",
        insert_part="INSERT INTO parts (message_id, idx, status) VALUES (?,?,?)",
        insert_received_part="INSERT INTO parts (message_id, idx, provider_id, status, "
                             "submitted_at, updated_at) VALUES (?, 0, ?, ?, ?, ?)",
        insert_event="INSERT INTO events (message_id, status, at, detail) VALUES (?,?,?,?)",
        select_message=f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?",
        select_parts="SELECT idx, provider_id, reference, status, error_code, submitted_at, "
                     "updated_at FROM parts WHERE message_id = ? ORDER BY idx",
        select_events="SELECT at, status, detail FROM events WHERE message_id = ? ORDER BY id",
        filters={"owner": "owner = ?", "recipient": "recipient = ?", "sender": "sender = ?",
                 "status": "status = ?", "direction": "direction = ?",
                 "created_from": "created_at >= ?", "created_to": "created_at <= ?"},
        count="SELECT COUNT(*) FROM messages WHERE {where}",
        anchor="SELECT {sort}, rowid FROM messages WHERE id = ?",
        after={True: "({sort}, rowid) < (?, ?)", False: "({sort}, rowid) > (?, ?)"},
        depths="SELECT COUNT(*) FILTER (WHERE status = 'queued'), "
               "COUNT(*) FILTER (WHERE status = 'sending') FROM messages "
               "WHERE status IN ('queued', 'sending')",
        page=f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {{where}} "
             "ORDER BY {sort} {order}, rowid {order} LIMIT ? OFFSET ?"),
    callbacks=CallbackQueueSql(
        callback_url="SELECT callback_url FROM messages WHERE id = ?",
        enqueue="INSERT INTO callbacks (message_id, status, url, method, params, state, "
                "next_attempt_at, created_at) VALUES (?,?,?,?,?, 'pending', ?, ?)",
        due="SELECT c.id, c.message_id, c.status, c.url, c.method, c.params, c.attempts, "
            "c.created_at, COALESCE(m.owner, '') FROM callbacks c "
            "LEFT JOIN messages m ON m.id = c.message_id "
            "WHERE c.state = 'pending' AND c.next_attempt_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM callbacks e WHERE e.message_id = c.message_id "
            "AND e.state = 'pending' AND e.id < c.id) ORDER BY c.next_attempt_at, c.id LIMIT ?",
        next_due="SELECT MIN(next_attempt_at) FROM callbacks WHERE state = 'pending'",
        done="UPDATE callbacks SET state = ?, attempts = attempts + 1, last_error = ? "
             "WHERE id = ?",
        retry="UPDATE callbacks SET attempts = attempts + 1, next_attempt_at = ?, "
              "last_error = ? WHERE id = ?",
        defer="UPDATE callbacks SET next_attempt_at = ?, last_error = ? "
              "WHERE state = 'pending' AND id IN ({ids})",
        states="SELECT status, state, attempts FROM callbacks WHERE message_id = ? ORDER BY id",
        history="SELECT status, state, attempts, last_error FROM callbacks "
                "WHERE message_id = ? ORDER BY id",
        pending="SELECT COUNT(*) FROM callbacks WHERE state = 'pending'",
        attempt="INSERT INTO callback_attempts (callback_id, at, result) VALUES (?, ?, ?)",
        attempts="SELECT c.status, a.at, a.result FROM callback_attempts a JOIN callbacks c "
                 "ON c.id = a.callback_id WHERE c.message_id = ? ORDER BY a.id",
        marks=_marks),
    reports=ReportsSql(
        lock_matching="",
        match_by_id="SELECT p.message_id, p.idx FROM parts p JOIN messages m "
                    "ON m.id = p.message_id WHERE p.provider_id IN ({ids}) AND m.transport = ? "
                    "ORDER BY p.submitted_at DESC LIMIT 1",
        match_by_reference="SELECT p.message_id, p.idx FROM parts p JOIN messages m "
                           "ON m.id = p.message_id WHERE p.reference = ? AND m.transport = ? "
                           "AND LTRIM(m.recipient, '+') = LTRIM(?, '+') "
                           "AND p.submitted_at >= ? AND p.status = 'sent' "
                           "ORDER BY p.submitted_at DESC LIMIT 1",
        keep_unmatched="INSERT INTO unmatched_reports (transport, provider_id, reference, "
                       "recipient, status, error_code, error_text, received_at, raw, text) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?)",
        part_status="SELECT status FROM parts WHERE message_id = ? AND idx = ?",
        set_part_status="UPDATE parts SET status = ?, error_code = ?, updated_at = ? "
                        "WHERE message_id = ? AND (idx = ? OR (provider_id != '' AND "
                        "provider_id = (SELECT provider_id FROM parts WHERE message_id = ? "
                        "AND idx = ?)))",
        part_statuses="SELECT status FROM parts WHERE message_id = ?",
        message_status="SELECT status FROM messages WHERE id = ?",
        sent_at="SELECT sent_at FROM messages WHERE id = ?",
        settle="UPDATE messages SET status = ?, updated_at = ?, error_code = "
               "COALESCE(?, error_code), delivered_at = COALESCE(?, delivered_at), "
               "claimed_by = NULL, lease_until = 0 WHERE id = ?",
        recipient="SELECT recipient FROM messages WHERE id = ?",
        unmatched_by_id=_UNMATCHED + "AND provider_id IN ({ids}) ORDER BY id",
        unmatched_by_reference=_UNMATCHED + "AND reference = ? AND recipient IN (?, ?) "
                                            "ORDER BY id",
        drop_unmatched="DELETE FROM unmatched_reports WHERE id = ?",
        expire="DELETE FROM unmatched_reports WHERE received_at < ?",
        to_adopt="SELECT recipient, body, encoding, transport, segments FROM messages "
                 "WHERE id = ?",
        adoptable="SELECT transport, provider_id, reference, text FROM unmatched_reports "
                  "WHERE recipient IN (?, ?) AND received_at >= ? AND received_at <= ? "
                  "ORDER BY id",
        marks=_marks),
    outbox=OutboxSql(
        any_due="SELECT 1 FROM messages WHERE status = 'queued' AND next_attempt_at <= ?"
                "{excluded} LIMIT 1",
        claim="SELECT id, in_doubt_since FROM messages WHERE status = 'queued' "
              "AND next_attempt_at <= ?{excluded} ORDER BY next_attempt_at LIMIT ?",
        excluded=" AND transport NOT IN ({ids})",
        lease="UPDATE messages SET status = 'sending', claimed_by = ?, lease_until = ?, "
              "attempts = attempts + 1, updated_at = ? WHERE id = ?",
        expired="SELECT id, claimed_by, updated_at FROM messages "
                "WHERE status = 'sending' AND lease_until < ?",
        hold="UPDATE messages SET status = 'queued', claimed_by = NULL, lease_until = 0, "
             "next_attempt_at = ?, updated_at = ?, in_doubt_since = "
             "COALESCE(in_doubt_since, ?) WHERE id = ? AND status = 'sending' AND "
             "lease_until < ?",
        next_due="SELECT MIN(next_attempt_at) FROM messages WHERE status = 'queued'",
        renew="UPDATE messages SET lease_until = ? WHERE status = 'sending' AND "
              "claimed_by = ? AND id IN ({ids})",
        part_sent="UPDATE parts SET provider_id = ?, reference = ?, status = 'sent', "
                  "submitted_at = ?, updated_at = ? WHERE message_id = ? AND idx = ?",
        rest_sent="UPDATE parts SET status = 'sent', submitted_at = ?, updated_at = ? "
                  "WHERE message_id = ? AND status = 'queued'",
        message_sent="UPDATE messages SET status = 'sent', transport = ?, sent_at = ?, "
                     "updated_at = ?, claimed_by = NULL, lease_until = 0, "
                     "in_doubt_since = NULL WHERE id = ? AND status = 'sending'",
        retry="UPDATE messages SET status = 'queued', next_attempt_at = ?, "
              "claimed_by = NULL, lease_until = 0, updated_at = ?, error_message = ? "
              "WHERE id = ?",
        hold_in_doubt="UPDATE messages SET status = 'queued', claimed_by = NULL, "
                      "lease_until = 0, next_attempt_at = ?, "
                      "in_doubt_since = COALESCE(in_doubt_since, updated_at), "
                      "updated_at = ?, error_message = ? WHERE id = ? AND status = 'sending'",
        release="UPDATE messages SET status = 'queued', claimed_by = NULL, lease_until = 0, "
                "attempts = MAX(attempts - 1, 0), next_attempt_at = ? "
                "WHERE id = ? AND status = 'sending'",
        parts_failed="UPDATE parts SET status = 'failed', error_code = ?, updated_at = ? "
                     "WHERE message_id = ? AND status IN ('queued', 'sending', 'sent')",
        message_failed="UPDATE messages SET status = 'failed', error_code = ?, "
                       "error_message = ?, updated_at = ?, claimed_by = NULL, "
                       "lease_until = 0 WHERE id = ?",
        marks=_marks),
    inbound=InboundSql(
        seen="SELECT m.id FROM parts p JOIN messages m ON m.id = p.message_id "
             "WHERE m.direction = 'inbound' AND m.transport = ? AND p.provider_id = ?",
        has_part=f"SELECT 1 {_SET} AND sequence = ?",
        keep_part="INSERT INTO inbound_parts (transport, sender, recipient, reference, total, "
                  "sequence, body, received_at) VALUES (?,?,?,?,?,?,?,?)",
        set_parts=f"SELECT sequence, body, received_at, recipient {_SET} ORDER BY sequence",
        drop_set=f"DELETE {_SET}",
        stale_sets="SELECT DISTINCT transport, sender, reference, total FROM inbound_parts "
                   "WHERE received_at < ?"),
)
