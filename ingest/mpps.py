"""Writes for MPPS (Modality Performed Procedure Step): receive N-CREATE / N-SET, process a step.

Durable first: `mpps_message_receive` writes the attribute list as received to
``spool/mpps/<SOP Instance UID>/<n>-<create|set>.dcm`` (fsynced) and records it
(an MppsMessage, and the MppsStep's state) in one transaction before the SCP
answers; the answer follows PS3.4 F.7 (duplicate instance, unknown instance,
no longer updatable). Processing is a task: `mpps_step_process` merges the
messages of the step in order and, once the step is COMPLETED or DISCONTINUED
(dose was delivered either way), stores its dose record (kind "mpps", below
RDSR and image headers in precedence) with `rdsr.services.dose_record_store`.

An attribute list that cannot be decoded is kept too, the sender is answered
0x0110 (processing failure) with the reason, and the step shows in the review
list until a readable message supersedes it; nothing else is touched.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone
from pydicom import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info

from ingest import dispatch
from ingest.models import MppsMessage, MppsStep, ReceivedObject
from ingest.spool import _make_dirs_durably, _write_durably, spool_dir, spool_filename
from rdsr.mpps import (
    FINAL_STATUSES,
    MPPS_SOP_CLASS_UID,
    MppsNotReadable,
    mpps_merge,
    mpps_read,
    mpps_record,
    mpps_references,
    mpps_status,
    mpps_study_instance_uid,
)

logger = logging.getLogger(__name__)

Status = MppsStep.Status
Action = MppsMessage.Action

# PS3.4 F.7.2.1.2 / F.7.2.2.2 and PS3.7 C
STATUS_SUCCESS = 0x0000
STATUS_PROCESSING_FAILURE = 0x0110
STATUS_DUPLICATE_INSTANCE = 0x0111
STATUS_NO_SUCH_INSTANCE = 0x0112
STATUS_NO_LONGER_UPDATABLE = 0xA310

RETRYABLE_DATABASE_ERRORS = (OperationalError, InterfaceError, IntegrityError)


@dataclass
class MppsAnswer:
    """What the SCP answers: a DIMSE status, an Error Comment, the attribute list on success."""

    status: int
    comment: str = ""
    dataset: Dataset | None = None
    step_id: int | None = None


def mpps_message_receive(
    *,
    action: str,
    sop_instance_uid: str,
    data: bytes,
    transfer_syntax_uid: str,
    calling_ae: str = "",
    peer_address: str = "",
) -> MppsAnswer:
    """Keep one N-CREATE or N-SET durably and record it; return the answer for the sender.

    Raises only when it could not keep the message (disk, database): the SCP
    then answers 0x0110 and the sender sends it again.
    """
    if action not in Action.values:
        raise ValueError(f"unknown MPPS action {action!r}")
    if not sop_instance_uid:
        raise ValueError("an MPPS message needs a SOP Instance UID")
    file_bytes = _as_dicom_file(data, sop_instance_uid=sop_instance_uid, transfer_syntax_uid=transfer_syntax_uid)
    try:
        dataset = mpps_read(file_bytes)
        performed, unreadable = mpps_status(dataset), ""
    except MppsNotReadable as exc:
        dataset, performed, unreadable = None, "", str(exc)
    now = timezone.now()
    with transaction.atomic():
        step = MppsStep.objects.select_for_update().filter(sop_instance_uid=sop_instance_uid).first()
        if action == Action.CREATE:
            if step is not None and step.performed_status:
                return MppsAnswer(STATUS_DUPLICATE_INSTANCE, "this MPPS instance exists already")
            if step is None:
                step = MppsStep.objects.create(
                    sop_instance_uid=sop_instance_uid,
                    calling_ae=calling_ae[:16],
                    peer_address=peer_address[:64],
                    received_at=now,
                    last_message_at=now,
                )
        else:
            if step is None or not step.performed_status:
                return MppsAnswer(STATUS_NO_SUCH_INSTANCE, "no MPPS instance with this UID was created")
            if step.performed_status in FINAL_STATUSES:
                return MppsAnswer(
                    STATUS_NO_LONGER_UPDATABLE, f"the step is {step.performed_status} and may not be updated"
                )
        sequence = step.message_count + 1
        path = _spool_write(file_bytes, sop_instance_uid=sop_instance_uid, name=f"{sequence:04d}-{action}")
        answered = STATUS_PROCESSING_FAILURE if unreadable else STATUS_SUCCESS
        MppsMessage.objects.create(
            step=step,
            sequence=sequence,
            action=action,
            spool_path=str(path),
            transfer_syntax_uid=transfer_syntax_uid[:64],
            calling_ae=calling_ae[:16],
            received_at=now,
            performed_status=performed[:16],
            answered_status=answered,
            error=unreadable,
        )
        step.message_count = sequence
        step.last_message_at = now
        if unreadable:
            step.status = Status.FAILED
            step.error = f"{Action(action).label} #{sequence} from {calling_ae or 'unknown AE'}: {unreadable}"
        else:
            if action == Action.CREATE:
                # N-CREATE must say IN PROGRESS; a modality that leaves it out
                # (or sends a finished step at once) is taken at its word.
                step.performed_status = (performed or "IN PROGRESS")[:16]
            elif performed:
                step.performed_status = performed[:16]
            step.status = Status.RECEIVED
            step.error = ""
            step_id = step.pk
            transaction.on_commit(lambda: mpps_step_enqueue(step_id=step_id), robust=True)
        step.save()
    if unreadable:
        logger.warning("MPPS %s %s #%d unreadable: %s", action, sop_instance_uid, sequence, unreadable)
        return MppsAnswer(STATUS_PROCESSING_FAILURE, _comment(unreadable), step_id=step.pk)
    return MppsAnswer(STATUS_SUCCESS, dataset=dataset, step_id=step.pk)


def mpps_step_enqueue(*, step_id: int) -> None:
    """Process the step on the ingest queue (or in-process without a broker). Never raises."""
    from ingest.tasks import process_mpps_step

    dispatch.enqueue_call(task=process_mpps_step, args=[step_id], run_here=lambda: _process_here(step_id))


def mpps_step_process(*, step_id: int) -> MppsStep:
    """Merge the step's messages; once it is finished, store its dose record. Idempotent.

    Content problems end in FAILED with a clear error; database errors
    propagate so the task is retried.
    """
    with transaction.atomic():
        step = MppsStep.objects.select_for_update().get(pk=step_id)
        outcome = _outcome(step)
        changed = [name for name, value in outcome.items() if getattr(step, name) != value]
        for name in changed:
            setattr(step, name, outcome[name])
        if changed:
            step.processed_at = timezone.now()
            step.save(update_fields=[*changed, "processed_at"])
        if step.status == Status.FAILED:
            logger.warning("MPPS step %s failed: %s", step.sop_instance_uid, step.error)
    return step


def mpps_step_reprocess(*, step_id: int) -> None:
    """Put a step back in the queue (after a fix, or by an MPE's request)."""
    with transaction.atomic():
        step = MppsStep.objects.select_for_update().get(pk=step_id)
        step.status = Status.RECEIVED
        step.error = ""
        step.save(update_fields=["status", "error"])
        transaction.on_commit(lambda: mpps_step_enqueue(step_id=step_id), robust=True)


def mpps_step_give_up(*, step_id: int, error: str) -> None:
    """Mark a step FAILED after its retries ran out, so the sweeper leaves it."""
    MppsStep.objects.filter(pk=step_id, status=Status.RECEIVED).update(
        status=Status.FAILED, error=error, processed_at=timezone.now()
    )


def mpps_step_sweep(*, older_than_seconds: int) -> int:
    """Re-enqueue steps whose messages were kept but never processed; return how many."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        MppsStep.objects.filter(status=Status.RECEIVED, last_message_at__lt=cutoff)
        .order_by("last_message_at")
        .values_list("pk", flat=True)[:500]
    )
    for pk in ids:
        mpps_step_enqueue(step_id=pk)
    if ids:
        logger.info("sweeper re-enqueued %d unprocessed MPPS steps", len(ids))
    return len(ids)


# --- processing ---------------------------------------------------------------------


def _outcome(step: MppsStep) -> dict:
    """The step's fields after merging its messages (and storing its record when finished)."""
    from rdsr.services import RecordNotStorable, dose_record_store

    messages = list(step.messages.order_by("sequence"))
    unreadable = [m for m in messages if m.error]
    warnings = [
        f"{m.get_action_display()} #{m.sequence} could not be read and was answered 0x0110: {m.error}"
        for m in unreadable
    ]
    failed = {"status": Status.FAILED, "warnings": warnings, "study": None}
    usable = [m for m in messages if not m.error]
    if not step.performed_status or not usable:
        return {**failed, "error": step.error or "no readable N-CREATE was received for this step"}
    if messages[-1].error:
        # The sender was told the last message failed; until it sends it again
        # we do not know the step's attributes.
        return {**failed, "error": step.error or f"last message unreadable: {messages[-1].error}"}
    datasets = []
    for message in usable:
        try:
            datasets.append(mpps_read(Path(message.spool_path).read_bytes()))
        except FileNotFoundError:
            return {**failed, "error": f"spool file missing: {message.spool_path}"}
        except MppsNotReadable as exc:
            return {**failed, "error": f"{message.get_action_display()} #{message.sequence}: {exc}"}
    merged = mpps_merge(datasets)
    state = {
        "referenced_instances": [
            {
                "sop_class_uid": ref.sop_class_uid,
                "sop_instance_uid": ref.sop_instance_uid,
                "series_instance_uid": ref.series_instance_uid,
            }
            for ref in mpps_references(merged)
        ],
        "study_instance_uid": (mpps_study_instance_uid(merged) or "")[:64],
        "modality": (str(merged.get("Modality") or "")).strip()[:16],
        "error": "",
    }
    if step.performed_status not in FINAL_STATUSES:
        return {**state, "status": Status.IN_PROGRESS, "warnings": warnings, "study": None}

    record = mpps_record(merged, sop_instance_uid=step.sop_instance_uid, path=usable[-1].spool_path)
    warnings = [*record.warnings, *warnings]
    if not record.is_dose:
        return {**state, "status": Status.NOT_RELEVANT, "warnings": warnings, "study": None}
    if record.study.study_instance_uid is None:
        known = _study_of_references([r["sop_instance_uid"] for r in state["referenced_instances"]])
        if known is None:
            return {
                **state,
                **failed,
                "warnings": warnings,
                "error": "no Study Instance UID in Scheduled Step Attributes Sequence (0040,0270), "
                "and none of the objects the step references has been received",
            }
        received, study_uid = known
        record.study.study_instance_uid = study_uid
        warnings = [w for w in warnings if not w.startswith("no Study Instance UID")]
        warnings.append(
            f"no Study Instance UID in the step: stored with the study of the referenced object "
            f"{received.sop_instance_uid}"
        )
        record.warnings = warnings
    try:
        result = dose_record_store(record=record)
    except RETRYABLE_DATABASE_ERRORS:
        raise
    except RecordNotStorable as exc:
        return {**state, **failed, "warnings": warnings, "error": f"not storable: {exc}"}
    except Exception as exc:
        logger.exception("storing the dose record of MPPS step %s failed", step.sop_instance_uid)
        return {**state, **failed, "warnings": warnings, "error": f"store error: {exc} [{type(exc).__name__}]"}
    return {**state, "status": Status.DONE, "warnings": warnings, "study": result.study}


def _study_of_references(uids: list[str]) -> tuple[ReceivedObject, str] | None:
    if not uids:
        return None
    received = (
        ReceivedObject.objects.filter(sop_instance_uid__in=uids, study__isnull=False)
        .select_related("study")
        .order_by("received_at")
        .first()
    )
    return (received, received.study.study_instance_uid) if received else None


def _process_here(step_id: int) -> None:
    dispatch.run_with_local_retries(lambda: mpps_step_process(step_id=step_id), what=f"MPPS step {step_id}")


def _as_dicom_file(data: bytes, *, sop_instance_uid: str, transfer_syntax_uid: str) -> bytes:
    """The attribute list as received, unchanged, behind a file meta header naming it."""
    meta = Dataset()
    meta.MediaStorageSOPClassUID = MPPS_SOP_CLASS_UID
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = transfer_syntax_uid
    fp = DicomBytesIO()
    fp.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    return fp.getvalue() + data


def _spool_write(data: bytes, *, sop_instance_uid: str, name: str) -> Path:
    # The same UID-safe name as the object spool, without its ".dcm".
    directory = spool_dir() / "mpps" / spool_filename(sop_instance_uid)[: -len(".dcm")]
    _make_dirs_durably(directory)
    return _write_durably(directory / f"{name}.dcm", data)


def _comment(text: str) -> str:
    # Error Comment (0000,0902) is an LO: 64 characters.
    text = " ".join(text.split())
    return text if len(text) <= 64 else text[:61] + "..."
