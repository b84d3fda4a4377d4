"""The spool: every received object's bytes on disk, durably, before we answer.

Layout `SPOOL_DIR/YYYY/MM/DD/<uid>.dcm` (UTC date of receipt). A file is either
absent or complete: it is written to a temporary name in the same directory,
flushed and fsynced, renamed over the final name, and the directory is fsynced
so the rename itself survives a power cut.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
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
    final = day_dir / spool_filename(sop_instance_uid, variant=variant)
    fd, tmp_name = tempfile.mkstemp(dir=day_dir, prefix=".incoming-", suffix=".tmp")
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
    _fsync_dir(day_dir)
    return final


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
