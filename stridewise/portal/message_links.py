"""The links every patient message carries (``delivery.config.PatientLinks``): the
patient's own-data page and, when their consent was revoked, a relink page. Each is
stored in its own transaction, so it works even if the message is sent again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ingest.db import transaction
from ingest.models import LinkedAccount, LinkStatus
from stridewise.portal.data_links import create_data_link, data_link_url
from stridewise.portal.invitations import RELINKABLE, create_invitation, invitation_url


@dataclass(frozen=True)
class PortalLinks:
    factory: sessionmaker[Session]
    public_url: str
    days: int  # how long a link stays valid (the invitation setting)

    def own_data(self, patient_id: str, now: datetime) -> str:
        with transaction(self.factory) as session:
            token = create_data_link(session, patient_id, self.days, now)
        return data_link_url(self.public_url, token)

    def relink(self, patient_id: str, now: datetime) -> str | None:
        with transaction(self.factory) as session:
            provider = session.scalars(
                select(LinkedAccount.provider).where(
                    LinkedAccount.patient_id == patient_id,
                    LinkedAccount.status == LinkStatus.NEEDS_RELINK.value,
                    LinkedAccount.provider.in_(RELINKABLE),
                )
            ).first()
            if provider is None:
                return None
            invitation = create_invitation(
                session, patient_id, self.days, provider=provider, now=now
            )
        return invitation_url(self.public_url, invitation.token, relink=True)
