"""Reads of the RIS feed: the order of a study, and the MPE's reconciliation worklists."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from rdsr.models import Study

from .models import Order

ACTIVE = [Order.Status.SCHEDULED, Order.Status.IN_PROGRESS, Order.Status.COMPLETED, Order.Status.HELD]


def study_order(*, study: Study) -> Order | None:
    """The order a study was done for: linked, else matched by UID, else by accession number."""
    linked = Order.objects.filter(study=study).order_by("-id").first()
    if linked is not None:
        return linked
    undecided = Order.objects.filter(link_decided=False, study__isnull=True)
    by_uid = undecided.filter(study_instance_uid=study.study_instance_uid).order_by("-id").first()
    if by_uid is not None:
        return by_uid
    if study.accession_number:
        return undecided.filter(accession_number=study.accession_number).order_by("-id").first()
    return None


def _orders_matching_study() -> QuerySet[Order]:
    """Orders of the study OuterRef points at: linked, else matched by UID, else by accession number."""
    undecided = Q(link_decided=False, study__isnull=True)
    return Order.objects.filter(
        Q(study=OuterRef("pk"))
        | (undecided & Q(study_instance_uid=OuterRef("study_instance_uid")))
        | (undecided & ~Q(accession_number="") & Q(accession_number=OuterRef("accession_number")))
    )


def _studies_with_dose_matching_order() -> QuerySet[Study]:
    """Studies with dose data of the order OuterRef points at."""
    return Study.objects.filter(event_count__gt=0).filter(
        Q(pk=OuterRef("study_id"))
        | (
            Q(pk__isnull=False)
            & ~Q(study_instance_uid="")
            & Q(study_instance_uid=OuterRef("study_instance_uid"))
        )
        | (~Q(accession_number="") & Q(accession_number=OuterRef("accession_number")))
    )


def orders_without_dose(*, now: dt.datetime | None = None, grace_hours: float | None = None) -> QuerySet[Order]:
    """Orders whose exam should have happened (scheduled + grace) and have no dose data."""
    now = now or timezone.now()
    grace = settings.HL7_ORDER_GRACE_HOURS if grace_hours is None else grace_hours
    matched = _studies_with_dose_matching_order()
    decided = Study.objects.filter(event_count__gt=0, pk=OuterRef("study_id"))
    return (
        Order.objects.filter(status__in=ACTIVE, scheduled_at__lte=now - dt.timedelta(hours=grace))
        .annotate(has_dose=Exists(matched), has_decided_dose=Exists(decided))
        .filter(Q(link_decided=True, has_decided_dose=False) | Q(link_decided=False, has_dose=False))
        .select_related("patient")
        .order_by("scheduled_at", "id")
    )


def studies_without_order() -> QuerySet[Study]:
    """Studies with dose data (of patients) that no order matches."""
    return (
        Study.objects.filter(event_count__gt=0, non_patient=False)
        .exclude(Exists(_orders_matching_study()))
        .select_related("patient", "device")
        .order_by("-study_date", "-study_time", "-id")
    )


def studies_with_patient_mismatch() -> QuerySet[Study]:
    """Studies whose patient is not the patient of their order in the RIS."""
    other_patient = _orders_matching_study().exclude(patient=OuterRef("patient"))
    return (
        Study.objects.filter(Exists(other_patient))
        .select_related("patient", "device")
        .order_by("-study_date", "-study_time", "-id")
    )
