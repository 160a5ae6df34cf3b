"""Encrypted provider credentials on ``linked_accounts`` and their safe rotation.

Refreshing a token must happen at most once at a time per account, even across
worker processes: :meth:`CredentialStore.refreshing` holds the account row's
write lock (``SELECT ... FOR UPDATE`` on PostgreSQL, the database write lock on
SQLite) while the caller refreshes and saves, so a second worker waits and then
sees the fresh credentials instead of refreshing again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import NotFound
from core.source import StoredCredentials
from ingest.crypto import Cipher
from ingest.models import LinkedAccount


class LockedCredentials:
    """What :meth:`CredentialStore.refreshing` yields: the current credentials and
    a way to replace them inside the same locked transaction."""

    def __init__(self, session: Session, cipher: Cipher, current: StoredCredentials) -> None:
        self._session = session
        self._cipher = cipher
        self.current = current

    def save(self, data: dict) -> StoredCredentials:
        version = self.current.version + 1
        self._session.execute(
            update(LinkedAccount)
            .where(LinkedAccount.id == self.current.account_id)
            .values(
                credentials=self._cipher.encrypt_json(data),
                credentials_version=version,
                updated_at=utcnow(),
            )
        )
        self.current = StoredCredentials(self.current.account_id, data, version)
        return self.current


_ACCOUNTS = LinkedAccount.__table__
_LOAD = select(_ACCOUNTS.c.credentials, _ACCOUNTS.c.credentials_version).where(
    _ACCOUNTS.c.id == bindparam("id")
)


class CredentialStore:
    """The :class:`core.source.CredentialVault` on ``linked_accounts``, encrypted."""

    def __init__(self, factory: sessionmaker[Session], cipher: Cipher) -> None:
        self._factory = factory
        self._cipher = cipher
        self._primed: dict[int, tuple[bytes, int]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def primed(self, account_id: int, stored: bytes | None, version: int | None):
        """While the block runs, the first :meth:`load` of the account returns this
        stored copy (read moments ago, with the sync's claim) instead of reading it
        again. A copy that is stale by then is no worse than a load just before a
        change: a refresh re-reads under the row lock, and compares versions."""
        if stored is None or version is None:
            yield
            return
        with self._lock:
            self._primed[account_id] = (stored, version)
        try:
            yield
        finally:
            with self._lock:
                self._primed.pop(account_id, None)

    def load(self, account_id: int) -> StoredCredentials:
        with self._lock:
            primed = self._primed.pop(account_id, None)
        if primed is not None:
            return StoredCredentials(account_id, self._cipher.decrypt_json(primed[0]), primed[1])
        with self._factory() as session:  # Core on the session's connection: once per sync
            row = session.connection().execute(_LOAD, {"id": account_id}).one_or_none()
        if row is None:
            raise NotFound(f"linked account {account_id} does not exist")
        return StoredCredentials(account_id, self._cipher.decrypt_json(row[0]), row[1])

    def save_if_unchanged(self, account_id: int, data: dict, expected_version: int) -> bool:
        """Compare-and-set: store ``data`` only if nobody wrote since ``expected_version``."""
        with self._factory() as session, session.begin():
            result = session.execute(
                update(LinkedAccount)
                .where(
                    LinkedAccount.id == account_id,
                    LinkedAccount.credentials_version == expected_version,
                )
                .values(
                    credentials=self._cipher.encrypt_json(data),
                    credentials_version=expected_version + 1,
                    updated_at=utcnow(),
                )
            )
            return result.rowcount == 1

    @contextmanager
    def refreshing(self, account_id: int) -> Iterator[LockedCredentials]:
        """Lock the account's credentials for a refresh; committed on exit."""
        with self._factory() as session, session.begin():
            query = select(LinkedAccount.credentials, LinkedAccount.credentials_version).where(
                LinkedAccount.id == account_id
            )
            if session.bind.dialect.name == "sqlite":
                # A no-op write takes SQLite's single write lock before we read.
                session.execute(
                    update(LinkedAccount)
                    .where(LinkedAccount.id == account_id)
                    .values(credentials_version=LinkedAccount.credentials_version)
                )
            else:
                query = query.with_for_update()
            row = session.execute(query).one_or_none()
            if row is None:
                raise NotFound(f"linked account {account_id} does not exist")
            current = StoredCredentials(account_id, self._cipher.decrypt_json(row[0]), row[1])
            yield LockedCredentials(session, self._cipher, current)
