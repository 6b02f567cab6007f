"""Identifiers: a readable prefix plus 12 random base-32 characters (60 bits)."""

from __future__ import annotations

import base64
import os


def new_id(prefix: str) -> str:
    # One urandom call and a C-level encode: ids are minted per event on the ingest path, and twelve
    # secrets.choice calls cost ~25 µs there. 8 random bytes give 13 base-32 characters; 12 are kept.
    return prefix + "-" + base64.b32encode(os.urandom(8)).decode("ascii")[:12].lower()
