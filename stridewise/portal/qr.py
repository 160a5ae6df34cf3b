"""An invitation as a QR code: text blocks for a terminal, PNG or SVG for a printout."""

from __future__ import annotations

import io
from pathlib import Path

import segno

from core.errors import StridewiseError


def terminal_qr(url: str) -> str:
    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def save_qr(url: str, path: Path) -> Path:
    """``path`` ends in .png or .svg."""
    if path.suffix.lower() not in (".png", ".svg"):
        raise StridewiseError(f"{path}: the QR code file must end in .png or .svg")
    segno.make(url, error="m").save(str(path), scale=8, border=4)
    return path
