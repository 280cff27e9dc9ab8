"""Settings of the HTTP API ([http])."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HttpSettings"]


@dataclass
class HttpSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9509                 # Ozeki's default HTTP API port
    public_url: str = ""             # how providers reach us for DLR webhooks; "" = http://host:port
    threads: int = 16                # requests running the app at once, per worker
    workers: int = 0                 # HTTP worker processes (ivr serve); 0 = one per core
    header_timeout: float = 10.0     # seconds a client may take to send a request's headers
    # (an idle keep-alive connection is closed after the same time)
    max_connections: int = 4096      # open connections per worker, idle ones included
    backlog: int = 1024              # connections waiting to be accepted
    drain_seconds: float = 10.0      # on SIGTERM, how long requests in progress may finish
    demo_user: bool = False          # create HTTP_User_1/qwe123 (make run only)
    max_segments: int = 10
    rate_limit_per_minute: int = 600  # per user, 0 = unlimited
    notification_url: str = ""       # receives CallConnected/CallEnded/SmsDelivered (POST form)
    # Peers whose X-Forwarded-For is believed (ivr/api/client.py); loopback by default, so the
    # documented nginx on the same machine works. Their requests are never "from loopback".
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    max_recipients: int = 100        # per SendSms request; each one costs one rate-limit token
    access_log: bool = True          # one INFO line per request; false: at DEBUG (not built)

    @property
    def public_base_url(self) -> str:
        """Where providers reach our API: ``public_url``, else the address we listen on."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
