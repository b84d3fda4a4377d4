"""The MPE's decisions on values read by OCR: confirm or correct them beside the image.

A value OCR was not sure of sits in its event's ``details["review"]`` (or, for
the total DLP the screen states, in its dose object's
``stated_totals["ct_totals"]["review"]``) and is kept out of the study's
totals (rdsr.services). Confirming or correcting it takes it out of review,
writes the decided value, remembers what OCR read in ``ocr_review`` beside it,
and recomputes the study's totals, all in one transaction under the study's
lock, so the store of another object of the same study waits for it.

Every decision is audited: a dose value of a patient changes meaning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import audit_record

from . import services as dose_services
from .models import Device, DoseObject, IrradiationEvent, Study
from .ocr.templates import TEMPLATES
from .units import implausible

# Event fields an MPE decides on: the dose values OCR reads, and the phantom.
NUMERIC_FIELDS = ("ctdivol_mgy", "dlp_mgycm")
PHANTOMS = ("head16", "body32")
EVENT_FIELDS = (*NUMERIC_FIELDS, "phantom")
TOTAL_FIELD = "dlp_total_mgycm"
LABELS = {
    "ctdivol_mgy": ("CTDIvol", "mGy"),
    "dlp_mgycm": ("DLP", "mGy·cm"),
    "phantom": ("Phantom", ""),
    TOTAL_FIELD: ("Total DLP", "mGy·cm"),
}
CONFIRMED, CORRECTED = "confirmed", "corrected"


class ReviewRefused(ValueError):
    """A decision that cannot be taken; the message says why, for the MPE."""


@dataclass
class ReviewDecision:
    study_id: int
    field: str
    action: str
    ocr_value: Any
    decided_value: Any


def ocr_value_confirm(
    *, event_id: int, field: str, user: str, request: HttpRequest | None = None
) -> ReviewDecision:
    """Take an OCR'd event value as read; it counts in the study's totals from now on."""
    return _event_decide(event_id=event_id, field=field, value=None, user=user, request=request)


def ocr_value_correct(
    *, event_id: int, field: str, value: float | str, user: str, request: HttpRequest | None = None
) -> ReviewDecision:
    """Replace an OCR'd event value (any, in review or not) by what the screen shows."""
    return _event_decide(event_id=event_id, field=field, value=value, user=user, request=request)


def ocr_total_confirm(
    *, dose_object_id: int, user: str, request: HttpRequest | None = None
) -> ReviewDecision:
    """Take the total DLP the screen states as read."""
    return _total_decide(dose_object_id=dose_object_id, value=None, user=user, request=request)


def ocr_total_correct(
    *, dose_object_id: int, value: float, user: str, request: HttpRequest | None = None
) -> ReviewDecision:
    """Replace the total DLP read from the screen by what the screen shows."""
    return _total_decide(dose_object_id=dose_object_id, value=value, user=user, request=request)


def device_ocr_template_set(
    *, device_id: int, template: str, user: str, request: HttpRequest | None = None
) -> Device:
    """Choose the layout OCR reads this device's screens with; blank tries every layout."""
    template = (template or "").strip()
    if template and template not in TEMPLATES:
        raise ReviewRefused(
            f"Unknown OCR template {template!r}; known: {', '.join(TEMPLATES)} (or automatic)."
        )
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device_id)
        before = device.ocr_template
        if before == template:
            return device
        device.ocr_template = template
        device.save(update_fields=["ocr_template"])
        audit_record(
            action="change",
            object_type="device",
            object_id=device.pk,
            summary=f"OCR template of {device} set to {template or 'automatic'}",
            details={"field": "ocr_template", "before": before, "after": template},
            **_who(user, request),
        )
    return device


# --- events ---------------------------------------------------------------------


def _event_decide(
    *, event_id: int, field: str, value: float | str | None, user: str, request: HttpRequest | None
) -> ReviewDecision:
    if field not in EVENT_FIELDS:
        raise ReviewRefused(f"{field!r} is not a value to review; choose one of {', '.join(EVENT_FIELDS)}.")
    study_id = IrradiationEvent.objects.filter(pk=event_id).values_list("study_id", flat=True).first()
    if study_id is None:
        raise ReviewRefused(f"There is no event {event_id}.")
    label, unit = LABELS[field]
    with transaction.atomic():
        # The study first, as the dose store locks it, so the two never deadlock.
        study = Study.objects.select_for_update().get(pk=study_id)
        event = IrradiationEvent.objects.select_for_update().get(pk=event_id)
        if event.source_kind != "ocr":
            raise ReviewRefused("Only values read by OCR are reviewed here.")
        details = dict(event.details or {})
        review = [str(name) for name in details.get("review") or []]
        current = getattr(event, field)
        if current == "":
            current = None  # a blank phantom was not read
        if value is None:
            if field not in review:
                raise ReviewRefused(f"{label} of row {event.position} is not in review: nothing to confirm.")
            if current is None:
                raise ReviewRefused(
                    f"No {label} was read in row {event.position}: enter the value the screen shows."
                )
            _check_plausible(field, current, label, unit)
            decided, action = current, CONFIRMED
        else:
            decided, action = _clean(field, value, label, unit), CORRECTED
        setattr(event, field, decided if field in NUMERIC_FIELDS else str(decided))
        details["review"] = [name for name in review if name != field]
        if not details["review"]:
            # No empty list: the queue finds events still in review by the key.
            del details["review"]
        decisions = _decided(details, field, read=current, decided=decided, action=action, user=user)
        details["ocr_review"] = decisions
        event.details = details
        event.save(update_fields=[field, "details"])
        dose_services.dose_object_sums_refresh(study=study, sop_instance_uid=event.source_sop_instance_uid)
        dose_services.study_totals_refresh(study_id=study.pk)
        decision = ReviewDecision(study.pk, field, action, decisions[field]["ocr_value"], decided)
        audit_record(
            action="change",
            object_type="irradiation_event",
            object_id=event.pk,
            summary=f"OCR {label} of row {event.position} {action}: {_show(decided, unit)}"
            + (f" (read {_show(decision.ocr_value, unit)})" if action == CORRECTED else ""),
            patient_pk=study.patient_id,
            details={
                "study_id": study.pk,
                "sop_instance_uid": event.source_sop_instance_uid,
                "position": event.position,
                **decisions[field],
                "field": field,
            },
            **_who(user, request),
        )
    return decision


