"""Located messages about a script: errors stop it, warnings are logged (Twilio 12100 vs 12200)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Diagnostic"]


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    message: str
    line: int = 0
    col: int = 0
    source: str = "<string>"

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}: {self.severity}: {self.message}"
