"""Every statement of the PostgreSQL backend (``%s`` placeholders, psycopg 3).

Several connections and several processes write at once, so: the claim locks the rows it
takes and skips rows another transaction holds (``FOR UPDATE SKIP LOCKED``), and matching
on one transport (reports, submit results, inbound parts) takes a transaction-level advisory
lock (``pg_advisory_xact_lock``), released at COMMIT or ROLLBACK.
"""

from __future__ import annotations

from ivr.sms.store.callbacks import CallbackQueueSql
from ivr.sms.store.combined import BackendSql
from ivr.sms.store.inbound import InboundSql
from ivr.sms.store.messages import MessageLogSql
from ivr.sms.store.outbox import OutboxSql
from ivr.sms.store.reports import ReportsSql
from ivr.sms.store.rows import MESSAGE_COLUMNS, MESSAGE_PARAMS

__all__ = ["POSTGRES_SQL", "TYPES", "SCHEMA_LOCK"]

# schema.py's column kinds: epoch seconds need 8 bytes (PostgreSQL's REAL has 4), and the
# paging tie-breaker that SQLite has implicitly is an explicit column.
TYPES = {"text": "TEXT", "int": "INTEGER", "time": "DOUBLE PRECISION", "rowid": "BIGSERIAL",
         "serial": "BIGSERIAL PRIMARY KEY"}
# Advisory lock keys (first int4): schema creation and report matching.
SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(4242001)"
_MATCHING_LOCK = "SELECT pg_advisory_xact_lock(4242002, hashtext(%s))"


def _marks(count: int) -> str:
    return ",".join(["%s"] * count)


_UNMATCHED = ("SELECT id, transport, provider_id, reference, recipient, status, error_code, "
              "error_text, received_at, raw, text FROM unmatched_reports WHERE transport = %s ")
_SET = "FROM inbound_parts WHERE transport = %s AND sender = %s AND reference = %s AND total = %s"

