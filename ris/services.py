"""Applying the RIS/HIS feed: ADT to patients, ORM/OMI to orders; reassigning studies.

`hl7_message_process` is what the task calls: it parses a stored message
(`ris.hl7_parse`) and applies it in one transaction, idempotently (a message
already applied is skipped). Messages of one sender are applied in the order
they arrived: older unfinished ones go first. Every change of patient data is
in the audit trail (source "hl7" for the feed, the user for reassignments).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from ingest.models import Hl7Message
from rdsr.models import Patient, Study
from rdsr.patient_services import (
    IdentityConflict,
    patient_demographics_update,
    patient_find,
    patient_identifier_change,
    patient_merge,
    study_patient_set,
)

from . import hl7_parse as hp
from .models import Order, StudyReassignment
from .selectors import study_order

logger = logging.getLogger(__name__)

Status = Hl7Message.Status
REGISTER_EVENTS = {"A01", "A04", "A05", "A28"}
UPDATE_EVENTS = {"A08", "A31"}
MERGE_EVENTS = {"A40", "A34"}
CHANGE_ID_EVENTS = {"A47"}


class Hl7NotApplicable(ValueError):
    """The message is readable but cannot be applied (kept for review with this text)."""


# --- messages ---------------------------------------------------------------------


def hl7_message_process(*, message_id: int) -> Hl7Message:
    """Apply one stored message, after any older unfinished one of the same sender."""
    message = Hl7Message.objects.get(pk=message_id)
    older = (
        Hl7Message.objects.filter(
            sending_application=message.sending_application,
            sending_facility=message.sending_facility,
            status__in=[Status.RECEIVED, Status.PROCESSING],
            id__lt=message.pk,
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    for pk in list(older):
        _process_one(pk)
    return _process_one(message.pk)


def _process_one(message_id: int) -> Hl7Message:
    with transaction.atomic():
        # The row lock makes a second worker on the same message wait, then skip it.
        message = Hl7Message.objects.select_for_update().get(pk=message_id)
        if message.status not in (Status.RECEIVED, Status.PROCESSING):
            return message
        message.attempts += 1
        try:
            with transaction.atomic():
                parsed = hp.hl7_parse(_decode(bytes(message.raw), message.charset))
                outcome = _apply(parsed, message=message)
        except DatabaseError:
            raise
        except (hp.Hl7ParseError, Hl7NotApplicable, IdentityConflict) as exc:
            message.status, message.error = Status.FAILED, str(exc)
        except Exception as exc:
            # Whatever else: kept for review with the error, the feed goes on.
            logger.exception("HL7 message %s failed", message_id)
            message.status, message.error = Status.FAILED, f"{type(exc).__name__}: {exc}"
        else:
            message.status, message.error = outcome, ""
            message.warnings = parsed.warnings
        message.processed_at = timezone.now()
        message.save(update_fields=["status", "error", "warnings", "attempts", "processed_at"])
    return message


def hl7_message_give_up(*, message_id: int, error: str) -> None:
    Hl7Message.objects.filter(pk=message_id, status__in=[Status.RECEIVED, Status.PROCESSING]).update(
        status=Status.FAILED, error=error, processed_at=timezone.now()
    )


def hl7_message_reprocess(*, message_id: int) -> None:
    """Put a failed message back in the queue (after a fix)."""
    from ingest.mllp import hl7_message_enqueue

    updated = Hl7Message.objects.filter(pk=message_id, status=Status.FAILED).update(
        status=Status.RECEIVED, error=""
    )
    if updated:
        transaction.on_commit(lambda: hl7_message_enqueue(message_id))


def hl7_message_sweep(*, older_than_seconds: float) -> int:
    """Enqueue accepted messages never processed (broker down, worker killed)."""
    from ingest.mllp import hl7_message_enqueue

    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        Hl7Message.objects.filter(status__in=[Status.RECEIVED, Status.PROCESSING], last_received_at__lte=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:1000]
    )
    for pk in ids:
        hl7_message_enqueue(pk)
    return len(ids)


def _decode(raw: bytes, charset: str) -> str:
    from ingest.mllp import CHARSETS

    codec = CHARSETS.get(charset.upper(), "")
    if codec:
        return raw.decode(codec, errors="replace")
    # No MSH-18: HL7 says ASCII, senders mean UTF-8 or Latin-1.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _apply(parsed: hp.Hl7Parsed, *, message: Hl7Message) -> str:
    if parsed.message_type == "ADT":
        return _apply_adt(parsed, message=message)
    if parsed.message_type in ("ORM", "OMI"):
        return _apply_orders(parsed, message=message)
    raise Hl7NotApplicable(f"message type {parsed.message_type} is not applied")


# --- ADT --------------------------------------------------------------------------


def _apply_adt(parsed: hp.Hl7Parsed, *, message: Hl7Message) -> str:
    event = parsed.trigger
    if event not in REGISTER_EVENTS | UPDATE_EVENTS | MERGE_EVENTS | CHANGE_ID_EVENTS:
        return Status.IGNORED
    patient_data = parsed.patient
    ident = patient_data.primary if patient_data else None
    if ident is None:
        raise Hl7NotApplicable(f"ADT^{event} without a patient identifier in PID-3")
    if event in MERGE_EVENTS:
        _merge(parsed, ident, message=message)
        return Status.DONE
    if event in CHANGE_ID_EVENTS:
        _change_id(parsed, ident, message=message)
        return Status.DONE
    patient = _patient_upsert(patient_data, ident, message=message, create=True)
    if patient is None:
        raise Hl7NotApplicable(f"ADT^{event}: patient {ident.id} is unknown")
    return Status.DONE


def _patient_upsert(data: hp.PatientData, ident: hp.Identifier, *, message: Hl7Message, create: bool) -> Patient | None:
    patient, changes, created = patient_demographics_update(
        patient_id=ident.id[:64],
        issuer=ident.authority[:64],
        name=data.name[:200],
        birth_date=data.birth_date,
        sex=data.sex,
        create=create,
    )
    if patient is not None and (changes or created):
        audit_record(
            action="create" if created else "change",
            object_type="patient",
            object_id=patient.pk,
            patient_pk=patient.pk,
            source="hl7",
            summary=f"{'registered' if created else 'demographics updated'} by {message.message_type} "
            f"{message.control_id}",
            details={"changes": changes, "hl7_message": message.pk},
        )
    return patient


def _merge(parsed: hp.Hl7Parsed, ident: hp.Identifier, *, message: Hl7Message) -> None:
    if not parsed.prior:
        raise Hl7NotApplicable(f"ADT^{parsed.trigger} without MRG-1 (the prior patient identifier)")
    surviving = _patient_upsert(parsed.patient, ident, message=message, create=True)
    for prior_ident in parsed.prior:
        prior = patient_find(patient_id=prior_ident.id, issuer=prior_ident.authority)
        if prior is None or prior.pk == surviving.pk:
            # Unknown here (never imaged) or merged already: an alias all the same, so
            # objects that arrive later with the old ID find the survivor.
            if prior is None:
                from rdsr.models import PatientAlias

                PatientAlias.objects.get_or_create(
                    identifier=prior_ident.id[:64],
                    issuer_of_patient_id=prior_ident.authority[:64],
                    defaults={"patient": surviving, "reason": "merge"},
                )
            continue
        orders = list(Order.objects.filter(patient=prior).values_list("pk", flat=True))
        Order.objects.filter(pk__in=orders).update(patient=surviving)
        prior_pk = prior.pk
        prior_label = f"{prior.patient_id} ({prior.issuer_of_patient_id or 'no issuer'})"
        moved = patient_merge(surviving=surviving, prior=prior)
        details = {
            "prior_patient_pk": prior_pk,
            "prior_identifier": [prior_ident.id, prior_ident.authority],
            "studies_moved": moved,
            "orders_moved": orders,
            "hl7_message": message.pk,
        }
        audit_record(
            action="merge",
            object_type="patient",
            object_id=surviving.pk,
            patient_pk=surviving.pk,
            source="hl7",
            summary=f"patient {prior_label} merged into {surviving.patient_id} by {message.message_type} "
            f"{message.control_id}: {len(moved)} studies, {len(orders)} orders moved",
            details=details,
        )
        audit_record(
            action="merge",
            object_type="patient",
            object_id=prior_pk,
            patient_pk=prior_pk,
            source="hl7",
            summary=f"patient {prior_label} merged into {surviving.patient_id} (pk {surviving.pk})",
            details=details,
        )


def _change_id(parsed: hp.Hl7Parsed, ident: hp.Identifier, *, message: Hl7Message) -> None:
    if not parsed.prior:
        raise Hl7NotApplicable("ADT^A47 without MRG-1 (the identifier to change)")
    old = parsed.prior[0]
    patient = patient_find(patient_id=old.id, issuer=old.authority)
    if patient is None:
        # Nothing stored under the old ID: the new one simply registers.
        _patient_upsert(parsed.patient, ident, message=message, create=True)
        return
    before = f"{patient.patient_id} ({patient.issuer_of_patient_id or 'no issuer'})"
    patient_identifier_change(patient=patient, new_id=ident.id[:64], new_issuer=ident.authority[:64])
    audit_record(
        action="change",
        object_type="patient",
        object_id=patient.pk,
        patient_pk=patient.pk,
        source="hl7",
        summary=f"identifier {before} changed to {ident.id} by {message.message_type} {message.control_id}",
        details={"from": [old.id, old.authority], "to": [ident.id, ident.authority], "hl7_message": message.pk},
    )
    _patient_upsert(parsed.patient, ident, message=message, create=False)


# --- orders -----------------------------------------------------------------------


def _apply_orders(parsed: hp.Hl7Parsed, *, message: Hl7Message) -> str:
    ident = parsed.patient.primary if parsed.patient else None
    if ident is None:
        raise Hl7NotApplicable(f"{parsed.message_type}^{parsed.trigger} without a patient identifier in PID-3")
    if not parsed.orders:
        raise Hl7NotApplicable(f"{parsed.message_type}^{parsed.trigger} without ORC/OBR")
    patient = _patient_upsert(parsed.patient, ident, message=message, create=True)
    for data in parsed.orders:
        _order_apply(data, patient=patient, message=message)
    return Status.DONE


def _order_apply(data: hp.OrderData, *, patient: Patient, message: Hl7Message) -> Order:
    order = _order_find(data)
    created = order is None
    if order is None:
        # Even a cancel of an order we never saw is kept (as cancelled): the worklists stay right.
        order = Order(patient=patient)
    elif order.patient_id != patient.pk:
        order.patient = patient
    for name in (
        "placer_number",
        "filler_number",
        "accession_number",
        "requested_procedure_id",
        "procedure_code",
        "procedure_text",
        "procedure_coding_system",
        "reason",
        "ordering_location",
        "ordering_provider",
        "modality",
        "study_instance_uid",
    ):
        value = getattr(data, name)
        if value:
            setattr(order, name, value[: Order._meta.get_field(name).max_length])
    if data.scheduled_at is not None:
        order.scheduled_at = _aware(data.scheduled_at)
    order.status = _order_status(data, current=None if created else order.status)
    order.last_control = data.control[:2]
    order.last_message = message
    if not order.link_decided:
        order.study = _order_study(order)
    order.save()
    audit_record(
        action="create" if created else "change",
        object_type="order",
        object_id=order.pk,
        patient_pk=patient.pk,
        source="hl7",
        summary=f"order {order.accession_number or order.placer_number} {data.control or '(no ORC-1)'} "
        f"by {message.message_type} {message.control_id}: {order.get_status_display()}",
        details={"hl7_message": message.pk, "control": data.control, "status": order.status},
    )
    return order


def _order_find(data: hp.OrderData) -> Order | None:
    keys = Q()
    for name in ("filler_number", "placer_number", "accession_number"):
        value = getattr(data, name)
        if value:
            keys |= Q(**{name: value})
    if not keys:
        raise Hl7NotApplicable("order without placer, filler or accession number (ORC-2, ORC-3, OBR-18)")
    return Order.objects.filter(keys).order_by("id").first()


def _order_status(data: hp.OrderData, *, current: str | None) -> str:
    control = data.control
    if control in hp.ORDER_CANCEL:
        return Order.Status.CANCELLED
    if control in hp.ORDER_DISCONTINUE:
        return Order.Status.DISCONTINUED
    by_orc5 = {
        "SC": Order.Status.SCHEDULED,
        "IP": Order.Status.IN_PROGRESS,
        "CM": Order.Status.COMPLETED,
        "CA": Order.Status.CANCELLED,
        "DC": Order.Status.DISCONTINUED,
        "HD": Order.Status.HELD,
    }
    if data.order_status in by_orc5:
        return by_orc5[data.order_status]
    if control in hp.ORDER_NEW or current is None:
        return Order.Status.SCHEDULED
    return current


def _order_study(order: Order) -> Study | None:
    """The study an order was done as: by Study Instance UID, else accession number."""
    if order.study_instance_uid:
        study = Study.objects.filter(study_instance_uid=order.study_instance_uid).first()
        if study is not None:
            return study
    if order.accession_number:
        return Study.objects.filter(accession_number=order.accession_number).order_by("id").first()
    return None


def _aware(value: dt.datetime) -> dt.datetime:
    # Without an offset the RIS means the hospital's local time.
    return timezone.make_aware(value) if timezone.is_naive(value) else value


# --- reassignment -----------------------------------------------------------------


def study_reassign(*, study_id: int, patient_id: int | None, order_id: int | None, reason: str, user) -> StudyReassignment:
    """Move a study to another patient and order (the polytrauma case), with a reason; reversible."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a reassignment needs a reason")
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        to_order = Order.objects.get(pk=order_id) if order_id else None
        if patient_id is None and to_order is not None:
            patient_id = to_order.patient_id
        to_patient = Patient.objects.get(pk=patient_id) if patient_id else None
        from_order = study_order(study=study)
        return _reassign(
            study, to_patient=to_patient, to_order=to_order, from_order=from_order, reason=reason, user=user
        )


