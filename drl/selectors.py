"""Reads of the procedure catalogue, mappings and DRL sets: one query per list."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from rdsr.models import IrradiationEvent, Study

from .models import (
    DrlSet,
    DrlValue,
    EventMapping,
    MappingChange,
    MappingRule,
    StandardProcedure,
    StudyMapping,
)

# Which set wins when several apply: our own first, then regional, then national.
KIND_PRECEDENCE = {DrlSet.Kind.LOCAL: 0, DrlSet.Kind.REGIONAL: 1, DrlSet.Kind.NATIONAL: 2}


def procedure_list(*, active_only: bool = False) -> QuerySet[StandardProcedure]:
    procedures = StandardProcedure.objects.all()
    if active_only:
        procedures = procedures.filter(active=True)
    return procedures.order_by("modality", "name")


def mapping_rule_list() -> QuerySet[MappingRule]:
    return MappingRule.objects.select_related("procedure", "device").order_by("level", "priority", "id")


def study_procedure(study: Study) -> StandardProcedure | None:
    """The standard procedure of a study as last mapped (None: unmapped or not mapped yet)."""
    mapping = StudyMapping.objects.filter(study=study).select_related("procedure").first()
    return mapping.procedure if mapping else None


def event_procedure(event: IrradiationEvent) -> StandardProcedure | None:
    """The standard procedure of a CT event (sequence) as last mapped."""
    mapping = EventMapping.objects.filter(event=event).select_related("procedure").first()
    return mapping.procedure if mapping else None


def studies_of_procedure(*, procedure: StandardProcedure) -> QuerySet[Study]:
    """All studies mapped to a procedure (patients and non-patients: filter with patient_studies())."""
    return Study.objects.filter(drl_mapping__procedure=procedure)


def events_of_procedure(*, procedure: StandardProcedure) -> QuerySet[IrradiationEvent]:
    return IrradiationEvent.objects.filter(drl_mapping__procedure=procedure)


@dataclass(frozen=True)
class InboxRow:
    modality: str
    field: str
    name: str
    count: int


def unmapped_names(*, level: str = "study", modality: str = "") -> list[InboxRow]:
    """Names of unmapped studies (or CT events) with how many carry each, by volume."""
    if level == "event":
        rows = EventMapping.objects.filter(procedure__isnull=True).exclude(name="")
        if modality:
            rows = rows.filter(study__modality=modality)
        grouped = rows.values("name").annotate(count=Count("id")).order_by("-count", "name")
        return [InboxRow("CT", "protocol", r["name"], r["count"]) for r in grouped]
    rows = StudyMapping.objects.filter(procedure__isnull=True)
    if modality:
        rows = rows.filter(modality=modality)
    grouped = rows.values("modality", "name_field", "name").annotate(count=Count("id"))
    return [
        InboxRow(r["modality"], r["name_field"], r["name"], r["count"])
        for r in grouped.order_by("-count", "modality", "name")
    ]


def mapping_counts() -> dict[str, int]:
    counts = StudyMapping.objects.aggregate(
        mapped=Count("id", filter=Q(procedure__isnull=False)),
        unmapped=Count("id", filter=Q(procedure__isnull=True)),
    )
    counts["never_mapped"] = Study.objects.filter(drl_mapping__isnull=True).count()
    return counts


def mapping_history(*, study_id: int | None = None) -> QuerySet[MappingChange]:
    changes = MappingChange.objects.select_related("study", "rule")
    if study_id is not None:
        changes = changes.filter(study_id=study_id)
    return changes.order_by("-at", "-id")


def drl_set_list() -> QuerySet[DrlSet]:
    return DrlSet.objects.annotate(value_count=Count("values")).order_by("kind", "-valid_from", "name")


def drl_set_values(*, drl_set: DrlSet) -> QuerySet[DrlValue]:
    return drl_set.values.select_related("procedure").order_by(
        "procedure__modality", "procedure__name", "quantity", "age_min_years", "weight_min_kg", "id"
    )


def _in_band(low: float | None, high: float | None, value: float | None) -> bool:
    """Lower bound included, upper excluded; an open band takes anything, a closed one needs a value."""
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value < high)


def drl_applicable(
    *,
    procedure: StandardProcedure,
    quantity: str,
    on_date: datetime.date,
    patient_group: str = DrlValue.PatientGroup.ADULT,
    age_years: float | None = None,
    weight_kg: float | None = None,
    phantom: str = "",
    thickness_mm: float | None = None,
    level: str = "",
    kinds: tuple[str, ...] = (),
) -> list[DrlValue]:
    """DRL values that apply, best first (local, regional, national; newest set first).

    A value applies when its set is active and valid on the date, and the
    patient (age, weight), the CT phantom and the mammographic compressed
    thickness fall in its bands; a value with a band needs the datum to apply.
    """
    values = DrlValue.objects.select_related("drl_set", "procedure").filter(
        procedure=procedure, quantity=quantity, patient_group=patient_group, drl_set__active=True
    )
    values = values.filter(Q(drl_set__valid_from__isnull=True) | Q(drl_set__valid_from__lte=on_date))
    values = values.filter(Q(drl_set__valid_to__isnull=True) | Q(drl_set__valid_to__gte=on_date))
    if level:
        values = values.filter(level=level)
    if kinds:
        values = values.filter(drl_set__kind__in=kinds)
    if phantom:
        values = values.filter(Q(phantom="") | Q(phantom=phantom))
    found = [
        v
        for v in values
        if _in_band(v.age_min_years, v.age_max_years, age_years)
        and _in_band(v.weight_min_kg, v.weight_max_kg, weight_kg)
        and _in_band(v.thickness_min_mm, v.thickness_max_mm, thickness_mm)
    ]
    found.sort(
        key=lambda v: (
            KIND_PRECEDENCE.get(v.drl_set.kind, 9),
            -(v.drl_set.valid_from or datetime.date.min).toordinal(),
            -v.drl_set.pk,
        )
    )
    return found
