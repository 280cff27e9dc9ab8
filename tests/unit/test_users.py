"""The user store: hashing, constant-time checks, lockout, demo user, Restcomm credentials."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ivr.errors import AuthError, ValidationError
from ivr.users import DEMO_PASSWORD, DEMO_USER, UserStore


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    return UserStore(tmp_path / "users.db")


def test_add_and_authenticate(store: UserStore) -> None:
    added = store.add("alice", "s3cret!", {"sms"})
    assert added.account_sid.startswith("AC") and len(added.account_sid) == 34
    assert len(added.auth_token) == 32
    user = store.authenticate("alice", "s3cret!", "10.1.2.3")
    assert user == added and user.may("sms") and not user.may("calls")
    assert store.authenticate_account(added.account_sid, added.auth_token) == added
    assert store.get_by_account_sid(added.account_sid) == added


def test_password_is_hashed_not_stored(store: UserStore, tmp_path: Path) -> None:
    store.add("bob", "plaintext-pw")
    raw = (tmp_path / "users.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("users.db-*"))
    assert b"plaintext-pw" not in raw
    row = sqlite3.connect(tmp_path / "users.db").execute(
        "SELECT salt, hash FROM users").fetchone()
    assert len(row[0]) == 16 and len(row[1]) == 32
    assert oct((tmp_path / "users.db").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(("name", "password", "reason"), [
    ("", "x", "missing"), ("alice", "", "missing"), ("alice", "wrong", "bad_credentials"),
    ("nobody", "whatever", "bad_credentials")])
def test_refusals(store: UserStore, name: str, password: str, reason: str) -> None:
    store.add("alice", "s3cret!")
    with pytest.raises(AuthError) as info:
        store.authenticate(name, password, "10.0.0.1")
    assert info.value.reason == reason


def test_cached_check_still_refuses_wrong_password(store: UserStore) -> None:
    store.add("alice", "s3cret!")
    store.authenticate("alice", "s3cret!")
    with pytest.raises(AuthError):
        store.authenticate("alice", "s3cret?")


def test_repeated_failures_lock_the_address_out(store: UserStore) -> None:
    store.add("alice", "s3cret!")
    for _ in range(5):
        with pytest.raises(AuthError):
            store.authenticate("alice", "bad", "10.9.9.9")
    with pytest.raises(AuthError) as info:
        store.authenticate("alice", "s3cret!", "10.9.9.9")
    assert info.value.reason == "rate_limited"
    assert store.authenticate("alice", "s3cret!", "10.9.9.8").name == "alice"


def test_demo_user_is_loopback_only(store: UserStore) -> None:
    demo = store.ensure_demo_user()
    assert store.ensure_demo_user() == demo
    assert store.authenticate(DEMO_USER, DEMO_PASSWORD, "127.0.0.1") == demo
    assert store.authenticate(DEMO_USER, DEMO_PASSWORD, "::1") == demo
    with pytest.raises(AuthError) as info:
        store.authenticate(DEMO_USER, DEMO_PASSWORD, "192.0.2.10")
    assert info.value.reason == "forbidden"


@pytest.mark.parametrize(("name", "password", "permissions", "param"), [
    ("a b", "longenough", {"sms"}, "name"), ("ok", "short", {"sms"}, "password"),
    ("ok", "longenough", {"fly"}, "permissions")])
def test_add_validation(store: UserStore, name: str, password: str, permissions: set[str],
                        param: str) -> None:
    with pytest.raises(ValidationError) as info:
        store.add(name, password, permissions)
    assert info.value.param == param


def test_duplicate_and_remove(store: UserStore) -> None:
    store.add("alice", "s3cret!")
    with pytest.raises(ValidationError, match="already exists"):
        store.add("alice", "other-pw")
    assert store.remove("alice") and not store.remove("alice")
    with pytest.raises(AuthError):
        store.authenticate("alice", "s3cret!")
    assert store.list() == []


def test_demo_user_created_by_several_processes_at_once(tmp_path: Path) -> None:
    """HTTP workers start together and each ensures the demo user: one creates it, the
    others read it (before: the losers failed with 'already exists')."""
    import threading

    stores = [UserStore(tmp_path / "users.db") for _ in range(6)]
    start = threading.Barrier(len(stores))
    found: list[str] = []

    def ensure(store: UserStore) -> None:
        start.wait(5)
        found.append(store.ensure_demo_user().account_sid)

    threads = [threading.Thread(target=ensure, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(found) == len(stores) and len(set(found)) == 1
    for store in stores:
        store.close()
