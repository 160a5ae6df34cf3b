"""What every provider adapter offers the sync engine.

An adapter turns one linked account's data for a window of local dates into a
:class:`~core.schema.StepBatch`. It raises only the provider kinds in
:mod:`core.errors`; points that are merely bad are skipped and listed in
:attr:`FetchResult.skipped` so the good ones beside them are kept.

Adapters never open the database: their credentials come through a
:class:`CredentialVault` that storage implements and the application passes in.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from core.schema import StepBatch


@dataclass(frozen=True, slots=True)
class AccountRef:
    """The parts of a linked account an adapter may read (never the raw row)."""

    account_id: int
    patient_id: str
    provider: str
    external_user_id: str | None
    timezone: str | None


@dataclass(frozen=True, slots=True)
class DateWindow:
    """Local calendar dates, both ends included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"window ends ({self.last}) before it starts ({self.first})")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(slots=True)
class FetchResult:
    batch: StepBatch = field(default_factory=StepBatch)
    # One plain line per skipped point or day: what was wrong with it.
    skipped: list[str] = field(default_factory=list)
    api_calls: int = 0


class StepSource(Protocol):
    provider: str

    def fetch(self, account: AccountRef, window: DateWindow) -> FetchResult: ...


@dataclass(frozen=True)
class StoredCredentials:
    """One account's provider credentials as stored, with the version that guards
    concurrent writers."""

    account_id: int
    data: dict
    version: int


class RefreshSlot(Protocol):
    """The locked credentials during a refresh, and a way to replace them."""

    current: StoredCredentials

    def save(self, data: dict) -> StoredCredentials: ...


class CredentialVault(Protocol):
    """Where an adapter reads and replaces one account's credentials."""

    def load(self, account_id: int) -> StoredCredentials: ...

    def save_if_unchanged(self, account_id: int, data: dict, expected_version: int) -> bool: ...

    def refreshing(self, account_id: int) -> AbstractContextManager[RefreshSlot]: ...
