"""Writes of the alerts app: evaluating studies and orders against the rules, the inbox's state machine.

Evaluation is idempotent: a study is evaluated when it is new or changed (its
updated_at, or its procedure mapping, is newer than its StudyEvaluation), and
what a rule finds updates the one alert per rule × subject × quantity; the
status a person gave it (justified, closed...) stays.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from audit.services import audit_record
from drl.models import StandardProcedure
from drl.selectors import drl_applicable
from rdsr.models import IrradiationEvent, PlaneAccumulation, Study
from rdsr.selectors import patient_studies

from . import rules
from .models import Alert, AlertNote, AlertRule, StudyEvaluation
from .rules import Drl, EventFacts, ExamFacts, Finding, RuleSpec

logger = logging.getLogger(__name__)
BATCH = 200
SOURCE = "alerts"

STUDY_TOTALS = {"dlp": "dlp_total_mgycm", "dap": "dap_total_gycm2", "fluoro_time": "fluoro_time_total_s"}
TRANSITIONS: dict[str, set[str]] = {
    Alert.Status.NEW: {Alert.Status.ACKNOWLEDGED, Alert.Status.JUSTIFIED, Alert.Status.INVESTIGATING, Alert.Status.CLOSED},
    Alert.Status.ACKNOWLEDGED: {Alert.Status.JUSTIFIED, Alert.Status.INVESTIGATING, Alert.Status.CLOSED},
    Alert.Status.INVESTIGATING: {Alert.Status.JUSTIFIED, Alert.Status.REPORTED, Alert.Status.CLOSED},
    Alert.Status.JUSTIFIED: {Alert.Status.INVESTIGATING, Alert.Status.CLOSED},
    Alert.Status.REPORTED: {Alert.Status.CLOSED},
    Alert.Status.CLOSED: {Alert.Status.INVESTIGATING},
}


class TransitionInvalid(ValueError):
    pass


def spec_of(rule: AlertRule) -> RuleSpec:
    return RuleSpec(
        id=rule.pk, name=rule.name, kind=rule.kind, quantity=rule.quantity, threshold=rule.threshold,
        threshold_single=rule.threshold_single, count=rule.count, window_days=rule.window_days,
        modalities=rule.modality_list, procedure_id=rule.procedure_id, device_id=rule.device_id,
        patient_group=rule.patient_group, body_region=rule.body_region, body_region_exclude=rule.body_region_exclude,
    )


# ---------------------------------------------------------------- facts


def _confirmed(event: IrradiationEvent, name: str) -> Any:
    """The event's value unless it waits in review (unconfirmed values never raise alerts)."""
    if name in ((event.details or {}).get("review") or []):
        return None
    return getattr(event, name)


def _filter_text(details: dict) -> str:
    filters = details.get("filters") or details.get("x_ray_filters") or []
    if isinstance(filters, str):
        return filters
    parts = [" ".join(str(f.get(k) or "") for k in ("type", "material")).strip() for f in filters if isinstance(f, dict)]
    return ", ".join(p for p in parts if p)


def _local_start(study: Study) -> dt.datetime | None:
    if study.study_date is None:
        return None
    naive = dt.datetime.combine(study.study_date, study.study_time or dt.time(0, 0))
    return timezone.make_aware(naive)


class _DrlCache:
    def __init__(self) -> None:
        self._cache: dict[tuple, Drl | None] = {}

    def get(self, procedure: StandardProcedure | None, quantity: str, study: Study, *, phantom: str = "",
            level: str = "") -> Drl | None:
        if procedure is None or study.study_date is None:
            return None
        group = "paediatric" if study.age_years is not None and study.age_years < 18 else "adult"
        key = (procedure.pk, quantity, study.study_date, group, study.age_years, study.weight_kg, phantom, level)
        if key not in self._cache:
            found = drl_applicable(
                procedure=procedure, quantity=quantity, on_date=study.study_date, patient_group=group,
                age_years=study.age_years, weight_kg=study.weight_kg, phantom=phantom, level=level,
            )
            best = found[0] if found else None
            self._cache[key] = (
                Drl(best.value, f"{best.drl_set}: {best.procedure.name}, {best.get_level_display().lower()}")
                if best else None
            )
        return self._cache[key]


