"""schemathesis against a real `ivr serve` (HTTP only): no generated request gets a 5xx."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_serve import free_port, wait_for_api

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM)
    config = tmp_path / "ivr.conf"
    config.write_text(f"[ivr]\ndata_dir = {tmp_path}/var\n[sms]\ndatabase_url = "
                      f"sqlite:///{tmp_path}/var/ivr.db\n")
    server = subprocess.Popen([sys.executable, "-m", "ivr.cli", "serve", "--no-sip", "--demo",
                               "--config", str(config), "--http-port", str(port)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_api(port)
        result = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "run",
             f"http://127.0.0.1:{port}/openapi.json", "--checks", "not_a_server_error",
             "--max-examples", "25", "--phases", "examples,fuzzing", "--no-color",
             "--seed", "1"], capture_output=True, text=True, timeout=300,
            env={**os.environ, "NO_COLOR": "1"})
        assert result.returncode == 0, result.stdout[-4000:]
        assert "passed" in result.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output[-3000:]
    assert "Traceback" not in output
