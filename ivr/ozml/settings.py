"""Settings of the OzML interpreter ([ozml] section)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OzmlSettings"]


@dataclass
class OzmlSettings:
    scripts_dir: str = "ozml_scripts"
    fetch_connect_timeout: float = 5.0   # Twilio 11205: TCP 5 s
    fetch_total_timeout: float = 15.0    # Twilio: HTTP total 15 s
    fetch_hop_limit: int = 50            # GoTo/Request/redirect hops per call (Twilio 11215)
    fallback_url: str = ""               # fetched when a GoTo/Request target fails
    max_document_bytes: int = 1_000_000
    apology_text: str = "Sorry, an application error occurred. Goodbye."
