"""Import DICOM files and folders: the same path as a C-STORE, from disk.

Each file is stored as received (spool + row) and then processed here, or by
the broker's workers with --queue.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from tqdm import tqdm

from ingest.dispatch import enqueue_processing
from ingest.models import ReceivedObject
from ingest.services import received_object_process, received_object_store

Status = ReceivedObject.Status

_HEADER_TAGS = ["SOPInstanceUID", "SOPClassUID"]

_COUNT_OF_STATUS = {
    Status.DONE: "imported",
    Status.NOT_RELEVANT: "not dose",
    Status.FAILED: "failed",
}


class NotDicom(Exception):
    pass


class Command(BaseCommand):
    help = "Import DICOM files (folders recursively) as if a modality had sent them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="hand processing to the broker's workers instead of doing it here",
        )
        parser.add_argument(
            "--progress", action="store_true", help="show a progress bar even when not on a terminal"
        )

    def handle(self, *args, paths: list[Path], queue: bool, progress: bool, **options) -> None:
        files = _files_under(paths)
        counts: Counter[str] = Counter()
        skipped: list[Path] = []
        failures: list[tuple[Path, str]] = []
        bar = tqdm(
            files,
            unit="file",
            file=sys.stderr,
            disable=not (progress or sys.stderr.isatty()),
            dynamic_ncols=True,
        )
        for path in bar:
            try:
                outcome = _import_one(path, queue=queue)
            except NotDicom:
                skipped.append(path)
                continue
            except (OSError, DatabaseError, ValueError) as exc:
                counts["failed"] += 1
                failures.append((path, f"could not store: {exc} [{type(exc).__name__}]"))
                continue
            counts[outcome.count] += 1
            if outcome.error:
                failures.append((path, outcome.error))
        bar.close()

        for path, error in failures:
            self.stderr.write(f"failed: {path}: {error}")
        for path in skipped:
            self.stderr.write(f"skipped (not DICOM): {path}")
        self.stdout.write(_summary(counts, skipped=len(skipped), queue=queue))
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} object(s) failed", returncode=1)


@dataclass
class _Outcome:
    count: str  # the summary's bucket
    error: str = ""


def _import_one(path: Path, *, queue: bool) -> _Outcome:
    data = path.read_bytes()
    sop_instance_uid, sop_class_uid, transfer_syntax_uid = _header(data)
    stored = received_object_store(
        data=data,
        sop_instance_uid=sop_instance_uid,
        sop_class_uid=sop_class_uid,
        transfer_syntax_uid=transfer_syntax_uid,
        origin=ReceivedObject.Origin.IMPORT,
        enqueue=False,
    )
    received = stored.received
    # Done or not relevant before: a duplicate. A failed one was reset by the
    # store (a resend after a fix) and waits like a new one.
    if not stored.created and received.status != Status.RECEIVED:
        return _Outcome("duplicate")
    if queue:
        enqueue_processing(received.pk)
        return _Outcome("queued")
    try:
        received = received_object_process(received_object_id=received.pk)
    except DatabaseError as exc:
        return _Outcome("failed", f"database error while processing (left for the sweeper): {exc}")
    return _Outcome(_COUNT_OF_STATUS.get(received.status, "failed"), received.error)


def _header(data: bytes) -> tuple[str, str, str]:
    """SOP Instance/Class UID and transfer syntax, without decoding the rest."""
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    except InvalidDicomError:
        # No preamble: still DICOM if a forced read finds the UIDs.
        try:
            ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=_HEADER_TAGS, force=True)
        except Exception as exc:
            raise NotDicom from exc
    except Exception as exc:
        raise NotDicom from exc
    meta = getattr(ds, "file_meta", None)
    sop_instance_uid = str(
        ds.get("SOPInstanceUID") or (meta and meta.get("MediaStorageSOPInstanceUID")) or ""
    )
    sop_class_uid = str(ds.get("SOPClassUID") or (meta and meta.get("MediaStorageSOPClassUID")) or "")
    if not sop_instance_uid or not sop_class_uid:
        raise NotDicom
    transfer_syntax_uid = str((meta and meta.get("TransferSyntaxUID")) or "")
    return sop_instance_uid.strip("\x00 "), sop_class_uid.strip("\x00 "), transfer_syntax_uid


def _files_under(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"no such file or folder: {path}")
    return files


def _summary(counts: Counter[str], *, skipped: int, queue: bool) -> str:
    parts = [f"imported {counts['imported']}"] if not queue else [f"queued {counts['queued']}"]
    parts += [f"duplicate {counts['duplicate']}"]
    if not queue:
        parts += [f"not dose {counts['not dose']}"]
    parts += [f"failed {counts['failed']}", f"skipped {skipped} (not DICOM)"]
    return ", ".join(parts)
