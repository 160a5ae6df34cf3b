"""Deleting everything stridewise holds about a patient, at their request.

Provider grants are revoked first where the API allows it (Google's revoke
endpoint; Garmin has none, so its tokens are simply destroyed). Then every row
that belongs to the patient goes, in one transaction: rows of every table with a
``patient_id``, rows that reach the patient through foreign keys (sync runs via
their account, pending logins via their invitation), and the patient. The tables
are read from the database itself, so tables added by later migrations are
covered without a list to keep up to date.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy import Engine, MetaData, Table, delete, false, or_, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from adapters.google_health.revoke import revoke
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.linking import list_accounts
from ingest.patients import get_patient
from stridewise.providers import google_config
from stridewise.settings import Settings

log = structlog.get_logger("stridewise.portal")
REVOCABLE = {"google-health"}


@dataclass(frozen=True, slots=True)
class Deleted:
    rows: int
    revoked: tuple[str, ...]  # providers whose grant was ended at the provider
    not_revoked: tuple[str, ...]  # providers that could not be reached to revoke


def _owned(table: Table, patient_id: str, seen: frozenset[str]) -> ColumnElement[bool]:
    """Which rows of ``table`` belong to the patient, directly or through foreign keys."""
    if table.name == "patients":
        return table.c.id == patient_id
    if "patient_id" in table.c:
        return table.c.patient_id == patient_id
    conditions = []
    for fk in table.foreign_keys:
        parent = fk.column.table
        if parent.name in seen:
            continue
        owned = _owned(parent, patient_id, seen | {table.name})
        conditions.append(fk.parent.in_(select(fk.column).where(owned)))
    return or_(*conditions) if conditions else false()


def _revoke_grants(session: Session, settings: Settings, cipher: Cipher, patient_id: str):
    revoked, failed = [], []
    config = google_config(settings)
    with httpx.Client(timeout=10.0) as http:
        for account in list_accounts(session, patient_id):
            if account.provider not in REVOCABLE:
                continue
            credentials = cipher.decrypt_json(account.credentials)
            (revoked if revoke(config, http, credentials) else failed).append(account.provider)
    return tuple(revoked), tuple(failed)


def delete_patient(
    engine: Engine, factory: sessionmaker[Session], settings: Settings, patient_id: str
) -> Deleted:
    cipher = Cipher(settings.secret_key)
    with factory() as session:
        get_patient(session, patient_id)
        revoked, failed = _revoke_grants(session, settings, cipher, patient_id)
    tables = MetaData()
    tables.reflect(engine)
    rows = 0
    with transaction(factory) as session:
        for table in reversed(tables.sorted_tables):
            condition = _owned(table, patient_id, frozenset())
            rows += session.execute(delete(table).where(condition)).rowcount or 0
    log.info("patient deleted", patient=patient_id, rows=rows, revoked=list(revoked))
    return Deleted(rows, revoked, failed)
