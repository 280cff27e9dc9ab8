"""Compile once: typed scripts cached by file identity or by the hash of a fetched body.

A call that enters the same menu a thousand times a day should not parse it a thousand
times. Files are keyed by (path, size, mtime): an edited script is recompiled on the next
call, an unchanged one is a ``stat`` and a dictionary lookup. Fetched documents are keyed by
the SHA-256 of their bytes (web apps often answer with the same few documents); the source
location is not part of the key, the cached script is re-labelled with it instead. Both
caches are LRU, bounded by entry count and by the total size of the documents behind them,
so many distinct documents cannot grow memory without limit. Errors are not cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from ivr.ozml import verbs as v
from ivr.ozml.parser import parse_document

__all__ = ["ScriptCache", "compile_script"]


def compile_script(data: bytes, source: str, max_bytes: int = 1_000_000) -> v.Script:
    """Parse + validate + build one document (raises OzmlError)."""
    return v.build_script(parse_document(data, source, max_bytes))


class _Lru:
    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max(1, max_entries)
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[v.Script, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> v.Script | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, script: v.Script, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (script, size)
            self._bytes += size
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def __len__(self) -> int:
        return len(self._items)


class ScriptCache:
    def __init__(self, max_entries: int = 256, max_bytes: int = 16_000_000,
                 max_document_bytes: int = 1_000_000) -> None:
        self.max_document_bytes = max_document_bytes
        self._files = _Lru(max_entries, max_bytes)
        self._bodies = _Lru(max_entries, max_bytes)
        self.hits = 0
        self.misses = 0

    def file_key(self, path: str) -> tuple[str, int, int] | None:
        """(path, size, mtime) of a local script, or None when it cannot be stat'ed."""
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            return None
        return (os.path.abspath(path), info.st_size, info.st_mtime_ns)

    def cached_file(self, key: tuple[str, int, int]) -> v.Script | None:
        script = self._files.get(key)
        if script is not None:
            self.hits += 1
        return script

    def store_file(self, key: tuple[str, int, int], script: v.Script) -> None:
        self._files.put(key, script, key[1])

    def compile(self, body: bytes, source: str,
                compiler: Callable[[bytes, str, int], v.Script] = compile_script) -> v.Script:
        """The script for a fetched ``body`` (compiled at most once per distinct body)."""
        key = hashlib.sha256(body).digest()
        script = self._bodies.get(key)
        if script is None:
            self.misses += 1
            script = compiler(body, source, self.max_document_bytes)
            self._bodies.put(key, script, len(body))
            return script
        self.hits += 1
        return script if script.source == source else dataclasses.replace(script,
                                                                          source=source)
