"""What a call history record is and how it is asked for: values shared by the voice side,
which writes them (ivr/voice/history.py), and the HTTP API and CLI, which read them (the API
must not import voice/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["CallRecord", "CallQuery", "CallHistory"]


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    direction: str                   # "inbound" | "outbound"
    caller: str
    callee: str
    script: str
    started_at: float                # Unix seconds: the INVITE
    answered_at: float               # 0.0 when never answered
    ended_at: float
    hangup_cause: str                # the leg's end reason: "caller hung up", "busy (486 …)" …
    recordings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Talk time in seconds (0 for a call never answered)."""
        return max(0.0, self.ended_at - self.answered_at) if self.answered_at else 0.0


@dataclass(frozen=True)
class CallQuery:
    direction: str = ""
    caller: str = ""
    callee: str = ""
    since: float = 0.0               # started_at >= since
    until: float = 0.0               # started_at < until (0: no bound)
    offset: int = 0
    limit: int = 50


class CallHistory(Protocol):
    def add(self, record: CallRecord) -> None: ...

    def query(self, query: CallQuery) -> tuple[list[CallRecord], int]:
        """A page of records, newest first, and how many match in all."""

    def get(self, call_id: str) -> CallRecord | None: ...

    def close(self) -> None: ...
