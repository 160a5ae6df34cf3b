"""Credentials at rest: encrypted, rotatable, and refreshed by one worker at a time."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text

from core.errors import MissingSecretKey, StridewiseError
from ingest.credentials import CredentialStore
from ingest.crypto import Cipher, generate_key
from ingest.db import transaction
from ingest.linking import link_account
from ingest.models import LinkedAccount

TOKENS = {"token": "ya29.secret-access", "refresh_token": "1//secret-refresh"}


def test_key_rotation_keeps_old_ciphertexts_readable():
    old, new = generate_key(), generate_key()
    sealed = Cipher(old).encrypt_json(TOKENS)
    rotated = Cipher(f"{new},{old}")
    assert rotated.decrypt_json(sealed) == TOKENS
    resealed = rotated.rotate(sealed)
    assert Cipher(new).decrypt_json(resealed) == TOKENS
    with pytest.raises(StridewiseError, match="cannot be decrypted"):
        Cipher(generate_key()).decrypt_json(sealed)


def test_missing_or_malformed_key_is_a_clear_error():
    with pytest.raises(MissingSecretKey, match="STRIDEWISE_SECRET_KEY is not set"):
        Cipher(None)
    with pytest.raises(StridewiseError, match="comma-separated Fernet keys"):
        Cipher("not-a-key")


@pytest.fixture
def account(factory, cipher, patient) -> int:
    with transaction(factory) as session:
        return link_account(session, cipher, patient, "google-health", TOKENS, "hu-1").id


def test_tokens_are_not_readable_in_the_database(factory, account):
    with factory() as session:
        raw = session.execute(text("SELECT credentials FROM linked_accounts")).scalar_one()
    assert b"secret-access" not in bytes(raw) and b"secret-refresh" not in bytes(raw)


def test_compare_and_set_refuses_a_stale_writer(factory, cipher, account):
    store = CredentialStore(factory, cipher)
    current = store.load(account)
    assert store.save_if_unchanged(account, {"token": "a"}, current.version)
    assert not store.save_if_unchanged(account, {"token": "b"}, current.version)
    assert store.load(account).data == {"token": "a"}


def test_a_claimed_copy_serves_the_first_load_of_its_sync_only(factory, cipher, account):
    store = CredentialStore(factory, cipher)
    stored = store.load(account)
    claimed = cipher.encrypt_json({"token": "as claimed"})
    with store.primed(account, claimed, 41):
        first, second = store.load(account), store.load(account)
    assert (first.data, first.version) == ({"token": "as claimed"}, 41)
    assert (second.data, second.version) == (stored.data, stored.version)
    with store.primed(account, claimed, 41):
        pass  # the sync never loaded: nothing is left for a later one
    assert store.load(account).version == stored.version
    with store.primed(account, None, None):  # a claim without credentials: the database
        assert store.load(account).version == stored.version


def test_relink_makes_a_dead_link_active_again(factory, cipher, account):
    with transaction(factory) as session:
        row = session.get(LinkedAccount, account)
        row.status, row.consecutive_failures = "needs_relink", 4
    with transaction(factory) as session:
        link_account(session, cipher, "P1", "google-health", {"token": "fresh"}, "hu-1")
    with factory() as session:
        row = session.scalars(select(LinkedAccount)).one()
    assert (row.status, row.consecutive_failures) == ("active", 0)
    assert CredentialStore(factory, cipher).load(account).data == {"token": "fresh"}


def test_refreshes_of_one_account_never_overlap(factory, cipher, account):
    """Two workers refresh at once: the second waits for the first's commit and sees its
    token, so the provider is asked once."""
    store = CredentialStore(factory, cipher)
    calls, inside, overlap = [], [], []

    def worker(name: str) -> None:
        with store.refreshing(account) as slot:
            inside.append(name)
            if len(inside) > 1:
                overlap.append(name)
            if slot.current.data.get("token") != "refreshed":
                calls.append(name)
                time.sleep(0.3)  # the provider's token endpoint takes its time
                slot.save({"token": "refreshed"})
            inside.remove(name)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(calls) == 1 and not overlap
    assert store.load(account).data == {"token": "refreshed"}