def study_reassignment_reverse(*, reassignment_id: int, reason: str, user) -> StudyReassignment:
    """Undo a reassignment: the study goes back to its former patient and order."""
    with transaction.atomic():
        done = StudyReassignment.objects.select_for_update().get(pk=reassignment_id)
        if done.reversed_by_id:
            raise ValueError("this reassignment was reversed already")
        study = Study.objects.select_for_update().get(pk=done.study_id)
        reversal = _reassign(
            study,
            to_patient=done.from_patient,
            to_order=done.from_order,
            from_order=done.to_order,
            reason=reason.strip() or f"reversal of reassignment {done.pk}",
            user=user,
        )
        done.reversed_by = reversal
        done.save(update_fields=["reversed_by"])
        return reversal


def _reassign(study: Study, *, to_patient, to_order, from_order, reason: str, user) -> StudyReassignment:
    from_patient = study.patient
    if from_order is not None and (to_order is None or from_order.pk != to_order.pk):
        # Decided: the old order no longer matches this study by UID or accession.
        Order.objects.filter(pk=from_order.pk).update(study=None, link_decided=True)
    if to_order is not None:
        Order.objects.filter(pk=to_order.pk).update(study=study, link_decided=True)
    study_patient_set(study=study, patient=to_patient)
    row = StudyReassignment.objects.create(
        study=study,
        from_patient=from_patient,
        to_patient=to_patient,
        from_order=from_order,
        to_order=to_order,
        reason=reason,
        user=user,
        username=user.get_username() if user else "",
    )
    details = {
        "reassignment": row.pk,
        "from_patient": from_patient.pk if from_patient else None,
        "to_patient": to_patient.pk if to_patient else None,
        "from_order": from_order.pk if from_order else None,
        "to_order": to_order.pk if to_order else None,
        "reason": reason,
    }
    summary = (
        f"study {study.study_instance_uid} reassigned from patient "
        f"{from_patient.patient_id if from_patient else '(none)'} to {to_patient.patient_id if to_patient else '(none)'}"
    )
    for pk in {p.pk for p in (from_patient, to_patient) if p is not None} or {None}:
        audit_record(
            action="reassign", object_type="study", object_id=study.pk, patient_pk=pk,
            user=user, summary=summary, details=details,
        )
    return row
