"""Shared fixtures: a real SMS service on a temporary SQLite store, a callback receiver."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))

from callback_receiver import CallbackReceiver  # noqa: E402

from ivr.config import Settings  # noqa: E402


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the whole session (tools/postgres.py)."""
    from postgres import TempPostgres

    with TempPostgres() as pg:
        yield pg.url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """A new, empty database on the session's cluster, for one test (no reset needed)."""
    import psycopg

    name = f"ivr_{next(_databases)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + "/" + name


_databases = itertools.count(1)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(transports: dict[str, str] | None = None, **sms: object) -> Settings:
        settings = Settings()
        settings.ivr.data_dir = str(tmp_path / "var")
        settings.sms.database_url = f"sqlite:///{tmp_path}/var/ivr.db"
        settings.sms.transports = transports or {"loopback": "loopback://?delay=0.05"}
        settings.sms.retry_base_seconds = 0.05
        settings.sms.callback_allow = ["127.0.0.0/8", "::1"]   # the tests' receivers
        settings.sms.workers = 2
        for key, value in sms.items():
            setattr(settings.sms, key, value)
        return settings

    return make
