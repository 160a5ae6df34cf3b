"""Fitbit and Pixel Watch through the Google Health API v4.

api.py is the only code touching the network and translates every HTTP failure
into :mod:`core.errors`; auth.py keeps OAuth tokens (google-auth refreshes
them, at most once at a time per account); parse.py turns JSON into samples;
adapter.py fetches a window; consent.py links an account (PKCE, loopback redirect).
"""

from adapters.google_health.adapter import GoogleHealthAdapter
from adapters.google_health.auth import credentials_from_token_file

__all__ = ["GoogleHealthAdapter", "credentials_from_token_file"]
