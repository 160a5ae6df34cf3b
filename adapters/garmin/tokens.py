"""The Garmin token store (``client.dumps()``): the only Garmin secret we keep.

Exactly ``{"di_token": "<JWT>", "di_refresh_token": "...", "di_client_id": "..."}``;
never a password. Error messages name the field, never its value.
"""

from __future__ import annotations

import json

from adapters.garmin.client import TOKEN_KEYS
from core.errors import StridewiseError


def credentials_from_token_file(text: str) -> dict:
    """Validate a garminconnect token store (JSON text) and return what to store."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise StridewiseError("the Garmin token file is not JSON") from err
    return valid_tokens(data)


def valid_tokens(data: object) -> dict:
    """The three token-store fields, each a non-empty string (the token a JWT)."""
    if not isinstance(data, dict):
        raise StridewiseError("the Garmin token store must be one JSON object")
    for key in TOKEN_KEYS:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise StridewiseError(f"the Garmin token store has no {key}")
    if data["di_token"].count(".") != 2:
        raise StridewiseError("the Garmin token store's di_token is not a JWT")
    return {key: data[key] for key in TOKEN_KEYS}
