"""Alert rules: small pure functions over plain facts (no database), each tested alone.

`alerts.services` gathers the facts of a study (its events, procedure, DRLs,
the patient's earlier exams, the protocol's history on the device) into the
dataclasses below, and stores what a rule finds as an alert. Every dose value
is in its canonical unit (DOMAIN.md §4); values waiting for a person's
confirmation (an event's details["review"]) are left out by the service before
a rule sees them, so an unconfirmed value never raises an alert as if certain.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# quantity -> (label, canonical unit)
QUANTITIES: dict[str, tuple[str, str]] = {
    "ctdivol": ("CTDIvol", "mGy"),
    "dlp": ("DLP", "mGy·cm"),
    "dap": ("DAP (KAP)", "Gy·cm²"),
    "kar": ("Ka,r", "mGy"),
    "psd": ("Peak skin dose", "mGy"),
    "fluoro_time": ("Fluoroscopy time", "s"),
    "agd": ("AGD", "mGy"),
    "dose_check_alert": ("CT dose check alert", ""),
    "dose_check_notification": ("CT dose check notification", ""),
    "repeat": ("Repeated examination", ""),
    "technique": ("Protocol technique", ""),
    "order": ("Order without dose data", "h"),
}
# Quantities with one value per CT sequence (the worst one of a study is kept).
PER_EVENT = {"ctdivol"}
TECHNIQUE_PARAMS = ("kvp", "pitch", "reference_mas", "filter")


def unit_of(quantity: str) -> str:
    return QUANTITIES.get(quantity, ("", ""))[1]


def label_of(quantity: str) -> str:
    return QUANTITIES.get(quantity, (quantity, ""))[0]


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}".replace(",", " ")
    return f"{text} {unit}".strip()


# ---------------------------------------------------------------- facts


@dataclass(frozen=True)
class RuleSpec:
    """An AlertRule row as plain data."""

    id: int
    name: str
    kind: str
    quantity: str = ""
    threshold: float | None = None
    threshold_single: float | None = None
    count: int | None = None
    window_days: float | None = None
    modalities: tuple[str, ...] = ()
    procedure_id: int | None = None
    device_id: int | None = None
    patient_group: str = ""
    body_region: str = ""
    body_region_exclude: bool = False


@dataclass(frozen=True)
class Drl:
    value: float
    label: str  # "UK national CT DRLs 2022: CT head, per sequence"


@dataclass
class EventFacts:
    event_id: int
    protocol: str = ""
    region: str = ""  # body region of the event's procedure, else its target region
    procedure: str = ""
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    dap_gycm2: float | None = None
    kvp: float | None = None
    pitch: float | None = None
    reference_mas: float | None = None
    filter: str = ""
    dose_check: dict[str, Any] | None = None
    drl_ctdivol: Drl | None = None


@dataclass
class ExamFacts:
    study_id: int
    modality: str
    study_date: dt.date | None = None
    started: dt.datetime | None = None
    procedure_id: int | None = None
    procedure: str = ""
    region: str = ""
    description: str = ""
    device_id: int | None = None
    device: str = ""
    patient_id: int | None = None
    age_years: float | None = None
    weight_kg: float | None = None
    height_m: float | None = None
    series: int = 0
    totals: dict[str, float | None] = field(default_factory=dict)  # dlp, dap, kar (max plane), fluoro_time, psd, agd
    events: list[EventFacts] = field(default_factory=list)
    drls: dict[str, Drl] = field(default_factory=dict)  # exam-level DRL per quantity

    @property
    def patient_group(self) -> str:
        if self.age_years is None:
            return ""
        return "paediatric" if self.age_years < 18 else "adult"


@dataclass(frozen=True)
class Finding:
    quantity: str
    value: float | None
    threshold: float | None
    unit: str
    message: str
    context: dict[str, Any] = field(default_factory=dict)


def base_context(spec: RuleSpec, exam: ExamFacts) -> dict[str, Any]:
    """What every alert of a study carries to explain itself (DOMAIN.md §8)."""
    return {
        "rule": spec.name,
        "procedure": exam.procedure,
        "description": exam.description,
        "device": exam.device,
        "series": exam.series,
        "weight_kg": exam.weight_kg,
        "height_m": exam.height_m,
        "age_years": exam.age_years,
    }


# ---------------------------------------------------------------- scope


def region_matches(spec: RuleSpec, region: str) -> bool:
    if not spec.body_region:
        return True
    wanted = [w.strip().lower() for w in spec.body_region.split(",") if w.strip()]
    hit = any(w in (region or "").lower() for w in wanted)
    return not hit if spec.body_region_exclude else hit


def applies(spec: RuleSpec, exam: ExamFacts) -> bool:
    """Modality, procedure, room and patient group of the rule (blank: any)."""
    if spec.modalities and exam.modality not in spec.modalities:
        return False
    if spec.procedure_id is not None and exam.procedure_id != spec.procedure_id:
        return False
    if spec.device_id is not None and exam.device_id != spec.device_id:
        return False
    if spec.patient_group and exam.patient_group and exam.patient_group != spec.patient_group:
        return False
    return True


# ---------------------------------------------------------------- rules


def _worst_event(spec: RuleSpec, exam: ExamFacts, value: Callable[[EventFacts], float | None]):
    candidates = [(value(e), e) for e in exam.events if value(e) is not None and region_matches(spec, e.region or exam.region)]
    return max(candidates, key=lambda c: c[0], default=(None, None))


def exam_value(spec: RuleSpec, exam: ExamFacts) -> tuple[float | None, EventFacts | None]:
    """The exam's value of the rule's quantity: the worst sequence for CTDIvol, else the total."""
    if spec.quantity in PER_EVENT:
        return _worst_event(spec, exam, lambda e: e.ctdivol_mgy)
    if not region_matches(spec, exam.region):
        return None, None
    return exam.totals.get(spec.quantity), None


def _event_context(event: EventFacts | None) -> dict[str, Any]:
    if event is None:
        return {}
    return {"protocol": event.protocol, "event_id": event.event_id, "region": event.region}


def absolute_level(spec: RuleSpec, exam: ExamFacts) -> list[Finding]:
    """A value above an absolute level (StrlSchV Annex 14 single exams, NCRP 168)."""
    value, event = exam_value(spec, exam)
    if value is None or spec.threshold is None or value <= spec.threshold:
        return []
    unit = unit_of(spec.quantity)
    return [
        Finding(
            spec.quantity, value, spec.threshold, unit,
            f"{label_of(spec.quantity)} {fmt(value, unit)} above {fmt(spec.threshold, unit)}",
            {**base_context(spec, exam), **_event_context(event)},
        )
    ]


def drl_multiple(spec: RuleSpec, exam: ExamFacts) -> list[Finding]:
    """A value above a multiple (threshold) of the applicable DRL."""
    if spec.quantity in PER_EVENT:
        candidates = [
            (e.ctdivol_mgy / e.drl_ctdivol.value, e)
            for e in exam.events
            if e.ctdivol_mgy is not None and e.drl_ctdivol and region_matches(spec, e.region or exam.region)
        ]
        ratio, event = max(candidates, key=lambda c: c[0], default=(None, None))
        if ratio is None:
            return []
        value, drl = event.ctdivol_mgy, event.drl_ctdivol
    else:
        value, event = exam_value(spec, exam)
        drl = exam.drls.get(spec.quantity)
        if value is None or drl is None:
            return []
    multiple = spec.threshold or 1.0
    limit = multiple * drl.value
    if value <= limit:
        return []
    unit = unit_of(spec.quantity)
    return [
        Finding(
            spec.quantity, value, limit, unit,
            f"{label_of(spec.quantity)} {fmt(value, unit)} is {value / drl.value:.1f} × DRL "
            f"({fmt(drl.value, unit)}); limit {multiple:g} × DRL",
            {**base_context(spec, exam), **_event_context(event), "drl": drl.value, "drl_source": drl.label,
             "multiple_of_drl": round(value / drl.value, 2)},
        )
    ]


def mean_of_last_exceeds(spec: RuleSpec, exam: ExamFacts, recent: list[float], drl: Drl | None) -> list[Finding]:
    """StrlSchV §108 / Annex 14: the mean of the last N exams of one type on one device above
    threshold × DRL, once one of them was above threshold_single × DRL.

    `recent` holds the values of the last exams of the procedure on the device, this one last.
    """
    n = spec.count or 20
    if drl is None or len(recent) < n:
        return []
    last = recent[-n:]
    mean = statistics.fmean(last)
    single = (spec.threshold_single or 3.0) * drl.value
    if mean <= (spec.threshold or 2.0) * drl.value or max(last) <= single:
        return []
    unit = unit_of(spec.quantity)
    return [
        Finding(
            spec.quantity, mean, (spec.threshold or 2.0) * drl.value, unit,
            f"mean {label_of(spec.quantity)} of the last {n} exams on {exam.device} {fmt(mean, unit)} "
            f"above {spec.threshold or 2.0:g} × DRL ({fmt(drl.value, unit)}), highest {fmt(max(last), unit)}",
            {**base_context(spec, exam), "drl": drl.value, "drl_source": drl.label, "exams": n,
             "highest": max(last), "single_limit": single},
        )
    ]


# kind -> (the value the scanner compares with, the estimate it compared) per quantity
_DOSE_CHECK_KEYS = {
    "alert": (("CTDIvol", "ctdivol_alert_mgy", "accumulated_ctdivol_forward_estimate_mgy"),
              ("DLP", "dlp_alert_mgycm", "accumulated_dlp_forward_estimate_mgycm")),
    "notification": (("CTDIvol", "ctdivol_notification_mgy", "ctdivol_forward_estimate_mgy"),
                     ("DLP", "dlp_notification_mgycm", "dlp_forward_estimate_mgycm")),
}


def _dose_check_triggered(check: dict[str, Any], kind: str) -> tuple[bool, list[str]]:
    """Whether the scanner recorded an alert (or notification) for the event, and on what.

    The RDSR carries the configured values and the forward estimate; an
    estimate at or above its value is what stopped the operator. Without an
    estimate, a recorded reason for proceeding shows the same.
    """
    on, configured = [], False
    for label, value_key, estimate_key in _DOSE_CHECK_KEYS[kind]:
        limit, estimate = check.get(value_key), check.get(estimate_key)
        configured = configured or limit is not None
        if limit is not None and estimate is not None and estimate >= limit:
            on.append(label)
    return bool(on) or (configured and bool(check.get("reason_for_proceeding"))), on


def ct_dose_check(spec: RuleSpec, exam: ExamFacts) -> list[Finding]:
    """CT dose-check alerts (or notifications) the scanner recorded (NEMA XR-25, TID 10015)."""
    kind = "notification" if spec.quantity == "dose_check_notification" else "alert"
    hits = []
    for event in exam.events:
        if not event.dose_check:
            continue
        triggered, on = _dose_check_triggered(event.dose_check, kind)
        if triggered:
            hits.append((event, on))
    if not hits:
        return []
    event, on = hits[0]
    check = event.dose_check or {}
    reason = check.get("reason_for_proceeding") or ""
    return [
        Finding(
            spec.quantity, float(len(hits)), None, "",
            f"CT dose check {kind} on {', '.join(on) or 'a sequence'} ({event.protocol or 'no protocol'})"
            + (f"; reason given: {reason}" if reason else "; no reason recorded"),
            {**base_context(spec, exam), **_event_context(event), "reason_for_proceeding": reason,
             "person": check.get("person") or "", "sequences": len(hits), "dose_check": check},
        )
    ]


def protocol_median(spec: RuleSpec, exam: ExamFacts, medians: dict[str, tuple[float, int]]) -> list[Finding]:
    """A per-protocol dynamic limit: a sequence above threshold × the protocol's own median.

    `medians` maps a protocol (CT event protocol, else the exam's procedure or
    description) to its median on the device and how many exams it rests on.
    """
    quantity = spec.quantity or "ctdivol"
    minimum = spec.count or 10
    if quantity in PER_EVENT:
        pairs = [(e.protocol, e.ctdivol_mgy, e) for e in exam.events if e.ctdivol_mgy is not None]
    else:
        pairs = [(exam.procedure or exam.description, exam.totals.get(quantity), None)]
    worst = None
    for protocol, value, event in pairs:
        median, n = medians.get(protocol, (None, 0))
        if value is None or not median or n < minimum:
            continue
        ratio = value / median
        if ratio > (spec.threshold or 2.0) and (worst is None or ratio > worst[0]):
            worst = (ratio, protocol, value, median, n, event)
    if worst is None:
        return []
    ratio, protocol, value, median, n, event = worst
    unit = unit_of(quantity)
    return [
        Finding(
            quantity, value, (spec.threshold or 2.0) * median, unit,
            f"{label_of(quantity)} {fmt(value, unit)} is {ratio:.1f} × the median of protocol "
            f"“{protocol}” ({fmt(median, unit)}, {n} exams)",
            {**base_context(spec, exam), **_event_context(event), "protocol": protocol, "protocol_median": median,
             "median_of_exams": n, "multiple_of_median": round(ratio, 2)},
        )
    ]


def cumulative_dose(spec: RuleSpec, exam: ExamFacts, earlier: list[tuple[int, dt.date, float]]) -> list[Finding]:
    """The patient's total of a quantity over window_days up to this exam above an absolute level.

    `earlier` lists (study id, date, value) of the patient's other exams.
    """
    value = exam.totals.get(spec.quantity)
    if exam.study_date is None or spec.threshold is None:
        return []
    window = dt.timedelta(days=spec.window_days or 365)
    included = [(sid, d, v) for sid, d, v in earlier if v is not None and exam.study_date - window < d <= exam.study_date]
    total = (value or 0.0) + sum(v for _sid, _d, v in included)
    if total <= spec.threshold:
        return []
    unit = unit_of(spec.quantity)
    return [
        Finding(
            spec.quantity, total, spec.threshold, unit,
            f"cumulative {label_of(spec.quantity)} {fmt(total, unit)} over {len(included) + 1} exams in "
            f"{spec.window_days or 365:g} days above {fmt(spec.threshold, unit)}",
            {**base_context(spec, exam), "exams": len(included) + 1, "window_days": spec.window_days or 365,
             "studies": sorted([sid for sid, _d, _v in included] + [exam.study_id])},
        )
    ]


def repeated_exam(spec: RuleSpec, exam: ExamFacts, earlier: list[tuple[int, dt.datetime, str]]) -> list[Finding]:
    """The same patient's same region (or procedure) examined again within window_days.

    `earlier` lists (study id, start, region or procedure) of the patient's other exams.
    """
    if exam.started is None or not (exam.region or exam.procedure):
        return []
    window = dt.timedelta(days=spec.window_days or 2)
    key = (exam.region or exam.procedure).lower()
    before = [
        (sid, started) for sid, started, region in earlier
        if region and region.lower() == key and dt.timedelta(0) <= exam.started - started <= window and sid != exam.study_id
    ]
    if not before:
        return []
    sid, started = max(before, key=lambda b: b[1])
    hours = (exam.started - started).total_seconds() / 3600
    return [
        Finding(
            "repeat", round(hours, 1), (spec.window_days or 2) * 24, "h",
            f"{exam.region or exam.procedure} examined again after {hours:.1f} h (study {sid})",
            {**base_context(spec, exam), "previous_study": sid, "previous_started": started.isoformat(),
             "region": exam.region},
        )
    ]


def _usual(values: list[Any]) -> Any:
    """The most common value of a history (the latest one on a tie)."""
    return max(reversed(values), key=values.count) if values else None


def technique_change(spec: RuleSpec, exam: ExamFacts, history: dict[str, list[dict[str, Any]]]) -> list[Finding]:
    """A protocol's technique (kVp, pitch, reference mAs, filter) on the device differs from its history.

    `history` maps a protocol to the technique of its recent sequences on this
    device before this exam (dicts of TECHNIQUE_PARAMS). Numbers differ by more
    than `threshold` (a fraction, default 5 %); filters differ when not equal.
    """
    minimum = spec.count or 5
    tolerance = spec.threshold if spec.threshold is not None else 0.05
    changes = []
    for event in exam.events:
        past = history.get(event.protocol) or []
        if not event.protocol or len(past) < minimum:
            continue
        for name in TECHNIQUE_PARAMS:
            now = getattr(event, name)
            usual = _usual([p.get(name) for p in past if p.get(name) not in (None, "")])
            if now in (None, "") or usual is None:
                continue
            if isinstance(now, str):
                changed = now != usual
            else:
                changed = abs(now - usual) > tolerance * abs(usual)
            if changed:
                changes.append({"protocol": event.protocol, "parameter": name, "was": usual, "now": now})
    if not changes:
        return []
    described = "; ".join(f"{c['protocol']}: {c['parameter']} {c['was']} → {c['now']}" for c in changes[:4])
    return [
        Finding(
            "technique", float(len(changes)), None, "",
            f"technique changed on {exam.device}: {described}",
            {**base_context(spec, exam), "changes": changes, "protocol": changes[0]["protocol"]},
        )
    ]


@dataclass(frozen=True)
class OrderFacts:
    order_id: int
    accession_number: str
    procedure: str
    scheduled_at: dt.datetime
    location: str = ""
    modality: str = ""


def order_without_dose(spec: RuleSpec, order: OrderFacts, now: dt.datetime) -> list[Finding]:
    """An order whose exam should have happened (threshold hours after scheduling) with no dose data."""
    if spec.modalities and order.modality and order.modality not in spec.modalities:
        return []
    hours = (now - order.scheduled_at).total_seconds() / 3600
    if hours < (spec.threshold or 0):
        return []
    return [
        Finding(
            "order", round(hours, 1), spec.threshold, "h",
            f"order {order.accession_number or order.order_id} ({order.procedure or 'no procedure'}) has no dose "
            f"data {hours:.0f} h after its scheduled time",
            {"rule": spec.name, "procedure": order.procedure, "accession_number": order.accession_number,
             "location": order.location, "scheduled_at": order.scheduled_at.isoformat()},
        )
    ]
