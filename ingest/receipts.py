"""Registering objects the SCP has answered: rows in batches, files into place.

The C-STORE handler only writes the bytes durably to `SPOOL_DIR/incoming/` and
hands a `Receipt` to a `ReceiptWriter`, a thread of the SCP process, so a
sender waits for one fsync rather than for the database. The writer registers
receipts in batches: one SELECT for the UIDs already known, one INSERT for the
new ones, then moves each file to its dated place and enqueues processing.
A known UID (a resend) goes through `received_object_store`, whose rules for
resends stay the only ones.

Nothing answered is lost: until its row is committed and its file moved, an
object's file stays in incoming, and `receipts_recover` (at start-up, and every
so often for files older than a minute) registers whatever is there. A row
committed whose file was not moved yet is repaired the same way.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from pydicom.filereader import read_file_meta_info

from ingest import dispatch
from ingest.models import ReceivedObject
from ingest.services import received_object_store
from ingest.spool import (
    incoming_name_fields,
    spool_day_path,
    spool_incoming_dir,
    spool_move_into_place,
    spool_remove_stale_temporaries,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
# Files this old in incoming, not in the writer's hands, were left behind.
LEFT_BEHIND_AFTER_SECONDS = 60
RESCAN_EVERY_SECONDS = 30
RETRY_MAX_SECONDS = 10.0


@dataclass(frozen=True)
class Receipt:
    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    calling_ae: str
    called_ae: str
    peer_address: str
    received_at: dt.datetime
    size_bytes: int


def receipt_from_incoming_file(path: Path) -> Receipt:
    """Rebuild the receipt of a file left in incoming (name and file meta)."""
    received_ns, fields = incoming_name_fields(path.name)
    meta = read_file_meta_info(path)
    return Receipt(
        path=path,
        sop_instance_uid=fields.get("sop_instance_uid") or str(meta.get("MediaStorageSOPInstanceUID", "")),
        sop_class_uid=str(meta.get("MediaStorageSOPClassUID", "")),
        transfer_syntax_uid=str(meta.get("TransferSyntaxUID", "")),
        calling_ae=fields.get("calling_ae") or str(meta.get("SourceApplicationEntityTitle", "") or ""),
        called_ae=fields.get("called_ae", ""),
        peer_address=fields.get("peer_address", ""),
        received_at=dt.datetime.fromtimestamp(received_ns / 1e9, tz=dt.UTC),
        size_bytes=path.stat().st_size,
    )


def receipts_register(*, receipts: list[Receipt], enqueue: bool = True) -> list[int]:
    """Register answered objects; return the ids to process (enqueued if `enqueue`).

    Idempotent per file: a receipt whose incoming file is gone was registered
    already and is skipped.
    """
    receipts = [r for r in receipts if r.path.is_file()]
    if not receipts:
        return []
    first: dict[str, Receipt] = {}
    again: list[Receipt] = []
    for receipt in receipts:
        if receipt.sop_instance_uid in first:
            again.append(receipt)
        else:
            first[receipt.sop_instance_uid] = receipt
    known = {
        uid: (pk, spool_path, status)
        for uid, pk, spool_path, status in ReceivedObject.objects.filter(
            sop_instance_uid__in=list(first)
        ).values_list("sop_instance_uid", "pk", "spool_path", "status")
    }
    new = [r for uid, r in first.items() if uid not in known]
    to_process: list[int] = []
    try:
        to_process += _register_new(new)
    except IntegrityError:
        # Someone else (import, another listener) stored one of these UIDs
        # a moment ago: register them one by one instead.
        logger.info("a batch of %d receipts raced another writer; registering them one by one", len(new))
        again = new + again
    repairs: list[tuple[Path, Path]] = []
    for uid, (pk, spool_path, status) in known.items():
        receipt = first[uid]
        target = spool_day_path(sop_instance_uid=uid, when=receipt.received_at)
        if spool_path == str(target) and not target.exists() and status != ReceivedObject.Status.FAILED:
            # Our own row, committed before a crash stopped the move.
            repairs.append((receipt.path, target))
            if status == ReceivedObject.Status.RECEIVED:
                to_process.append(pk)
        else:
            again.append(receipt)
    spool_move_into_place(repairs)
    for receipt in again:
        to_process += _register_one(receipt)
    if enqueue and to_process:
        _enqueue(to_process)
    return to_process


def _register_new(new: list[Receipt]) -> list[int]:
    if not new:
        return []
    targets = [spool_day_path(sop_instance_uid=r.sop_instance_uid, when=r.received_at) for r in new]
    rows = [
        ReceivedObject(
            sop_instance_uid=r.sop_instance_uid,
            sop_class_uid=r.sop_class_uid[:64],
            transfer_syntax_uid=r.transfer_syntax_uid[:64],
            origin=ReceivedObject.Origin.SCP,
            calling_ae=r.calling_ae[:16],
            called_ae=r.called_ae[:16],
            peer_address=r.peer_address[:64],
            received_at=r.received_at,
            last_received_at=r.received_at,
            spool_path=str(target),
            size_bytes=r.size_bytes,
        )
        for r, target in zip(new, targets, strict=True)
    ]
    with transaction.atomic():
        created = ReceivedObject.objects.bulk_create(rows)
    # Moved only after the commit: until then the file stays where recovery looks.
    spool_move_into_place([(r.path, target) for r, target in zip(new, targets, strict=True)])
    return [row.pk for row in created]


def _register_one(receipt: Receipt) -> list[int]:
    """A resend (or a race): the services' rules, then the incoming copy goes."""
    try:
        data = receipt.path.read_bytes()
    except FileNotFoundError:
        return []
    with transaction.atomic():
        before = (
            ReceivedObject.objects.filter(sop_instance_uid=receipt.sop_instance_uid)
            .values_list("status", flat=True)
            .first()
        )
        outcome = received_object_store(
            data=data,
            sop_instance_uid=receipt.sop_instance_uid,
            sop_class_uid=receipt.sop_class_uid,
            transfer_syntax_uid=receipt.transfer_syntax_uid,
            origin=ReceivedObject.Origin.SCP,
            calling_ae=receipt.calling_ae,
            called_ae=receipt.called_ae,
            peer_address=receipt.peer_address,
            enqueue=False,
        )
        # As `received_object_store` would enqueue: a new row, or a failed one reset.
        needs_processing = outcome.created or (
            before == ReceivedObject.Status.FAILED
            and outcome.received.status == ReceivedObject.Status.RECEIVED
        )
    receipt.path.unlink(missing_ok=True)
    return [outcome.received.pk] if needs_processing else []


