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
    # The one safety limit on Ozeki's open-ended defaults (UserInput Timeout 0, Repeat="true",
    # <Play Repeat="true">): no script keeps a call longer than this; 0 = no limit.
    max_call_seconds: float = 3600.0
    sql_url: str = ""                    # SQL OzML: sqlite:///path or postgresql://… (read-only)
    sql_timeout: float = 5.0
    # SMSDeliveryReport to a DeliveryReportURL: Ozeki posts a form; GET for older web apps.
    delivery_report_method: str = "POST"
    cache_entries: int = 256             # compiled scripts kept (files and fetched bodies)
