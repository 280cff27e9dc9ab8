"""OzML throughput: compile and execute the sample scripts on a no-audio call.

In one run, on the same bytes, against a bare ``lxml.etree.fromstring`` (the floor any
XML-based engine pays), it prints and checks issue 14's targets:

* a cached script (fetched body by hash, file by path+size+mtime) costs <= 3x lxml's parse;
* a new document (parse + validate + typed build) costs <= 10x;
* a warning-heavy document (every element with unknown attributes) costs time linear in its
  size, including the 114 KB case that once took 64 s.

Run: .venv/bin/python bench/ozml_bench.py [--seconds 3]; exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.call import PlayOutcome, Prompt, RecordResult, RecordSpec  # noqa: E402
from ivr.ozml.cache import ScriptCache, compile_script  # noqa: E402
from ivr.ozml.fetch import Fetched  # noqa: E402
from ivr.ozml.interpreter import Interpreter  # noqa: E402
from ivr.ozml.memory import InMemorySmsSubmitter  # noqa: E402
from ivr.ozml.settings import OzmlSettings  # noqa: E402

FULL_RUN = {"welcome.xml", "sendsms.xml", "menu.xml", "pin.xml", "request.xml", "array.xml",
            "sendemail.xml"}


class SilentCall:
    """A call with no audio and a caller who presses 2 then 1 whenever asked."""

    call_id, caller, callee, variables = "bench", "+15550001111", "100", {}

    def __init__(self) -> None:
        self.digits = list("21")

    def answer(self) -> None: ...
    def reject(self) -> None: ...
    def hangup(self) -> None: ...
    def send_dtmf(self, keys: str) -> None: ...
    def transfer(self, target: str) -> bool: return True

    def play(self, prompt: Prompt, *, barge_in: bool = False) -> PlayOutcome:
        return PlayOutcome.COMPLETED

    def read_digit(self, timeout: float) -> str | None:
        return self.digits.pop(0) if self.digits else None

    def record(self, spec: RecordSpec) -> RecordResult:
        return RecordResult("/dev/null", "file:///dev/null", 0.0, "silence")


class MemoryFetcher:
    def __init__(self, documents: dict[str, bytes]) -> None:
        self.documents = documents

    def fetch(self, location: str, form: dict[str, str], method: str = "POST") -> Fetched:
        return Fetched(self.documents.get(location, b"<Response><Hangup/></Response>"), location)


def warning_heavy(size: int) -> bytes:
    """About ``size`` bytes of <Speak> elements, each with two attributes ivr does not know."""
    element = '<Speak Colour="red" Shape="round">x</Speak>\n'
    return b"<Response>\n" + (element * (size // len(element))).encode() + b"</Response>"


def per_call(fn: Callable[[], object], seconds: float) -> float:
    """Mean seconds per call of ``fn``, over about ``seconds``."""
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or count < 3:
        fn()
        count += 1
    return elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    seconds = args.seconds
    scripts = {str(p): p.read_bytes() for p in sorted((ROOT / "ozml_scripts").glob("*.xml"))}
    names = list(scripts)
    bodies = list(scripts.values())
    interpreter = Interpreter(OzmlSettings(), InMemorySmsSubmitter(),
                              fetcher=MemoryFetcher(scripts))
    cache = ScriptCache()
    for name, body in scripts.items():
        cache.compile(body, name)
    for name in names:
        key = cache.file_key(name)
        assert key is not None
        cache.store_file(key, compile_script(scripts[name], name))

    def bare() -> None:
        for data in bodies:
            etree.fromstring(data)

    def new_document() -> None:
        for name, data in scripts.items():
            compile_script(data, name)

    def cached_body() -> None:
        for name, data in scripts.items():
            cache.compile(data, name)

    def cached_file() -> None:
        for name in names:
            key = cache.file_key(name)
            assert key is not None and cache.cached_file(key) is not None

    # The full run uses the scripts that need no peer (a database, a second call, a panel).
    runnable = [n for n in names if Path(n).name in FULL_RUN]

    def full() -> None:
        for name in runnable:
            interpreter.run(SilentCall(), name)

    bare_t = per_call(bare, seconds)
    results = {
        "new document (parse+validate+build)": (per_call(new_document, seconds), 10.0),
        "cached fetched body (sha256 + lookup)": (per_call(cached_body, seconds), 3.0),
        "cached file (stat + lookup)": (per_call(cached_file, seconds), 3.0),
    }
    full_t = per_call(full, seconds)
    n = len(names)
    print(f"sample scripts: {n} ({', '.join(Path(x).name for x in names)})")
    print(f"bare lxml.etree.fromstring: {n / bare_t:,.0f} scripts/s")
    missed = []
    for label, (cost, target) in results.items():
        ratio = cost / bare_t
        verdict = "" if not target else (" ok" if ratio <= target else " MISSED")
        print(f"{label}: {n / cost:,.0f} scripts/s = {ratio:.2f}x lxml"
              + (f" (target <= {target:g}x){verdict}" if target else ""))
        if target and ratio > target:
            missed.append(label)
    print(f"full run on a call, {len(runnable)} scripts (cached compile + execute): "
          f"{len(runnable) / full_t:,.0f} scripts/s")
    sizes = [14_000, 57_000, 114_000]
    costs = []
    for size in sizes:
        data = warning_heavy(size)
        cost = per_call(lambda data=data: compile_script(data, "w.xml"), seconds / 3)
        lxml_cost = per_call(lambda data=data: etree.fromstring(data), seconds / 6)
        costs.append(cost)
        print(f"warning-heavy {len(data) / 1000:.0f} KB: {cost * 1000:.1f} ms "
              f"({cost / lxml_cost:.1f}x lxml, {cost / len(data) * 1e9:.0f} ns/byte)")
    growth = (costs[-1] / costs[0]) / (sizes[-1] / sizes[0])
    linear = growth < 1.5
    print(f"warning-heavy cost grows {growth:.2f}x the size ratio "
          f"({'linear' if linear else 'NOT linear'})")
    if not linear:
        missed.append("warning-heavy linearity")
    if missed:
        print("targets missed: " + ", ".join(missed))
        sys.exit(1)


if __name__ == "__main__":
    main()
