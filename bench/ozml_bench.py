"""OzML throughput: parse + validate + execute the sample scripts on a no-audio call.

Prints scripts/s for the full pipeline and, in the same run on the same bytes, for a bare
``lxml.etree.fromstring`` (the floor any XML-based engine pays), and their ratio.
Run: .venv/bin/python bench/ozml_bench.py [--seconds 3]
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
from ivr.ozml.fetch import Fetched  # noqa: E402
from ivr.ozml.interpreter import Interpreter  # noqa: E402
from ivr.ozml.memory import InMemorySmsSubmitter  # noqa: E402
from ivr.ozml.settings import OzmlSettings  # noqa: E402


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


def rate(fn: Callable[[], None], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        fn()
        count += 1
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    scripts = {str(p): p.read_bytes() for p in sorted((ROOT / "ozml_scripts").glob("*.xml"))}
    interpreter = Interpreter(OzmlSettings(), InMemorySmsSubmitter(),
                              fetcher=MemoryFetcher(scripts))
    names = list(scripts)

    def full() -> None:
        for name in names:
            interpreter.run(SilentCall(), name)

    def bare() -> None:
        for data in scripts.values():
            etree.fromstring(data)

    full_rate = rate(full, args.seconds) * len(names)
    bare_rate = rate(bare, args.seconds) * len(names)
    print(f"sample scripts: {len(names)} ({', '.join(Path(n).name for n in names)})")
    print(f"parse+validate+execute: {full_rate:,.0f} scripts/s")
    print(f"bare lxml.etree.fromstring: {bare_rate:,.0f} scripts/s")
    print(f"ratio full/bare: {full_rate / bare_rate:.3f} (bare is {bare_rate / full_rate:.0f}x "
          "faster: the cost of schema validation, typing and execution)")


if __name__ == "__main__":
    main()
