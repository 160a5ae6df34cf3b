"""The Google sandbox's push notifications: when a user's data changes, POST the
notification Google would send (``providers.md``, "Webhooks") to a configured URL,
with the configured ``Authorization`` secret and, given a P-256 key, the
``X-HEALTHAPI-SIGNATURE`` over the raw body.

Data changes here the way it does on a real watch: the device uploads what it
counted up to a moment (``upload``), or the user logs a walk by hand (``log_walk``).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.google_health import GoogleSandboxState


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class GooglePusher:
    """Pushes a notification for every change it makes to ``state``."""

    def __init__(
        self,
        state: GoogleSandboxState,
        url: str,
        secret: str,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.state, self.url, self.secret, self.signing_key = state, url, secret, signing_key
        self.http = http or httpx.Client(timeout=10.0)
        self.sent: list[int] = []  # the receiver's status per notification

    def notification(self, person: str, start: datetime, end: datetime) -> bytes:
        data = {
            "version": "1",
            "healthUserId": self.state.users[person].health_user_id,
            "operation": "UPSERT",
            "dataType": "steps",
            "intervals": [
                {"physicalTimeInterval": {"startTime": _stamp(start), "endTime": _stamp(end)}}
            ],
        }
        return json.dumps({"data": data}, separators=(",", ":")).encode()

    def push(self, body: bytes) -> int:
        headers = {"Authorization": self.secret, "Content-Type": "application/json"}
        if self.signing_key is not None:
            signature = self.signing_key.sign(body, ec.ECDSA(hashes.SHA256()))
            headers["X-HEALTHAPI-SIGNATURE"] = base64.b64encode(signature).decode()
        status = self.http.post(self.url, content=body, headers=headers).status_code
        self.sent.append(status)
        return status

    def upload(self, person: str, through: datetime) -> int:
        """The watch syncs: minutes up to ``through`` become visible, then one push."""
        user = self.state.users[person]
        start = user.uploaded_through or through - timedelta(days=1)
        user.uploaded_through = through
        return self.push(self.notification(person, start, through))

    def log_walk(self, person: str, day: date, steps: int) -> int:
        """A walk logged by hand at noon on ``day`` (a MANUAL point), then one push."""
        user = self.state.users[person]
        user.manual[day] = steps
        noon = datetime.combine(day, time(12), ZoneInfo(user.zone_on(day))).astimezone(UTC)
        return self.push(self.notification(person, noon, noon + timedelta(minutes=30)))
