"""Garmin Connect through garminconnect 0.3.2 (Garmin's DI OAuth tokens).

client.py builds the library client (the only place hosts are set), errors.py
translates its exceptions, parse.py turns JSON into samples, adapter.py fetches,
login.py links an account, tokens.py validates the stored token store.
"""

from adapters.garmin.adapter import GarminAdapter
from adapters.garmin.tokens import credentials_from_token_file

__all__ = ["GarminAdapter", "credentials_from_token_file"]