def _enqueue(ids: list[int]) -> None:
    # Registered is registered: a failure here must not make the writer
    # register the batch again. The sweeper enqueues what stays RECEIVED.
    try:
        many = getattr(dispatch, "enqueue_processing_many", None)
        if many is not None:
            many(ids)
        else:
            for pk in ids:
                dispatch.enqueue_processing(pk)
    except Exception:
        logger.exception("could not enqueue %d registered objects; left for the sweeper", len(ids))


def receipts_left_behind(*, older_than_seconds: float = 0, exclude: set[Path] = frozenset()) -> list[Receipt]:
    incoming = spool_incoming_dir()
    if not incoming.is_dir():
        return []
    cutoff = time.time() - older_than_seconds
    receipts = []
    for path in sorted(incoming.glob("*.dcm")):
        if path in exclude:
            continue
        try:
            if path.stat().st_mtime > cutoff:
                continue
            receipts.append(receipt_from_incoming_file(path))
        except FileNotFoundError:
            continue
        except Exception:
            logger.exception("cannot read the incoming file %s; left where it is", path)
    return receipts


def receipts_recover(*, enqueue: bool = True) -> int:
    """At start-up, before any C-STORE: register everything left in incoming."""
    spool_remove_stale_temporaries()
    left = receipts_left_behind()
    for start in range(0, len(left), BATCH_SIZE):
        receipts_register(receipts=left[start : start + BATCH_SIZE], enqueue=enqueue)
    if left:
        logger.info("registered %d objects an earlier run answered but had not registered", len(left))
    return len(left)


class ReceiptWriter:
    """The SCP's thread that registers receipts in batches, retrying while the database is away."""

    def __init__(self, *, enqueue: bool = True) -> None:
        self.enqueue = enqueue
        self._queue: collections.deque[Receipt] = collections.deque()
        self._held: set[Path] = set()
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="receipt-writer", daemon=True)

    def start(self) -> ReceiptWriter:
        self._thread.start()
        return self

    def submit(self, receipt: Receipt) -> None:
        with self._cond:
            self._queue.append(receipt)
            self._held.add(receipt.path)
            self._cond.notify()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every submitted receipt is registered (and, without a broker, processed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self, *, timeout: float = 30.0) -> None:
        """Register what is queued (for up to `timeout`), then end; the rest waits in incoming."""
        self.wait_idle(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.0
        next_scan = time.monotonic() + RESCAN_EVERY_SECONDS
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._stopping and time.monotonic() < next_scan:
                        self._cond.wait(max(0.0, next_scan - time.monotonic()))
                    if self._stopping and (not self._queue or backoff):
                        return
                    self._busy = True
                if self._queue and not backoff:
                    # Let a burst gather into one batch.
                    time.sleep(settings.RECEIPT_BATCH_WAIT_SECONDS)
                with self._cond:
                    batch = [self._queue.popleft() for _ in range(min(BATCH_SIZE, len(self._queue)))]
                try:
                    if time.monotonic() >= next_scan:
                        next_scan = time.monotonic() + RESCAN_EVERY_SECONDS
                        with self._cond:
                            held = set(self._held)
                        for receipt in receipts_left_behind(
                            older_than_seconds=LEFT_BEHIND_AFTER_SECONDS, exclude=held
                        ):
                            self.submit(receipt)
                    if batch:
                        receipts_register(receipts=batch, enqueue=self.enqueue)
                    backoff = 0.0
                except Exception:
                    backoff = min(RETRY_MAX_SECONDS, max(0.1, backoff * 2))
                    logger.exception(
                        "could not register %d received objects (they are safe in %s); retrying in %.1f s",
                        len(batch),
                        spool_incoming_dir(),
                        backoff,
                    )
                    with self._cond:
                        self._queue.extendleft(reversed(batch))
                    batch = []
                    connections.close_all()
                finally:
                    with self._cond:
                        for receipt in batch:
                            self._held.discard(receipt.path)
                        self._busy = False
                        self._cond.notify_all()
                if backoff:
                    with self._cond:
                        if not self._stopping:
                            self._cond.wait(backoff)
        finally:
            connections.close_all()
