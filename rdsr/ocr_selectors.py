"""Reads for the OCR review queue: which OCR'd screens still hold doubtful values, and one screen's values.

Review state lives in JSON (an event's ``details["review"]``, a dose object's
``stated_totals["ct_totals"]["review"]``); both are found with a key lookup on
the first list element, which SQLite and PostgreSQL both index into, so the
queue never loads every OCR event.

Only screens whose study still takes its totals from OCR are queued: once an
RDSR or image headers of the study arrive, the OCR values no longer count and
reviewing them would change nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ingest.models import ReceivedObject

from .models import Device, DoseObject, IrradiationEvent, Study
from .ocr.templates import template_choices
from .ocr_review import CONFIRMED, EVENT_FIELDS, LABELS, NUMERIC_FIELDS, PHANTOMS, TOTAL_FIELD
from .presentation import sig


class ScreenImageUnavailable(Exception):
    """The screen's image cannot be shown; the message says why, for the page."""


@dataclass
class QueueRow:
    dose_object: DoseObject
    study: Study
    device: Device | None
    in_review: int
    received_at: dt.datetime | None


@dataclass
class ValueCell:
    field: str
    label: str
    unit: str
    value: Any
    shown: str
    confidence: float | None
    in_review: bool
    decision: dict[str, Any] | None
    # False when nothing was read: the MPE must type the value.
    confirmable: bool

    @property
    def confidence_percent(self) -> str:
        return "" if self.confidence is None else f"{round(self.confidence * 100)} %"

    @property
    def input_value(self) -> str:
        return (
            ""
            if self.value is None
            else (f"{self.value:g}" if isinstance(self.value, float) else str(self.value))
        )


@dataclass
class EventRow:
    event_id: int
    position: int
    protocol: str
    event_type: str
    ocr_line: str
    cells: list[ValueCell]


@dataclass
class ObjectReview:
    dose_object: DoseObject
    study: Study
    device: Device | None
    rows: list[EventRow]
    total: ValueCell
    in_review: int
    received: ReceivedObject | None
    # Why the image cannot be shown ("" when it can be tried).
    image_problem: str
    superseded: bool
    study_dlp_shown: str = ""
    template_choices: list[tuple[str, str]] = field(default_factory=list)
    phantoms: tuple[str, ...] = PHANTOMS


def ocr_objects_in_review() -> list[QueueRow]:
    """OCR'd dose screens with values still in review, oldest first."""
    counts: dict[str, int] = defaultdict(int)
    events = IrradiationEvent.objects.filter(
        source_kind="ocr", study__source_kind="ocr", details__review__0__isnull=False
    ).values_list("source_sop_instance_uid", "details")
    for sop_uid, details in events:
        counts[sop_uid] += len(_reviewable(details.get("review")))
    totals = DoseObject.objects.filter(
        kind="ocr", study__source_kind="ocr", stated_totals__ct_totals__review__0__isnull=False
    ).values_list("sop_instance_uid", "stated_totals")
    for sop_uid, stated in totals:
        counts[sop_uid] += int(TOTAL_FIELD in ((stated.get("ct_totals") or {}).get("review") or []))
    wanted = [uid for uid, n in counts.items() if n]
    if not wanted:
        return []
    objects = DoseObject.objects.filter(kind="ocr", sop_instance_uid__in=wanted).select_related(
        "study", "study__device"
    )
    received = dict(
        ReceivedObject.objects.filter(sop_instance_uid__in=wanted).values_list(
            "sop_instance_uid", "received_at"
        )
    )
    rows = [
        QueueRow(o, o.study, o.study.device, counts[o.sop_instance_uid], received.get(o.sop_instance_uid))
        for o in objects
    ]
    rows.sort(key=lambda r: (r.received_at or r.dose_object.created_at, r.dose_object.pk))
    return rows


