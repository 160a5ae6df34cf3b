"""The browser's place in a link flow: a signed cookie naming the invitation it
opened and, once linked, the provider and when. It opens nothing by itself: every
step re-checks the invitation row, and a spent invitation only shows its result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request, Response

from core.errors import StridewiseError
from stridewise.web.signing import sign, unsign

LINK_COOKIE = "sw_link"
LINK_COOKIE_S = 3600  # the link flow and its confirmation page: an hour


class NoLinkSession(StridewiseError):
    def __init__(self) -> None:
        super().__init__(
            "This page belongs to a link you opened from an invitation, and that was a "
            "while ago or in another browser. Open your invitation link again."
        )


@dataclass(frozen=True, slots=True)
class LinkSession:
    invitation_id: int
    provider: str | None = None
    linked_at: datetime | None = None

    def encode(self) -> str:
        stamp = int(self.linked_at.timestamp()) if self.linked_at else 0
        return f"{self.invitation_id}_{self.provider or ''}_{stamp}"


def read_session(request: Request) -> LinkSession:
    signed = request.cookies.get(LINK_COOKIE)
    value = unsign(request.app.state.signing_key, signed, LINK_COOKIE_S) if signed else None
    if value is None:
        raise NoLinkSession()
    invitation, provider, stamp = value.split("_")
    linked_at = datetime.fromtimestamp(int(stamp), UTC) if int(stamp) else None
    return LinkSession(int(invitation), provider or None, linked_at)


def write_session(request: Request, response: Response, session: LinkSession) -> None:
    request.app.state.cookies.set(
        response,
        LINK_COOKIE,
        sign(request.app.state.signing_key, session.encode()),
        LINK_COOKIE_S,
    )
