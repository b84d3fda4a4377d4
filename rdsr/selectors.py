"""Reads of dose records for the web pages: one query per list, never one per row."""

from __future__ import annotations

import datetime

from django.db.models import F, Q, QuerySet

from .models import Device, DoseObject, IrradiationEvent, NonPatientRule, PlaneAccumulation, Study


def patient_studies() -> QuerySet[Study]:
    """Studies of patients only: every statistic (DRLs, medians, counts, alerts) starts here.

    Phantom, QA and test studies (Study.non_patient, set by rules or by a user)
    are left out; use `Study.objects` directly only to show or manage them.
    """
    return Study.objects.filter(non_patient=False)


def study_list(
    *,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    modality: str = "",
    device_id: int | None = None,
    text: str = "",
    non_patient: bool | None = None,
) -> QuerySet[Study]:
    """Studies newest first, filtered; patient and device come in the same query.

    ``non_patient``: None all studies, False patients only, True non-patient only.
    """
    studies = Study.objects.select_related("patient", "device")
    if non_patient is not None:
        studies = studies.filter(non_patient=non_patient)
    if date_from:
        studies = studies.filter(study_date__gte=date_from)
    if date_to:
        studies = studies.filter(study_date__lte=date_to)
    if modality:
        studies = studies.filter(modality=modality)
    if device_id:
        studies = studies.filter(device_id=device_id)
    text = text.strip()
    if text:
        studies = studies.filter(
            Q(accession_number__icontains=text)
            | Q(study_description__icontains=text)
            | Q(patient__patient_id__icontains=text)
        )
    # Studies without a date go last, not first, in a newest-first list.
    return studies.order_by(
        F("study_date").desc(nulls_last=True), F("study_time").desc(nulls_last=True), "-id"
    )


def study_modalities() -> list[str]:
    return list(
        Study.objects.exclude(modality="").order_by("modality").values_list("modality", flat=True).distinct()
    )


def device_list() -> QuerySet[Device]:
    return Device.objects.order_by("display_name", "station_name", "manufacturer", "model", "id")


def study_get(*, study_id: int) -> Study:
    """Raises Study.DoesNotExist."""
    return Study.objects.select_related("patient", "device").get(pk=study_id)


def study_events(*, study: Study) -> QuerySet[IrradiationEvent]:
    return study.events.order_by("datetime_started", "position", "id")


def study_planes(*, study: Study) -> QuerySet[PlaneAccumulation]:
    return study.planes.order_by("plane")


def study_dose_objects(*, study: Study) -> QuerySet[DoseObject]:
    return study.dose_objects.order_by("id")


def non_patient_rule_list() -> QuerySet[NonPatientRule]:
    return NonPatientRule.objects.order_by("field", "pattern", "id")


def non_patient_study_count() -> int:
    return Study.objects.filter(non_patient=True).count()