def ocr_object_review(*, dose_object_id: int) -> ObjectReview:
    """One OCR'd screen: its rows and total, each value with its confidence and review state.

    Raises DoseObject.DoesNotExist for an unknown id or an object not read by OCR.
    """
    obj = DoseObject.objects.select_related("study", "study__device", "study__patient").get(
        pk=dose_object_id, kind="ocr"
    )
    events = IrradiationEvent.objects.filter(
        study_id=obj.study_id, source_sop_instance_uid=obj.sop_instance_uid
    ).order_by("position")
    rows = []
    for ev in events:
        details = ev.details or {}
        review = set(_reviewable(details.get("review")))
        confidence = details.get("confidence") or {}
        decisions = details.get("ocr_review") or {}
        cells = [
            _cell(
                name,
                getattr(ev, name) if getattr(ev, name) != "" else None,
                confidence.get(name),
                name in review,
                decisions.get(name),
            )
            for name in EVENT_FIELDS
        ]
        rows.append(
            EventRow(
                ev.pk, ev.position, ev.protocol, ev.event_type, str(details.get("ocr_line") or ""), cells
            )
        )
    ct = (obj.stated_totals or {}).get("ct_totals") or {}
    total = _cell(
        TOTAL_FIELD,
        ct.get(TOTAL_FIELD) if ct.get(TOTAL_FIELD) is not None else (ct.get("in_review") or {}).get(TOTAL_FIELD),
        (ct.get("confidence") or {}).get(TOTAL_FIELD),
        TOTAL_FIELD in (ct.get("review") or []),
        (ct.get("ocr_review") or {}).get(TOTAL_FIELD),
    )
    in_review = sum(c.in_review for r in rows for c in r.cells) + int(total.in_review)
    received = ReceivedObject.objects.filter(sop_instance_uid=obj.sop_instance_uid).first()
    return ObjectReview(
        dose_object=obj,
        study=obj.study,
        device=obj.study.device,
        rows=rows,
        total=total,
        in_review=in_review,
        received=received,
        image_problem=_image_problem(received),
        superseded=obj.study.source_kind != "ocr",
        study_dlp_shown=sig(obj.study.dlp_total_mgycm, 6) or "—",
        template_choices=template_choices(),
    )


def ocr_screen_png(*, dose_object_id: int) -> bytes:
    """The screen as the console drew it, as PNG, rendered from the spooled DICOM file.

    Raises DoseObject.DoesNotExist, or ScreenImageUnavailable with the reason.
    """
    import pydicom

    from .ocr.image import screen_pixels

    obj = DoseObject.objects.get(pk=dose_object_id, kind="ocr")
    received = ReceivedObject.objects.filter(sop_instance_uid=obj.sop_instance_uid).first()
    problem = _image_problem(received)
    if problem:
        raise ScreenImageUnavailable(problem)
    try:
        ds = pydicom.dcmread(received.spool_path, force=True)
        image = screen_pixels(ds)
    except Exception as exc:  # noqa: BLE001 - any reading or decoding failure: say so instead of a 500
        raise ScreenImageUnavailable(f"The screen's file cannot be read as an image: {exc}") from exc
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _image_problem(received: ReceivedObject | None) -> str:
    if received is None:
        return "No received copy of this screen is kept, so its image cannot be shown."
    if not received.spool_path or not os.path.isfile(received.spool_path):
        return f"The screen's file is missing from the spool ({received.spool_path or 'no path recorded'})."
    return ""


def _reviewable(review: Any) -> list[str]:
    return [str(name) for name in review or [] if name in EVENT_FIELDS]


def _cell(name: str, value: Any, confidence: Any, in_review: bool, decision: dict | None) -> ValueCell:
    label, unit = LABELS[name]
    if value is None:
        shown = "—"
    elif name in NUMERIC_FIELDS or name == TOTAL_FIELD:
        shown = sig(float(value), 6)
    else:
        shown = str(value)
    if decision and decision.get("action") != CONFIRMED:
        decision = {
            **decision,
            "ocr_shown": "nothing"
            if decision.get("ocr_value") is None
            else (sig(float(decision["ocr_value"]), 6) if name != "phantom" else str(decision["ocr_value"])),
        }
    return ValueCell(
        field=name,
        label=label,
        unit=unit,
        value=value,
        shown=shown,
        confidence=float(confidence) if isinstance(confidence, int | float) else None,
        in_review=in_review,
        decision=decision,
        confirmable=value is not None,
    )
