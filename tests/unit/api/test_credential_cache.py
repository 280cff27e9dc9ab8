"""The per-process cache of verified API credentials (ivr/users.py): a request with known
good credentials skips the database, and any change to the users table — made by this
process or by another one on the same file (the CLI, the console in another HTTP worker) —
counts from the next request."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.errors import AuthError
from ivr.users import UserStore


@pytest.fixture
def worker(tmp_path: Path) -> UserStore:
    """The HTTP worker's store, with alice's credentials verified once (cached)."""
    store = UserStore(tmp_path / "users.db")
    store.add("alice", "s3cret!", {"sms", "calls"})
    assert store.authenticate("alice", "s3cret!", "10.0.0.1").name == "alice"
    return store


@pytest.fixture
def cli(tmp_path: Path, worker: UserStore) -> UserStore:
    """Another process's connection to the same file."""
    return UserStore(tmp_path / "users.db")


def test_removal_elsewhere_refuses_the_next_request(worker: UserStore, cli: UserStore) -> None:
    assert cli.remove("alice")
    with pytest.raises(AuthError) as info:
        worker.authenticate("alice", "s3cret!", "10.0.0.1")
    assert info.value.reason == "bad_credentials"


def test_new_password_elsewhere_retires_the_old_one(worker: UserStore, cli: UserStore) -> None:
    cli.remove("alice")
    cli.add("alice", "n3w-password", {"sms"})
    with pytest.raises(AuthError):
        worker.authenticate("alice", "s3cret!", "10.0.0.1")
    assert worker.authenticate("alice", "n3w-password", "10.0.0.1").name == "alice"


def test_permission_taken_away_elsewhere_counts_at_once(worker: UserStore,
                                                        cli: UserStore) -> None:
    cli.update("alice", {"calls"}, 5)
    user = worker.authenticate("alice", "s3cret!", "10.0.0.1")
    assert not user.may("sms") and user.rate_limit_per_minute == 5


def test_changes_in_this_process_count_at_once(worker: UserStore) -> None:
    worker.update("alice", {"calls"}, 0)
    assert not worker.authenticate("alice", "s3cret!").may("sms")
    worker.remove("alice")
    with pytest.raises(AuthError):
        worker.authenticate("alice", "s3cret!")


def test_a_cached_user_still_needs_the_right_password_and_address(worker: UserStore) -> None:
    with pytest.raises(AuthError):
        worker.authenticate("alice", "s3cret?", "10.0.0.1")
    demo = worker.ensure_demo_user()
    assert worker.authenticate(demo.name, "qwe123", "127.0.0.1") == demo
    with pytest.raises(AuthError) as info:       # remembered, yet not from this address
        worker.authenticate(demo.name, "qwe123", "192.0.2.7")
    assert info.value.reason == "forbidden"


def test_restcomm_tokens_are_cached_and_invalidated_too(worker: UserStore,
                                                        cli: UserStore) -> None:
    alice = worker.get("alice")
    assert alice is not None
    assert worker.authenticate_account(alice.account_sid, alice.auth_token) == alice
    with pytest.raises(AuthError):
        worker.authenticate_account(alice.account_sid, alice.auth_token[:-1] + "x")
    cli.remove("alice")
    with pytest.raises(AuthError):
        worker.authenticate_account(alice.account_sid, alice.auth_token)


def test_the_cache_is_bounded(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.db", cache_size=2)
    for name in ("u1", "u2", "u3"):
        store.add(name, "password-" + name)
    for name in ("u1", "u2", "u3"):
        assert store.authenticate(name, "password-" + name).name == name
    assert len(store._verified) == 2
    assert store.authenticate("u1", "password-u1").name == "u1"    # verified again