def _exam_facts(studies: list[Study], drls: _DrlCache) -> dict[int, ExamFacts]:
    ids = [s.pk for s in studies]
    events: dict[int, list[IrradiationEvent]] = defaultdict(list)
    for event in (
        IrradiationEvent.objects.filter(study_id__in=ids)
        .select_related("drl_mapping__procedure")
        .order_by("study_id", "datetime_started", "position", "id")
    ):
        events[event.study_id].append(event)
    kar = dict(
        PlaneAccumulation.objects.filter(study_id__in=ids)
        .values("study_id").annotate(m=Max("dose_rp_total_mgy")).values_list("study_id", "m")
    )
    facts = {}
    for study in studies:
        mapping = getattr(study, "drl_mapping", None)
        procedure = mapping.procedure if mapping else None
        exam = ExamFacts(
            study_id=study.pk, modality=study.modality, study_date=study.study_date, started=_local_start(study),
            procedure_id=procedure.pk if procedure else None, procedure=procedure.name if procedure else "",
            region=procedure.body_region if procedure else "",
            description=study.study_description or study.requested_procedure,
            device_id=study.device_id, device=str(study.device) if study.device_id else "",
            patient_id=study.patient_id, age_years=study.age_years, weight_kg=study.weight_kg,
            height_m=study.height_m, series=study.event_count,
        )
        exam.totals = {q: getattr(study, f) for q, f in STUDY_TOTALS.items()}
        exam.totals["kar"] = kar.get(study.pk)
        agd = [v for v in (study.agd_left_mgy, study.agd_right_mgy) if v is not None]
        exam.totals["agd"] = max(agd) if agd else None
        # Peak skin dose only when a dose object states it (not computed yet, DOMAIN.md §9).
        exam.totals["psd"] = (study.stated_totals or {}).get("peak_skin_dose_mgy")
        for event in events[study.pk]:
            ev_mapping = getattr(event, "drl_mapping", None)
            ev_procedure = (ev_mapping.procedure if ev_mapping else None) or procedure
            details = event.details or {}
            facts_event = EventFacts(
                event_id=event.pk, protocol=event.protocol,
                region=(ev_procedure.body_region if ev_procedure else "") or event.target_region,
                procedure=ev_procedure.name if ev_procedure else "",
                ctdivol_mgy=_confirmed(event, "ctdivol_mgy"), dlp_mgycm=_confirmed(event, "dlp_mgycm"),
                dap_gycm2=_confirmed(event, "dap_gycm2"), kvp=_confirmed(event, "kvp"), pitch=_confirmed(event, "pitch"),
                reference_mas=details.get("reference_mas"), filter=_filter_text(details),
                dose_check=None if "dose_check" in (details.get("review") or []) else details.get("dose_check"),
            )
            if study.modality == "CT" and facts_event.ctdivol_mgy is not None:
                facts_event.drl_ctdivol = drls.get(ev_procedure, "ctdivol", study, phantom=event.phantom)
            exam.events.append(facts_event)
        if not exam.region and exam.events:
            exam.region = next((e.region for e in exam.events if e.region), "")
        for quantity in ("dlp", "dap", "kar", "fluoro_time", "agd", "ctdivol"):
            drl = drls.get(procedure, quantity, study)
            if drl is not None:
                exam.drls[quantity] = drl
        facts[study.pk] = exam
    return facts


# ---------------------------------------------------------------- history (the rules' other facts)


def _exam_value_expr(quantity: str) -> str:
    return STUDY_TOTALS.get(quantity, "")


