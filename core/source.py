"""What every provider adapter offers the sync engine.

An adapter turns one linked account's data for a window of local dates into a
:class:`~core.schema.StepBatch`. It raises only the provider kinds in
:mod:`core.errors`; points that are merely bad are skipped and listed in
:attr:`FetchResult.skipped` so the good ones beside them are kept.

Adapters never open the database: their credentials come through a
:class:`CredentialVault` that storage implements and the application passes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
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


@dataclass(frozen=True, slots=True)
class MinuteScope:
    """A routine sync's narrower ask for minute data within its window.

    The window's daily totals are always fetched whole (a few points). Minute data
    is wanted from ``since`` on, plus every whole day of the window before
    ``since``'s whose daily total differs from ``known_totals`` (what is stored; a
    day missing there counts as moved): a late upload into an older day moves its
    total. On ``since``'s own day (``tail_day``, the patient's date) the total moves
    with every new minute, so there the check is that the stored steps before
    ``since`` (``stored_before``) plus the fetched ones from it add up to the total;
    if not, minutes landed late before ``since`` and the rest of that day is read.
    How close an adapter gets to this depends on what its API can be asked for;
    each adapter's docstring says. ``None`` in its place means all of the window.
    """

    since: datetime  # aware
    tail_day: date
    known_totals: Mapping[date, int] = field(default_factory=dict)
    stored_before: int = 0
    # What the last sync saw the provider hold data up to (its FetchResult.data_through).
    seen_through: datetime | None = None

    def moved(self, totals: Mapping[date, int]) -> set[date]:
        """Days whose fetched total differs from the stored one, either way."""
        days = set(totals) | set(self.known_totals)
        return {d for d in days if totals.get(d) != self.known_totals.get(d)}


@dataclass(slots=True)
class FetchResult:
    batch: StepBatch = field(default_factory=StepBatch)
    # One plain line per skipped point or day: what was wrong with it.
    skipped: list[str] = field(default_factory=list)
    api_calls: int = 0
    # The newest instant the provider held data up to, as far as this fetch saw
    # (the newest interval's end, or the provider's own last-upload time); None
    # when it saw none. A device uploads in order, so its next upload starts there:
    # routine syncs read from here (less an overlap).
    data_through: datetime | None = None


class StepSource(Protocol):
    provider: str

    def fetch(
        self, account: AccountRef, window: DateWindow, scope: MinuteScope | None = None
    ) -> FetchResult: ...


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
