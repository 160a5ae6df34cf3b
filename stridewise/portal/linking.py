"""What both browser link flows share: the refusal a page shows, and the end of a
flow (the invitation is spent once a link is stored)."""

from __future__ import annotations

from typing import ClassVar

import structlog
from sqlalchemy.orm import Session, sessionmaker

from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.portal_models import Invitation, PendingLogin
from stridewise.portal.invitations import InvitationRefused, use_invitation
from stridewise.portal.pending import PendingExpired, find_pending

log = structlog.get_logger("stridewise.portal")


class LinkRefused(Exception):
    """A link that was not made, and nothing was stored; ``reason`` picks the words."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "state": "This answer from Google does not belong to the link you started here, so "
        "it was refused. Go back to your invitation and start again.",
        "denied": "You did not give stridewise access, so nothing was linked. If that was a "
        "mistake, go back to your invitation and try again.",
        "scopes": "stridewise needs to read your steps and your time zone, but not all of "
        "that was allowed. Nothing was linked: try again and tick every box.",
        "exchange": "Google did not confirm this link (the answer may have been used "
        "already). Nothing was linked: go back to your invitation and start again.",
        "identity": "Google Health did not let stridewise read your account. Nothing was "
        "linked: try again in a few minutes.",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason = reason


def take_pending(
    session: Session, cipher: Cipher, key: str, provider: str, invitation_id: int
) -> tuple[PendingLogin, dict]:
    """The pending step behind ``key``, which must belong to this browser's invitation
    (another's is refused as if unknown), and its decrypted payload."""
    row = find_pending(session, key, provider)
    if row.invitation_id != invitation_id:
        raise PendingExpired()
    return row, cipher.decrypt_json(row.payload)


def spend(factory: sessionmaker[Session], invitation_id: int, provider: str) -> None:
    """Mark the invitation used (a link was stored); a second flow finishing at the same
    moment is fine."""
    log.info("portal.linked", invitation_id=invitation_id, provider=provider)
    try:
        with transaction(factory) as session:
            use_invitation(session, invitation_id)
    except InvitationRefused:
        pass


def invitation(session: Session, invitation_id: int) -> Invitation:
    row = session.get(Invitation, invitation_id)
    if row is None:
        raise InvitationRefused("unknown")
    return row
