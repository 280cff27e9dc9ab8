"""Start and stop a throwaway Kamailio registrar/proxy on 127.0.0.1 (tests, labs)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["Kamailio"]

CONFIG = Path(__file__).with_name("kamailio.cfg")


class Kamailio:
    def __init__(self, port: int, password: str = "secret", host: str = "127.0.0.1",
                 dispatch_to: list[str] | None = None, record_route: bool = False) -> None:
        """A registrar (kamailio.cfg); with ``record_route``, a registrar that stays in the
        path of every dialog (proxy.cfg); or, with ``dispatch_to`` ("host:port" list), a
        round-robin load balancer in front of several IVR processes (dispatcher.cfg)."""
        self.host, self.port, self.password = host, port, password
        self.dispatch_to = dispatch_to
        self.record_route = record_route
        self._dir = Path(tempfile.mkdtemp(prefix="ivr-kamailio-"))
        self._pid_file = self._dir / "kamailio.pid"

    def __enter__(self) -> Kamailio:
        binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        template = CONFIG.with_name("dispatcher.cfg") if self.dispatch_to else \
            CONFIG.with_name("proxy.cfg") if self.record_route else CONFIG
        listing = self._dir / "dispatcher.list"
        listing.write_text("".join(f"1 sip:{target}\n" for target in self.dispatch_to or []))
        config = template.read_text().replace("LISTEN", f"{self.host}:{self.port}").replace(
            "PASSWORD", self.password).replace("DISPATCHER_LIST", str(listing))
        path = self._dir / "kamailio.cfg"
        path.write_text(config)
        log = open(self._dir / "kamailio.log", "wb")
        subprocess.run([binary, "-f", str(path), "-P", str(self._pid_file), "-E", "-w",
                        str(self._dir)], check=True, stdout=log, stderr=log, timeout=30)
        deadline = time.monotonic() + 10
        while not self._pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        return self

    def log(self) -> str:
        """What Kamailio logged so far (proxy.cfg logs every request it routes)."""
        path = self._dir / "kamailio.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *exc: object) -> None:
        try:
            pid = int(self._pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
        except (OSError, ValueError):
            pass
        shutil.rmtree(self._dir, ignore_errors=True)
