"""Run inside a network namespace (test_hardening_ssrf.py): listeners on the metadata address
and on loopback count every connection, while the real CallbackSender, with the default
policy, works through callbacks aimed at them. Prints one JSON line."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

from ivr.sms.callbacks import CallbackSender, UrlPolicy
from ivr.sms.settings import SmsSettings
from ivr.sms.store import SqliteStore
from tests.integration.test_callback_sender import enqueue

PORT = 8080
LISTEN = ["169.254.169.254", "127.0.0.1", "100.100.100.200", "168.63.129.16"]


def listen(address: str, counts: dict[str, int]) -> None:
    server = socket.create_server((address, PORT))
    counts[address] = 0

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            counts[address] += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            conn.close()

    threading.Thread(target=accept, daemon=True).start()


def main() -> None:
    urls = sys.argv[1:]
    counts: dict[str, int] = {}
    for address in LISTEN:
        listen(address, counts)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "s.db")
        defaults = SmsSettings()
        policy = UrlPolicy(defaults.callback_allow, defaults.callback_deny)
        for n, url in enumerate(urls):
            enqueue(store, url, f"m{n}")
        sender = CallbackSender(store, b"k" * 32, policy, base_delay=30.0)
        sender.start()
        time.sleep(2.0)
        sender.stop()
        with sqlite3.connect(Path(tmp) / "s.db") as db:
            jobs = db.execute("SELECT message_id, state, last_error FROM callbacks "
                              "ORDER BY message_id").fetchall()
        store.close()
    print(json.dumps({"connections": counts, "jobs": jobs}))


if __name__ == "__main__":
    main()
