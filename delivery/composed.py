"""A message ready for any channel: subject, text, HTML with inline images,
attachments, and the JSON a webhook carries."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes


@dataclass
class Composed:
    subject: str
    text: str
    html: str | None = None
    # cid -> PNG bytes, referenced from the HTML as ``cid:<cid>``.
    images: dict[str, bytes] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    # The webhook body's ``data``; ``event`` is its ``type``.
    event: str = "message"
    data: dict = field(default_factory=dict)
    # Alerts this message tells about, and alerts it takes back.
    alert_ids: list[int] = field(default_factory=list)
    retracted_ids: list[int] = field(default_factory=list)
