"""The spool: every received object's bytes on disk, durably, before we answer.

Layout `SPOOL_DIR/YYYY/MM/DD/<uid>.dcm` (UTC date of receipt). A file is either
absent or complete: it is written to a temporary name in the same directory,
flushed and fsynced, renamed over the final name, and the directory is fsynced
so the rename itself survives a power cut.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import secrets
import tempfile
from pathlib import Path

from django.conf import settings

_NOT_UID_CHARS = re.compile(r"[^0-9.]")
_UID_MAX_LENGTH = 64


def spool_dir() -> Path:
    return Path(settings.SPOOL_DIR)


def spool_filename(sop_instance_uid: str, *, variant: str = "") -> str:
    """A file name made only of digits and dots, so no UID can leave the spool.

    A conforming UID maps to itself. Anything else (letters, slashes, "..")
    is stripped to its digits and dots and given a numeric digest of the
    original, so two different malformed UIDs never share a file.
    """
    cleaned = _NOT_UID_CHARS.sub("", sop_instance_uid).strip(".")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:_UID_MAX_LENGTH]
    if cleaned != sop_instance_uid or not cleaned:
        digest = int(hashlib.sha256(sop_instance_uid.encode("utf-8", "surrogateescape")).hexdigest()[:15], 16)
        cleaned = f"{cleaned}.{digest}" if cleaned else str(digest)
    if variant:
        cleaned = f"{cleaned}.{re.sub(r'[^0-9a-z]', '', variant.lower())}"
    return f"{cleaned}.dcm"


def spool_write(*, data: bytes, sop_instance_uid: str, when: dt.datetime, variant: str = "") -> Path:
    """Write `data` durably and atomically; return the final path.

    `variant` (letters and digits) tells apart a second, different copy of the
    same SOP instance, which is kept beside the first rather than lost.
    """
    when_utc = when.astimezone(dt.UTC) if when.tzinfo else when
    day_dir = spool_dir() / f"{when_utc:%Y}" / f"{when_utc:%m}" / f"{when_utc:%d}"
    _make_dirs_durably(day_dir)
    return _write_durably(day_dir / spool_filename(sop_instance_uid, variant=variant), data)


def _make_dirs_durably(path: Path) -> None:
    # A new day directory is only durable once its parent's entry is synced.
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        # Another writer may have made it a moment ago without having synced
        # the parent yet: sync it anyway.
        directory.mkdir(exist_ok=True)
        _fsync_dir(directory.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- incoming: answered, not yet registered -----------------------------------
#
# The C-STORE handler writes each object here (durably) and answers; a writer
# thread then registers receipts in batches and moves each file to its dated
# place. A file still here after a crash is registered at the next start. Its
# name carries what the row needs beyond the file meta: the time of receipt
# and who sent it.

INCOMING = "incoming"
_FIELD_SEPARATOR = "\x1f"
# Most file systems allow 255 bytes per name; beyond this the sender fields are
# left out (the file meta still names the object).
_MAX_INCOMING_NAME = 240
_durable_dirs: set[Path] = set()


def spool_incoming_dir() -> Path:
    return spool_dir() / INCOMING


def spool_day_path(*, sop_instance_uid: str, when: dt.datetime) -> Path:
    """Where the object received at `when` lives once registered."""
    when_utc = when.astimezone(dt.UTC) if when.tzinfo else when
    return (
        spool_dir()
        / f"{when_utc:%Y}"
        / f"{when_utc:%m}"
        / f"{when_utc:%d}"
        / spool_filename(sop_instance_uid)
    )


def incoming_name(
    *, received_ns: int, sop_instance_uid: str, calling_ae: str, called_ae: str, peer: str
) -> str:
    fields = _FIELD_SEPARATOR.join((sop_instance_uid, calling_ae, called_ae, peer))
    encoded = base64.urlsafe_b64encode(fields.encode("utf-8", "surrogateescape")).decode().rstrip("=")
    name = f"{received_ns}.{encoded}.dcm"
    if len(name) > _MAX_INCOMING_NAME:
        name = f"{received_ns}.{secrets.token_hex(8)}.dcm"
    return name


def incoming_name_fields(name: str) -> tuple[int, dict[str, str]]:
    """(receipt time in ns, sender fields) from an incoming file's name; fields may be empty."""
    stem, _, _ = name.rpartition(".dcm")
    ns_text, _, encoded = stem.partition(".")
    received_ns = int(ns_text)
    try:
        decoded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode(
            "utf-8", "surrogateescape"
        )
        uid, calling, called, peer = decoded.split(_FIELD_SEPARATOR)
    except ValueError:
        return received_ns, {}
    return received_ns, {
        "sop_instance_uid": uid,
        "calling_ae": calling,
        "called_ae": called,
        "peer_address": peer,
    }


def spool_write_incoming(*, data: bytes, name: str) -> Path:
    """Write `data` to incoming/<name> atomically and durably; return the path."""
    incoming = spool_incoming_dir()
    if incoming not in _durable_dirs or not incoming.is_dir():
        _make_dirs_durably(incoming)
        _durable_dirs.add(incoming)
    return _write_durably(incoming / name, data)


def _write_durably(final: Path, data: bytes) -> Path:
    """Temp file, fsync, rename, directory fsync: the name appears only with all its bytes."""
    fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".incoming-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, final)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(final.parent)
    return final


def spool_move_into_place(moves: list[tuple[Path, Path]]) -> None:
    """Rename incoming files to their dated places, then sync each directory once."""
    touched: set[Path] = set()
    for source, target in moves:
        _make_dirs_durably(target.parent)
        os.replace(source, target)
        touched.add(target.parent)
    for directory in touched:
        _fsync_dir(directory)
    if moves:
        _fsync_dir(moves[0][0].parent)


def spool_remove_stale_temporaries() -> int:
    """Delete half-written incoming files: never answered, so the sender resends them.

    Only safe while no handler is writing (at start-up).
    """
    incoming = spool_incoming_dir()
    if not incoming.is_dir():
        return 0
    removed = 0
    for path in incoming.glob(".incoming-*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