def _recent_values(spec: RuleSpec, study: Study, exam: ExamFacts) -> list[float]:
    """The rule's quantity over the last N patient exams of the procedure on the device, oldest first."""
    if exam.procedure_id is None or study.device_id is None or study.study_date is None:
        return []
    qs = patient_studies().filter(device_id=study.device_id, drl_mapping__procedure_id=exam.procedure_id).filter(
        Q(study_date__lt=study.study_date) | Q(study_date=study.study_date, pk__lte=study.pk)
    )
    if spec.quantity == "ctdivol":
        qs = qs.annotate(v=Max("events__ctdivol_mgy"))
    elif spec.quantity in STUDY_TOTALS:
        qs = qs.annotate(v=F(STUDY_TOTALS[spec.quantity]))
    else:
        return []
    rows = qs.exclude(v__isnull=True).order_by("-study_date", "-study_time", "-pk").values_list("v", flat=True)
    return list(reversed(rows[: spec.count or 20]))


def _protocol_medians(spec: RuleSpec, study: Study, exam: ExamFacts) -> dict[str, tuple[float, int]]:
    if study.device_id is None or study.study_date is None:
        return {}
    since = study.study_date - dt.timedelta(days=spec.window_days or 180)
    history = patient_studies().filter(device_id=study.device_id, study_date__gte=since, study_date__lte=study.study_date)
    history = history.exclude(pk=study.pk)
    values: dict[str, list[float]] = defaultdict(list)
    if (spec.quantity or "ctdivol") == "ctdivol":
        protocols = {e.protocol for e in exam.events if e.protocol}
        rows = IrradiationEvent.objects.filter(study__in=history, protocol__in=protocols, ctdivol_mgy__isnull=False)
        for protocol, value in rows.values_list("protocol", "ctdivol_mgy"):
            values[protocol].append(value)
    elif spec.quantity in STUDY_TOTALS and exam.procedure_id:
        rows = history.filter(drl_mapping__procedure_id=exam.procedure_id).exclude(
            **{f"{STUDY_TOTALS[spec.quantity]}__isnull": True}
        )
        values[exam.procedure] = list(rows.values_list(STUDY_TOTALS[spec.quantity], flat=True))
    return {p: (statistics.median(v), len(v)) for p, v in values.items() if v}


def _patient_history(study: Study, window_days: float) -> list[Study]:
    if study.patient_id is None or study.study_date is None:
        return []
    since = study.study_date - dt.timedelta(days=window_days + 1)
    return list(
        patient_studies().filter(patient_id=study.patient_id, study_date__gte=since, study_date__lte=study.study_date)
        .exclude(pk=study.pk).select_related("drl_mapping__procedure")
    )


def _technique_history(spec: RuleSpec, study: Study, exam: ExamFacts) -> dict[str, list[dict[str, Any]]]:
    if study.device_id is None or study.study_date is None:
        return {}
    protocols = {e.protocol for e in exam.events if e.protocol}
    since = study.study_date - dt.timedelta(days=spec.window_days or 90)
    earlier = patient_studies().filter(device_id=study.device_id, study_date__gte=since).filter(
        Q(study_date__lt=study.study_date) | Q(study_date=study.study_date, pk__lt=study.pk)
    )
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    keep = max(spec.count or 5, 1) * 4
    rows = IrradiationEvent.objects.filter(study__in=earlier, protocol__in=protocols).order_by(
        "-study__study_date", "-study__study_time", "-study_id", "-position"
    )
    for event in rows.only("protocol", "kvp", "pitch", "details"):
        if len(history[event.protocol]) >= keep:
            continue
        details = event.details or {}
        history[event.protocol].append({
            "kvp": _confirmed(event, "kvp"), "pitch": _confirmed(event, "pitch"),
            "reference_mas": details.get("reference_mas"), "filter": _filter_text(details),
        })
    return history


