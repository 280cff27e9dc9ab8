"""Pure parts of ivr.metrics: the bounded call-result label, and which files of ended
processes a starting process may clear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivr import metrics


@pytest.mark.parametrize(("answered", "reason", "result"), [
    (True, "caller hung up", "answered"),
    (True, "hung up over the HTTP API", "answered"),
    (False, "CANCEL before answer", "cancelled"),
    (False, "busy (486 Busy Here)", "busy"),
    (False, "declined (603 Decline)", "rejected"),
    (False, "no answer within 60 s (timeout)", "no_answer"),
    (False, "480 Temporarily Unavailable", "no_answer"),
    (False, "internal error", "failed"),
])
def test_call_result_is_one_of_a_few_labels(answered: bool, reason: str, result: str) -> None:
    assert metrics.call_result(answered, reason) == result


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_first_process_clears_ended_processes_files_later_ones_keep_them(
        tmp_path: Path) -> None:
    dead = _dead_pid()
    for name in (f"counter_{dead}.db", f"gauge_livesum_{dead}.db", f"counter_{os.getpid()}.db"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".owner").write_text(str(dead))
    assert metrics._claim(tmp_path)                      # the owner is gone: we take over
    assert (tmp_path / ".owner").read_text() == str(os.getpid())
    assert not metrics._claim(tmp_path)                  # now a live owner: keep everything
    metrics._remove_dead(tmp_path, gauges_only=True)     # what a scrape does
    assert sorted(p.name for p in tmp_path.glob("*.db")) == sorted(
        [f"counter_{dead}.db", f"counter_{os.getpid()}.db"])
    metrics._remove_dead(tmp_path, gauges_only=False)    # what the owner does at start
    assert [p.name for p in tmp_path.glob("*.db")] == [f"counter_{os.getpid()}.db"]
