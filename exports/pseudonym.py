"""Pseudonyms: a keyed hash (HMAC-SHA256) under the installation's own secret. Pure.

The same identifier gives the same pseudonym in every export of one
installation, so repeated surveys stay linkable; without the secret nobody can
go back from the pseudonym to the identifier, nor compute it from a guessed ID.
"""

from __future__ import annotations

import hashlib
import hmac

# 128 bits of the digest: no collisions among any hospital's patients, short enough to read.
PSEUDONYM_HEX_DIGITS = 32


def pseudonym(*, secret: str, kind: str, value: str) -> str:
    """The pseudonym of an identifier of a kind ("patient", "study", "accession"); "" for none.

    The kind is hashed too, so a patient ID and an accession number that happen
    to be the same text get different pseudonyms.
    """
    value = (value or "").strip()
    if not value:
        return ""
    if not secret:
        raise ValueError("no export secret: pseudonyms would be plain hashes anyone can recompute")
    digest = hmac.new(secret.encode("utf-8"), f"{kind}\x1f{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:PSEUDONYM_HEX_DIGITS]