# --- the total DLP the screen states -------------------------------------------


def _total_decide(
    *, dose_object_id: int, value: float | None, user: str, request: HttpRequest | None
) -> ReviewDecision:
    study_id = DoseObject.objects.filter(pk=dose_object_id).values_list("study_id", flat=True).first()
    if study_id is None:
        raise ReviewRefused(f"There is no dose object {dose_object_id}.")
    label, unit = LABELS[TOTAL_FIELD]
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        obj = DoseObject.objects.select_for_update().get(pk=dose_object_id)
        if obj.kind != "ocr":
            raise ReviewRefused("Only values read by OCR are reviewed here.")
        stated = dict(obj.stated_totals or {})
        ct = dict(stated.get("ct_totals") or {})
        review = [str(name) for name in ct.get("review") or []]
        current = ct.get(TOTAL_FIELD)
        if current is None:
            # The store keeps a total in doubt aside, out of the study totals.
            current = (ct.get("in_review") or {}).get(TOTAL_FIELD)
        if value is None:
            if TOTAL_FIELD not in review:
                raise ReviewRefused("The total DLP is not in review: nothing to confirm.")
            if current is None:
                # The store keeps no total in doubt (it must not fill a study
                # total), so there is no read value to confirm.
                raise ReviewRefused(
                    "The total DLP read from the screen was not kept: enter the value it shows."
                )
            _check_plausible(TOTAL_FIELD, current, label, unit)
            decided, action = current, CONFIRMED
        else:
            decided, action = _clean(TOTAL_FIELD, value, label, unit), CORRECTED
        decisions = _decided(ct, TOTAL_FIELD, read=current, decided=decided, action=action, user=user)
        aside = {k: v for k, v in (ct.get("in_review") or {}).items() if k != TOTAL_FIELD}
        ct.update(
            {TOTAL_FIELD: decided, "review": [n for n in review if n != TOTAL_FIELD], "ocr_review": decisions,
             "in_review": aside}
        )
        stated["ct_totals"] = ct
        obj.stated_totals = stated
        obj.save(update_fields=["stated_totals"])
        dose_services.study_totals_refresh(study_id=study.pk)
        decision = ReviewDecision(study.pk, TOTAL_FIELD, action, decisions[TOTAL_FIELD]["ocr_value"], decided)
        audit_record(
            action="change",
            object_type="dose_object",
            object_id=obj.pk,
            summary=f"OCR total DLP {action}: {_show(decided, unit)}"
            + (f" (read {_show(decision.ocr_value, unit)})" if action == CORRECTED else ""),
            patient_pk=study.patient_id,
            details={
                "study_id": study.pk,
                "sop_instance_uid": obj.sop_instance_uid,
                **decisions[TOTAL_FIELD],
                "field": TOTAL_FIELD,
            },
            **_who(user, request),
        )
    return decision


# --- helpers --------------------------------------------------------------------


def _decided(values: dict, field: str, *, read, decided, action: str, user: str) -> dict:
    """The decisions recorded beside a value (an event's details or the stated CT totals), with this one."""
    decisions = dict(values.get("ocr_review") or {})
    earlier = decisions.get(field) or {}
    decisions[field] = {
        # What OCR read stays what OCR read, however often the value is corrected.
        "ocr_value": earlier["ocr_value"] if "ocr_value" in earlier else read,
        "ocr_confidence": (values.get("confidence") or {}).get(field),
        "decided_value": decided,
        "action": action,
        "by": user,
        "at": timezone.now().isoformat(),
    }
    return decisions


def _clean(field: str, value: float | str, label: str, unit: str) -> float | str:
    if field == "phantom":
        text = str(value).strip()
        if text not in PHANTOMS:
            raise ReviewRefused(f"Phantom must be one of {', '.join(PHANTOMS)}, not {text!r}.")
        return text
    try:
        number = float(str(value).strip().replace(",", "."))
    except ValueError:
        raise ReviewRefused(f"{label}: {value!r} is not a number.") from None
    _check_plausible(field, number, label, unit)
    return number


def _check_plausible(field: str, value: Any, label: str, unit: str) -> None:
    if field == "phantom":
        return
    number = float(value)
    if implausible(field, number) or (math.isfinite(number) and number < 0):
        raise ReviewRefused(
            f"{label} {_show(number, unit)} is not plausible for an examination: check the value on the screen."
        )


def _show(value: Any, unit: str) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, float):
        return f"{value:g} {unit}".strip()
    return f"{value} {unit}".strip()


def _who(user: str, request: HttpRequest | None) -> dict[str, Any]:
    return {"request": request} if request is not None else {"username": user}