POSTGRES_SQL = BackendSql(
    log=MessageLogSql(
        insert_message=f"INSERT INTO messages ({MESSAGE_COLUMNS}, next_attempt_at) "
                       f"VALUES ({_marks(MESSAGE_PARAMS + 1)})",
        insert_part="INSERT INTO parts (message_id, idx, status) VALUES (%s,%s,%s)",
        insert_received_part="INSERT INTO parts (message_id, idx, provider_id, status, "
                             "submitted_at, updated_at) VALUES (%s, 0, %s, %s, %s, %s)",
        insert_event="INSERT INTO events (message_id, status, at, detail) VALUES (%s,%s,%s,%s)",
        select_message=f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = %s",
        select_parts="SELECT idx, provider_id, reference, status, error_code, submitted_at, "
                     "updated_at FROM parts WHERE message_id = %s ORDER BY idx",
        select_events="SELECT at, status, detail FROM events WHERE message_id = %s ORDER BY id",
        filters={"owner": "owner = %s", "recipient": "recipient = %s", "sender": "sender = %s",
                 "status": "status = %s", "direction": "direction = %s",
                 "created_from": "created_at >= %s", "created_to": "created_at <= %s"},
        count="SELECT COUNT(*) FROM messages WHERE {where}",
        anchor="SELECT {sort}, rowid FROM messages WHERE id = %s",
        after={True: "({sort}, rowid) < (%s, %s)", False: "({sort}, rowid) > (%s, %s)"},
        depths="SELECT COUNT(*) FILTER (WHERE status = 'queued'), "
               "COUNT(*) FILTER (WHERE status = 'sending') FROM messages "
               "WHERE status IN ('queued', 'sending')",
        page=f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {{where}} "
             "ORDER BY {sort} {order}, rowid {order} LIMIT %s OFFSET %s"),
    callbacks=CallbackQueueSql(
        callback_url="SELECT callback_url FROM messages WHERE id = %s",
        enqueue="INSERT INTO callbacks (message_id, status, url, method, params, state, "
                "next_attempt_at, created_at) VALUES (%s,%s,%s,%s,%s, 'pending', %s, %s)",
        due="SELECT c.id, c.message_id, c.status, c.url, c.method, c.params, c.attempts, "
            "c.created_at, COALESCE(m.owner, '') FROM callbacks c "
            "LEFT JOIN messages m ON m.id = c.message_id "
            "WHERE c.state = 'pending' AND c.next_attempt_at <= %s "
            "AND NOT EXISTS (SELECT 1 FROM callbacks e WHERE e.message_id = c.message_id "
            "AND e.state = 'pending' AND e.id < c.id) ORDER BY c.next_attempt_at, c.id LIMIT %s",
        next_due="SELECT MIN(next_attempt_at) FROM callbacks WHERE state = 'pending'",
        done="UPDATE callbacks SET state = %s, attempts = attempts + 1, last_error = %s "
             "WHERE id = %s",
        retry="UPDATE callbacks SET attempts = attempts + 1, next_attempt_at = %s, "
              "last_error = %s WHERE id = %s",
        defer="UPDATE callbacks SET next_attempt_at = %s, last_error = %s "
              "WHERE state = 'pending' AND id IN ({ids})",
        states="SELECT status, state, attempts FROM callbacks WHERE message_id = %s ORDER BY id",
        history="SELECT status, state, attempts, last_error FROM callbacks "
                "WHERE message_id = %s ORDER BY id",
        pending="SELECT COUNT(*) FROM callbacks WHERE state = 'pending'",
        attempt="INSERT INTO callback_attempts (callback_id, at, result) VALUES (%s, %s, %s)",
        attempts="SELECT c.status, a.at, a.result FROM callback_attempts a JOIN callbacks c "
                 "ON c.id = a.callback_id WHERE c.message_id = %s ORDER BY a.id",
        marks=_marks),
    reports=ReportsSql(
        lock_matching=_MATCHING_LOCK,
        match_by_id="SELECT p.message_id, p.idx FROM parts p JOIN messages m "
                    "ON m.id = p.message_id WHERE p.provider_id IN ({ids}) AND m.transport = %s "
                    "ORDER BY p.submitted_at DESC LIMIT 1",
        match_by_reference="SELECT p.message_id, p.idx FROM parts p JOIN messages m "
                           "ON m.id = p.message_id WHERE p.reference = %s AND m.transport = %s "
                           "AND LTRIM(m.recipient, '+') = LTRIM(%s, '+') "
                           "AND p.submitted_at >= %s AND p.status = 'sent' "
                           "ORDER BY p.submitted_at DESC LIMIT 1",
        keep_unmatched="INSERT INTO unmatched_reports (transport, provider_id, reference, "
                       "recipient, status, error_code, error_text, received_at, raw, text) "
                       "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
        part_status="SELECT status FROM parts WHERE message_id = %s AND idx = %s",
        set_part_status="UPDATE parts SET status = %s, error_code = %s, updated_at = %s "
                        "WHERE message_id = %s AND (idx = %s OR (provider_id != '' AND "
                        "provider_id = (SELECT provider_id FROM parts WHERE message_id = %s "
                        "AND idx = %s)))",
        part_statuses="SELECT status FROM parts WHERE message_id = %s",
        message_status="SELECT status FROM messages WHERE id = %s",
        sent_at="SELECT sent_at FROM messages WHERE id = %s",
        settle="UPDATE messages SET status = %s, updated_at = %s, error_code = "
               "COALESCE(%s, error_code), delivered_at = COALESCE(%s, delivered_at), "
               "claimed_by = NULL, lease_until = 0 WHERE id = %s",
        recipient="SELECT recipient FROM messages WHERE id = %s",
        unmatched_by_id=_UNMATCHED + "AND provider_id IN ({ids}) ORDER BY id",
        unmatched_by_reference=_UNMATCHED + "AND reference = %s AND recipient IN (%s, %s) "
                                            "ORDER BY id",
        drop_unmatched="DELETE FROM unmatched_reports WHERE id = %s",
        expire="DELETE FROM unmatched_reports WHERE received_at < %s",
        to_adopt="SELECT recipient, body, encoding, transport, segments FROM messages "
                 "WHERE id = %s",
        adoptable="SELECT transport, provider_id, reference, text FROM unmatched_reports "
                  "WHERE recipient IN (%s, %s) AND received_at >= %s AND received_at <= %s "
                  "ORDER BY id",
        marks=_marks),
    outbox=OutboxSql(
        any_due="SELECT 1 FROM messages WHERE status = 'queued' AND next_attempt_at <= %s"
                "{excluded} LIMIT 1",
        claim="SELECT id, in_doubt_since FROM messages WHERE status = 'queued' "
              "AND next_attempt_at <= %s{excluded} ORDER BY next_attempt_at LIMIT %s "
              "FOR UPDATE SKIP LOCKED",
        excluded=" AND transport NOT IN ({ids})",
        lease="UPDATE messages SET status = 'sending', claimed_by = %s, lease_until = %s, "
              "attempts = attempts + 1, updated_at = %s WHERE id = %s",
        expired="SELECT id, claimed_by, updated_at FROM messages "
                "WHERE status = 'sending' AND lease_until < %s",
        hold="UPDATE messages SET status = 'queued', claimed_by = NULL, lease_until = 0, "
             "next_attempt_at = %s, updated_at = %s, in_doubt_since = "
             "COALESCE(in_doubt_since, %s) WHERE id = %s AND status = 'sending' AND "
             "lease_until < %s",
        next_due="SELECT MIN(next_attempt_at) FROM messages WHERE status = 'queued'",
        renew="UPDATE messages SET lease_until = %s WHERE status = 'sending' AND "
              "claimed_by = %s AND id IN ({ids})",
        part_sent="UPDATE parts SET provider_id = %s, reference = %s, status = 'sent', "
                  "submitted_at = %s, updated_at = %s WHERE message_id = %s AND idx = %s",
        rest_sent="UPDATE parts SET status = 'sent', submitted_at = %s, updated_at = %s "
                  "WHERE message_id = %s AND status = 'queued'",
        message_sent="UPDATE messages SET status = 'sent', transport = %s, sent_at = %s, "
                     "updated_at = %s, claimed_by = NULL, lease_until = 0, "
                     "in_doubt_since = NULL WHERE id = %s AND status = 'sending'",
        retry="UPDATE messages SET status = 'queued', next_attempt_at = %s, "
              "claimed_by = NULL, lease_until = 0, updated_at = %s, error_message = %s "
              "WHERE id = %s",
        hold_in_doubt="UPDATE messages SET status = 'queued', claimed_by = NULL, "
                      "lease_until = 0, next_attempt_at = %s, "
                      "in_doubt_since = COALESCE(in_doubt_since, updated_at), "
                      "updated_at = %s, error_message = %s WHERE id = %s AND status = 'sending'",
        release="UPDATE messages SET status = 'queued', claimed_by = NULL, lease_until = 0, "
                "attempts = GREATEST(attempts - 1, 0), next_attempt_at = %s "
                "WHERE id = %s AND status = 'sending'",
        parts_failed="UPDATE parts SET status = 'failed', error_code = %s, updated_at = %s "
                     "WHERE message_id = %s AND status IN ('queued', 'sending', 'sent')",
        message_failed="UPDATE messages SET status = 'failed', error_code = %s, "
                       "error_message = %s, updated_at = %s, claimed_by = NULL, "
                       "lease_until = 0 WHERE id = %s",
        marks=_marks),
    inbound=InboundSql(
        seen="SELECT m.id FROM parts p JOIN messages m ON m.id = p.message_id "
             "WHERE m.direction = 'inbound' AND m.transport = %s AND p.provider_id = %s",
        has_part=f"SELECT 1 {_SET} AND sequence = %s",
        keep_part="INSERT INTO inbound_parts (transport, sender, recipient, reference, total, "
                  "sequence, body, received_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
        set_parts=f"SELECT sequence, body, received_at, recipient {_SET} ORDER BY sequence",
        drop_set=f"DELETE {_SET}",
        stale_sets="SELECT DISTINCT transport, sender, reference, total FROM inbound_parts "
                   "WHERE received_at < %s"),
)
