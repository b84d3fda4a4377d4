"""Writes for received objects: store durably, process, reprocess, sweep."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ingest.dispatch import enqueue_ocr, enqueue_processing
from ingest.models import ReceivedObject
from ingest.spool import spool_write
from rdsr.bulk import rows_update

logger = logging.getLogger(__name__)

Status = ReceivedObject.Status

# How many stale objects one sweep re-enqueues; the next sweep takes the rest.
SWEEP_BATCH_SIZE = 500

# Errors that another attempt can cure: the database went away, or another
# worker stored the same study a moment earlier (a unique constraint).
RETRYABLE_DATABASE_ERRORS = (OperationalError, InterfaceError, IntegrityError)


@dataclass
class StoreOutcome:
    received: ReceivedObject
    created: bool


def received_object_store(
    *,
    data: bytes,
    sop_instance_uid: str,
    sop_class_uid: str,
    transfer_syntax_uid: str = "",
    origin: str,
    calling_ae: str = "",
    called_ae: str = "",
    peer_address: str = "",
    enqueue: bool = True,
) -> StoreOutcome:
    """Write the object to the spool and record it; raise if either fails.

    A resend of an object whose earlier copy failed replaces it and is
    processed again (the sender may have fixed it); any other resend only
    counts the receipt.
    """
    if not sop_instance_uid:
        raise ValueError("a received object needs a SOP Instance UID")
    now = timezone.now()
    fields = {
        "sop_class_uid": sop_class_uid[:64],
        "transfer_syntax_uid": transfer_syntax_uid[:64],
        "origin": origin,
        "calling_ae": calling_ae[:16],
        "called_ae": called_ae[:16],
        "peer_address": peer_address[:64],
    }
    with transaction.atomic():
        received = (
            ReceivedObject.objects.select_for_update().filter(sop_instance_uid=sop_instance_uid).first()
        )
        created = False
        if received is None:
            path = spool_write(data=data, sop_instance_uid=sop_instance_uid, when=now)
            try:
                with transaction.atomic():
                    received = ReceivedObject.objects.create(
                        sop_instance_uid=sop_instance_uid,
                        received_at=now,
                        last_received_at=now,
                        spool_path=str(path),
                        size_bytes=len(data),
                        **fields,
                    )
                created = True
            except IntegrityError:
                # Sent twice at once: the other receipt won the row.
                received = ReceivedObject.objects.select_for_update().get(sop_instance_uid=sop_instance_uid)
        reset = False if created else _count_resend(received, data=data, now=now, fields=fields)
        if enqueue and (created or reset):
            pk = received.pk
            transaction.on_commit(lambda: enqueue_processing(pk), robust=True)
    return StoreOutcome(received=received, created=created)


def _count_resend(received: ReceivedObject, *, data: bytes, now: dt.datetime, fields: dict) -> bool:
    """Record another receipt; return True when a failed object was reset by it."""
    received.times_received += 1
    received.last_received_at = now
    update = ["times_received", "last_received_at"]
    if received.status == Status.FAILED:
        path = spool_write(data=data, sop_instance_uid=received.sop_instance_uid, when=now)
        old_path = received.spool_path
        received.spool_path = str(path)
        received.size_bytes = len(data)
        received.status = Status.RECEIVED
        received.error = ""
        received.processing_started_at = None
        for name, value in fields.items():
            setattr(received, name, value)
        update += ["spool_path", "size_bytes", "status", "error", "processing_started_at", *fields]
        if old_path and old_path != str(path):
            transaction.on_commit(lambda: Path(old_path).unlink(missing_ok=True), robust=True)
    elif not Path(received.spool_path).is_file():
        # The earlier copy is gone from disk (restored backup, manual cleanup):
        # this resend is the only copy we can get, so keep it.
        received.spool_path = str(
            spool_write(data=data, sop_instance_uid=received.sop_instance_uid, when=now)
        )
        received.size_bytes = len(data)
        update += ["spool_path", "size_bytes"]
    elif _content_differs(received.spool_path, data) and not _conflict_known(received, data):
        # Same SOP Instance UID, other bytes: a sender that reuses UIDs or an
        # edited copy. The first copy stays what counts; the other is kept
        # beside it (nothing received is lost) and a person should know.
        variant = _conflict_variant(data)
        other = spool_write(data=data, sop_instance_uid=received.sop_instance_uid, when=now, variant=variant)
        note = (
            f"received again at {now:%Y-%m-%d %H:%M:%S} UTC with different content; "
            f"the first copy is kept, the other is in {other}"
        )
        logger.warning("received object %s (%s): %s", received.pk, received.sop_instance_uid, note)
        received.warnings = [*received.warnings, note]
        update.append("warnings")
    received.save(update_fields=update)
    return received.status == Status.RECEIVED and "status" in update


def _conflict_variant(data: bytes) -> str:
    return "conflict" + hashlib.sha256(data).hexdigest()[:12]


def _conflict_known(received: ReceivedObject, data: bytes) -> bool:
    # The same other copy sent again is already kept and reported once.
    variant = _conflict_variant(data)
    return any(variant in warning for warning in received.warnings)


def _content_differs(spool_path: str, data: bytes) -> bool:
    path = Path(spool_path)
    if path.stat().st_size != len(data):
        return True
    return path.read_bytes() != data


def received_object_process(*, received_object_id: int, force: bool = False) -> ReceivedObject:
    """Parse the spooled object and store its dose record. Idempotent.

    Parse and content errors end in FAILED with a clear message; database
    errors propagate so the task is retried.
    """
    processed = received_objects_process(received_object_ids=[received_object_id], force=force)
    if not processed:
        raise ReceivedObject.DoesNotExist(f"no received object {received_object_id}")
    return processed[0]


def received_objects_process(*, received_object_ids: list[int], force: bool = False) -> list[ReceivedObject]:
    """Process a batch: one claim, parsing outside any transaction, one store, one finish.

    Each object ends exactly as `received_object_process` would leave it; a
    database error propagates before any object is finished, so a retry of
    the batch redoes it (objects finished meanwhile are skipped). Returns the
    objects that exist, finished or skipped, in the order asked.
    """
    from rdsr.services import dose_records_store

    ids = list(dict.fromkeys(received_object_ids))
    claimed = _claim_many(ids, force=force)
    outcomes: dict[int, dict] = {}
    to_store: list[tuple[ReceivedObject, object]] = []
    for received in claimed:
        outcome, record = _parse(received)
        if outcome is not None:
            outcomes[received.pk] = outcome
        else:
            to_store.append((received, record))
    # A bitmap dose screen waits for OCR on its own queue: it stays
    # PROCESSING (the sweeper sends it back here if OCR never finishes).
    ocr_ids = [received.pk for received, record in to_store if record.source.ocr_pending]
    to_store = [(received, record) for received, record in to_store if not record.source.ocr_pending]
    for received in claimed:
        if received.pk in ocr_ids:
            outcomes[received.pk] = {"status": Status.PROCESSING, "kind": "ocr", "warnings": []}
    if to_store:
        stored = dose_records_store(records=[record for _, record in to_store])
        for (received, record), result in zip(to_store, stored, strict=True):
            outcomes[received.pk] = _store_outcome(received, record, result)
    _finish_many(claimed, outcomes)
    for pk in ocr_ids:
        transaction.on_commit(lambda pk=pk: enqueue_ocr(pk), robust=True)
    finished = {r.pk: r for r in claimed}
    others = {r.pk: r for r in ReceivedObject.objects.filter(pk__in=set(ids) - set(finished))}
    return [finished.get(pk) or others[pk] for pk in ids if pk in finished or pk in others]


def _claim_many(ids: list[int], *, force: bool) -> list[ReceivedObject]:
    """Mark the objects PROCESSING (one UPDATE), skipping finished ones unless forced."""
    if not ids:
        return []
    table = connection.ops.quote_name(ReceivedObject._meta.db_table)
    marks = ", ".join(["%s"] * len(ids))
    finished = [Status.DONE.value, Status.NOT_RELEVANT.value]
    skip = "" if force else " AND status NOT IN (%s, %s)"
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, attempts = attempts + 1, processing_started_at = %s "
            f"WHERE id IN ({marks}){skip} RETURNING id",
            [
                Status.PROCESSING.value,
                connection.ops.adapt_datetimefield_value(now),
                *ids,
                *([] if force else finished),
            ],
        )
        claimed_ids = [row[0] for row in cursor.fetchall()]
    if not claimed_ids:
        return []
    return list(ReceivedObject.objects.filter(pk__in=claimed_ids).order_by("pk"))


def _parse(received: ReceivedObject):
    """(outcome, None) when the object ends here, else (None, its dose record)."""
    from rdsr.parse import UnreadableObject, parse_file

    try:
        record = parse_file(received.spool_path)
    except UnreadableObject as exc:
        return {"status": Status.FAILED, "error": f"unreadable object: {exc}"}, None
    except FileNotFoundError as exc:
        return {"status": Status.FAILED, "error": f"spool file missing: {exc.filename}"}, None
    except Exception as exc:
        logger.exception("parser crashed on received object %s (%s)", received.pk, received.spool_path)
        return {"status": Status.FAILED, "error": _one_line("parser error", exc)}, None
    if not record.is_dose:
        outcome = {
            "status": Status.NOT_RELEVANT,
            "kind": record.source.kind,
            "warnings": list(record.warnings),
        }
        return outcome, None
    return None, record


def _store_outcome(received: ReceivedObject, record, result) -> dict:
    from rdsr.services import RecordNotStorable

    outcome = {"kind": record.source.kind, "warnings": list(record.warnings)}
    if isinstance(result, RecordNotStorable):
        return {**outcome, "status": Status.FAILED, "error": _one_line("not storable", result)}
    if isinstance(result, Exception):
        logger.error(
            "storing the dose record of received object %s failed",
            received.pk,
            exc_info=(type(result), result, result.__traceback__),
        )
        return {**outcome, "status": Status.FAILED, "error": _one_line("store error", result)}
    return {**outcome, "status": Status.DONE, "study": result.study}


_FINISH_FIELDS = ["status", "kind", "warnings", "error", "study", "processed_at"]


def _finish_many(claimed: list[ReceivedObject], outcomes: dict[int, dict]) -> None:
    if not claimed:
        return
    now = timezone.now()
    for received in claimed:
        outcome = outcomes[received.pk]
        received.status = outcome["status"]
        received.kind = outcome.get("kind", "")[:20]
        received.warnings = outcome.get("warnings") or []
        received.error = outcome.get("error", "")
        received.study = outcome.get("study")
        received.processed_at = None if received.status == Status.PROCESSING else now
        if received.status == Status.FAILED:
            logger.warning("received object %s failed: %s", received.pk, received.error)
    rows_update(model=ReceivedObject, rows=claimed, fields=_FINISH_FIELDS)


def _one_line(what: str, exc: Exception) -> str:
    message = " ".join(str(exc).split()) or "(no message)"
    return f"{what}: {message} [{type(exc).__name__}]"


def received_object_ocr(*, received_object_id: int) -> ReceivedObject:
    """Read a bitmap dose screen waiting for OCR and store its record. Idempotent.

    The device's template (Device.ocr_template) is used when the device is
    known; a screen that cannot be read ends FAILED with the reason, shown in
    the review list. Database errors propagate so the task is retried.
    """
    from rdsr.models import Device
    from rdsr.ocr.read import read_dose_screen
    from rdsr.parse import UnreadableObject
    from rdsr.services import RecordNotStorable, device_identity_key, dose_record_store

    received = ReceivedObject.objects.filter(pk=received_object_id).first()
    if received is None:
        raise ReceivedObject.DoesNotExist(f"no received object {received_object_id}")
    if received.status != Status.PROCESSING or received.kind != "ocr":
        return received  # done meanwhile, or reset for reprocessing: nothing to do here
    ReceivedObject.objects.filter(pk=received.pk).update(processing_started_at=timezone.now())
    outcome: dict = {"kind": "ocr"}
    try:
        import pydicom

        ds = pydicom.dcmread(received.spool_path, force=True)
        from rdsr.parse import parse_dataset

        key = device_identity_key(parse_dataset(ds, path=received.spool_path).device)
        template = Device.objects.filter(identity_key=key).values_list("ocr_template", flat=True).first() or None
        record = read_dose_screen(ds, template=template, path=received.spool_path)
    except UnreadableObject as exc:
        outcome.update(status=Status.FAILED, error=_one_line("unreadable dose screen", exc))
    except FileNotFoundError as exc:
        outcome.update(status=Status.FAILED, error=f"spool file missing: {exc.filename}")
    except Exception as exc:
        logger.exception("OCR crashed on received object %s (%s)", received.pk, received.spool_path)
        outcome.update(status=Status.FAILED, error=_one_line("OCR error", exc))
    else:
        outcome["warnings"] = list(record.warnings)
        try:
            result = dose_record_store(record=record)
        except RecordNotStorable as exc:
            outcome.update(status=Status.FAILED, error=_one_line("not storable", exc))
        else:
            outcome.update(status=Status.DONE, study=result.study)
    with transaction.atomic():
        received = ReceivedObject.objects.select_for_update().get(pk=received.pk)
        if received.status != Status.PROCESSING:
            return received
        _finish_many([received], {received.pk: outcome})
    return received


def received_object_give_up(*, received_object_id: int, error: str) -> None:
    """Mark an object FAILED after its retries ran out, so the sweeper leaves it."""
    ReceivedObject.objects.filter(pk=received_object_id).exclude(
        status__in=[Status.DONE, Status.NOT_RELEVANT]
    ).update(status=Status.FAILED, error=error, processed_at=timezone.now())


def received_object_reprocess(*, received_object_id: int) -> None:
    """Put an object back in the queue (after a parser fix, or by an MPE's request)."""
    with transaction.atomic():
        received = ReceivedObject.objects.select_for_update().get(pk=received_object_id)
        received.status = Status.RECEIVED
        received.error = ""
        received.processing_started_at = None
        received.save(update_fields=["status", "error", "processing_started_at"])
        transaction.on_commit(lambda: enqueue_processing(received_object_id), robust=True)


def spool_sweep(*, older_than_seconds: int | None = None) -> int:
    """Re-enqueue objects stored but never finished; return how many."""
    if older_than_seconds is None:
        older_than_seconds = settings.SWEEPER_STALE_AFTER_SECONDS
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    stale = ReceivedObject.objects.filter(
        Q(status=Status.RECEIVED, last_received_at__lt=cutoff)
        | Q(status=Status.PROCESSING, processing_started_at__lt=cutoff)
    )
    ids = list(stale.order_by("received_at").values_list("pk", flat=True)[:SWEEP_BATCH_SIZE])
    for pk in ids:
        enqueue_processing(pk)
    if ids:
        logger.info("sweeper re-enqueued %d unfinished received objects", len(ids))
    return len(ids)