def _findings(rule: AlertRule, spec: RuleSpec, study: Study, exam: ExamFacts) -> list[tuple[str, Finding]]:
    """(subject, finding) pairs of one rule on one exam."""
    subject = f"study:{study.pk}"
    kind = rule.kind
    if kind == AlertRule.Kind.ABSOLUTE:
        return [(subject, f) for f in rules.absolute_level(spec, exam)]
    if kind == AlertRule.Kind.DRL_MULTIPLE:
        return [(subject, f) for f in rules.drl_multiple(spec, exam)]
    if kind == AlertRule.Kind.DOSE_CHECK:
        return [(subject, f) for f in rules.ct_dose_check(spec, exam)]
    if kind == AlertRule.Kind.MEAN_OF_LAST:
        found = rules.mean_of_last_exceeds(spec, exam, _recent_values(spec, study, exam), exam.drls.get(spec.quantity))
        # About the device and procedure, not one exam: one alert per pair, pointing at the latest exam.
        return [(f"device:{study.device_id}:procedure:{exam.procedure_id}", f) for f in found]
    if kind == AlertRule.Kind.PROTOCOL_MEDIAN:
        return [(subject, f) for f in rules.protocol_median(spec, exam, _protocol_medians(spec, study, exam))]
    if kind == AlertRule.Kind.CUMULATIVE:
        field_name = STUDY_TOTALS.get(spec.quantity)
        if not field_name:
            return []
        earlier = [(s.pk, s.study_date, getattr(s, field_name)) for s in _patient_history(study, spec.window_days or 365)
                   if not spec.modalities or s.modality in spec.modalities]
        return [(subject, f) for f in rules.cumulative_dose(spec, exam, earlier)]
    if kind == AlertRule.Kind.REPEAT:
        earlier = []
        for other in _patient_history(study, spec.window_days or 2):
            if other.modality != study.modality:
                continue
            mapping = getattr(other, "drl_mapping", None)
            procedure = mapping.procedure if mapping else None
            region = (procedure.body_region or procedure.name) if procedure else ""
            start = _local_start(other)
            if start is not None:
                earlier.append((other.pk, start, region))
        return [(subject, f) for f in rules.repeated_exam(spec, exam, earlier)]
    if kind == AlertRule.Kind.TECHNIQUE:
        return [(subject, f) for f in rules.technique_change(spec, exam, _technique_history(spec, study, exam))]
    return []


# ---------------------------------------------------------------- storing alerts


@dataclass
class EvaluationResult:
    studies: int = 0
    created: list[int] = field(default_factory=list)
    updated: int = 0
    no_longer_met: int = 0

    def __iadd__(self, other: EvaluationResult) -> EvaluationResult:
        self.studies += other.studies
        self.created += other.created
        self.updated += other.updated
        self.no_longer_met += other.no_longer_met
        return self


def _store_finding(
    result: EvaluationResult, rule: AlertRule, subject: str, finding: Finding, *, study: Study | None = None,
    order=None, procedure_id: int | None = None, exam_date: dt.date | None = None,
) -> Alert:
    now = timezone.now()
    values = {
        "study": study, "order": order, "device_id": study.device_id if study else None,
        "procedure_id": procedure_id, "patient_id": study.patient_id if study else (order.patient_id if order else None),
        "exam_date": exam_date, "value": finding.value, "threshold": finding.threshold, "unit": finding.unit,
        "message": finding.message[:500], "context": finding.context, "urgent": rule.urgent, "condition_met": True,
    }
    alert = Alert.objects.filter(rule=rule, subject=subject, quantity=finding.quantity).first()
    if alert is None:
        alert = Alert.objects.create(rule=rule, subject=subject, quantity=finding.quantity, **values)
        result.created.append(alert.pk)
        audit_record(
            action="create", object_type="alert", object_id=alert.pk, username="system", source=SOURCE,
            patient_pk=alert.patient_id, summary=f"{rule.name}: {finding.message}"[:300],
            details={"rule": rule.code, "subject": subject, "value": finding.value, "threshold": finding.threshold},
        )
        if rule.urgent:
            alert_id = alert.pk
            transaction.on_commit(lambda: _enqueue_urgent(alert_id))
        return alert
    # The same alert seen again (a re-import, a later evaluation): new values, the status as people left it.
    for name, value in values.items():
        setattr(alert, name, value)
    alert.last_seen_at = now
    alert.save()
    result.updated += 1
    return alert


