"""Settings of the HTTP API ([http])."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HttpSettings"]


@dataclass
class HttpSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9509                 # Ozeki's default HTTP API port
    public_url: str = ""             # how providers reach us for DLR webhooks; "" = http://host:port
    threads: int = 16
    demo_user: bool = False          # create HTTP_User_1/qwe123 (make run only)
    max_segments: int = 10
    rate_limit_per_minute: int = 600  # per user, 0 = unlimited
    notification_url: str = ""       # receives CallConnected/CallEnded/SmsDelivered (POST form)

    @property
    def public_base_url(self) -> str:
        """Where providers reach our API: ``public_url``, else the address we listen on."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