def _enqueue_urgent(alert_id: int) -> None:
    from .tasks import alert_notify_urgent

    alert_notify_urgent.delay(alert_id)


def _stale_study_ids() -> list[int]:
    """Studies never evaluated, changed since, or mapped to a procedure since."""
    return list(
        Study.objects.filter(
            Q(alert_evaluation__isnull=True)
            | Q(updated_at__gt=F("alert_evaluation__study_updated_at"))
            | Q(drl_mapping__mapped_at__gt=F("alert_evaluation__evaluated_at"))
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _chunks(ids: list[int], size: int = BATCH) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def alerts_evaluate(*, study_ids: Iterable[int] | None = None) -> EvaluationResult:
    """Evaluate the given studies, or those new or changed since their last evaluation; idempotent."""
    ids = sorted(set(study_ids)) if study_ids is not None else _stale_study_ids()
    active = [r for r in AlertRule.objects.filter(active=True).exclude(kind=AlertRule.Kind.ORDER).order_by("pk")]
    specs = {r.pk: spec_of(r) for r in active}
    result = EvaluationResult()
    for chunk in _chunks(ids):
        with transaction.atomic():
            studies = list(
                Study.objects.filter(pk__in=chunk).select_related("device", "patient", "drl_mapping__procedure")
            )
            facts = _exam_facts(studies, _DrlCache())
            for study in studies:
                result.studies += 1
                seen: set[int] = set()
                if not study.non_patient:
                    exam = facts[study.pk]
                    for rule in active:
                        spec = specs[rule.pk]
                        if not rules.applies(spec, exam):
                            continue
                        for subject, finding in _findings(rule, spec, study, exam):
                            alert = _store_finding(
                                result, rule, subject, finding, study=study, procedure_id=exam.procedure_id,
                                exam_date=study.study_date,
                            )
                            seen.add(alert.pk)
                # Alerts of this study no longer found (value corrected, not a patient, remapped) stay, flagged.
                result.no_longer_met += (
                    Alert.objects.filter(study=study, subject=f"study:{study.pk}", condition_met=True)
                    .exclude(pk__in=seen).update(condition_met=False)
                )
                StudyEvaluation.objects.update_or_create(
                    study=study, defaults={"study_updated_at": study.updated_at, "evaluated_at": timezone.now()}
                )
    if result.created or result.no_longer_met:
        logger.info("alerts: %d studies, %d new, %d no longer met", result.studies, len(result.created),
                    result.no_longer_met)
    return result


def alerts_evaluate_orders(*, now: dt.datetime | None = None) -> EvaluationResult:
    """Orders without dose data (ris worklist) against the order rules; orders that got dose data are flagged."""
    from ris.selectors import orders_without_dose

    now = now or timezone.now()
    result = EvaluationResult()
    order_rules = list(AlertRule.objects.filter(active=True, kind=AlertRule.Kind.ORDER))
    with transaction.atomic():
        for rule in order_rules:
            spec = spec_of(rule)
            seen = set()
            for order in orders_without_dose(now=now, grace_hours=0):
                facts = rules.OrderFacts(
                    order_id=order.pk, accession_number=order.accession_number,
                    procedure=order.procedure_text or order.procedure_code, scheduled_at=order.scheduled_at,
                    location=order.ordering_location, modality=(order.modality or "").upper(),
                )
                for finding in rules.order_without_dose(spec, facts, now):
                    alert = _store_finding(
                        result, rule, f"order:{order.pk}", finding, order=order,
                        exam_date=timezone.localdate(order.scheduled_at),
                    )
                    seen.add(alert.pk)
            result.no_longer_met += (
                Alert.objects.filter(rule=rule, condition_met=True).exclude(pk__in=seen).update(condition_met=False)
            )
    return result


# ---------------------------------------------------------------- the inbox


def _note(alert: Alert, *, username: str, text: str = "", old_status: str = "", new_status: str = "") -> AlertNote:
    return AlertNote.objects.create(alert=alert, username=username, text=text, old_status=old_status,
                                    new_status=new_status)


def alert_transition(
    *, alert_id: int, status: str, username: str, justification: str = "", comment: str = "", request=None,
) -> Alert:
    """Move an alert along new → acknowledged → justified / under investigation → reported / closed."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert_id)
        old = alert.status
        if status not in TRANSITIONS.get(old, set()):
            wanted = Alert.Status(status).label.lower() if status in Alert.Status.values else repr(status)
            raise TransitionInvalid(
                f"Alert #{alert.pk} is {alert.get_status_display().lower()}; it cannot become {wanted}."
            )
        if status == Alert.Status.JUSTIFIED and not justification:
            raise TransitionInvalid("A justification code is needed to justify an alert.")
        if justification and justification not in Alert.Justification.values:
            raise TransitionInvalid(f"Unknown justification {justification!r}.")
        alert.status = status
        if justification:
            alert.justification = justification
        alert.save(update_fields=["status", "justification", "updated_at"])
        _note(alert, username=username, text=comment, old_status=old, new_status=status)
        audit_record(
            action="change", object_type="alert", object_id=alert.pk, username=username, request=request,
            patient_pk=alert.patient_id,
            summary=f"alert #{alert.pk} {old} → {status}" + (f" ({justification})" if justification else ""),
            details={"old_status": old, "new_status": status, "justification": justification, "comment": comment},
        )
    return alert


def alert_assign(*, alert_id: int, assignee_id: int | None, username: str, request=None) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert_id)
        old = alert.assigned_to.get_username() if alert.assigned_to_id else ""
        alert.assigned_to_id = assignee_id
        alert.save(update_fields=["assigned_to", "updated_at"])
        alert.refresh_from_db(fields=["assigned_to"])
        new = alert.assigned_to.get_username() if alert.assigned_to else ""
        _note(alert, username=username, text=f"assigned to {new}" if new else "unassigned")
        audit_record(
            action="change", object_type="alert", object_id=alert.pk, username=username, request=request,
            patient_pk=alert.patient_id, summary=f"alert #{alert.pk} assigned: {old or '—'} → {new or '—'}",
            details={"old": old, "new": new},
        )
    return alert


def alert_comment(*, alert_id: int, text: str, username: str, request=None) -> AlertNote:
    text = text.strip()
    if not text:
        raise TransitionInvalid("An empty comment was not added.")
    alert = Alert.objects.get(pk=alert_id)
    note = _note(alert, username=username, text=text)
    audit_record(
        action="change", object_type="alert", object_id=alert.pk, username=username, request=request,
        patient_pk=alert.patient_id, summary=f"alert #{alert.pk} comment: {text}"[:300], details={"comment": text},
    )
    return note


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def alerts_bulk(
    *, alert_ids: list[int], action: str, username: str, justification: str = "", comment: str = "",
    assignee_id: int | None = None, request=None,
) -> BulkResult:
    """One action on many alerts: a status ("acknowledged", "justified"...) or "assign"; each audited alone."""
    result = BulkResult()
    for alert_id in sorted(set(alert_ids)):
        try:
            if action == "assign":
                alert_assign(alert_id=alert_id, assignee_id=assignee_id, username=username, request=request)
            else:
                alert_transition(alert_id=alert_id, status=action, username=username, justification=justification,
                                 comment=comment, request=request)
            result.done.append(alert_id)
        except (TransitionInvalid, Alert.DoesNotExist) as exc:
            result.refused.append(str(exc))
    return result


# ---------------------------------------------------------------- periodic work


def alerts_sweep(*, now: dt.datetime | None = None) -> EvaluationResult:
    """The periodic work of the app (beat every minute, or the embedded sweeper): studies, orders, digest."""
    from .notifications import digest_send_if_due

    result = alerts_evaluate()
    result += alerts_evaluate_orders(now=now)
    digest_send_if_due(now=now or timezone.now())
    return result


def digest_time() -> dt.time:
    hours, _, minutes = (settings.ALERTS_DIGEST_TIME or "07:00").partition(":")
    return dt.time(int(hours), int(minutes or 0))
