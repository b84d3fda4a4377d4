"""Reads of the RIS feed: the order of a study, and the MPE's reconciliation worklists."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from rdsr.models import Patient, Study

from .models import Order, StudyReassignment

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


# --- for the reconciliation pages -------------------------------------------------

SEARCH_LIMIT = 25


def study_orders_for(*, studies: list[Study]) -> dict[int, Order]:
    """`study_order` for a page of studies in one query: {study pk: order}."""
    if not studies:
        return {}
    undecided = Q(link_decided=False, study__isnull=True)
    uids = [s.study_instance_uid for s in studies]
    accessions = [s.accession_number for s in studies if s.accession_number]
    candidates = list(
        Order.objects.filter(
            Q(study__in=studies)
            | (undecided & Q(study_instance_uid__in=uids))
            | (undecided & ~Q(accession_number="") & Q(accession_number__in=accessions))
        )
        .select_related("patient")
        .order_by("-id")
    )
    found: dict[int, Order] = {}
    for study in studies:
        # The same precedence as study_order: linked, else UID, else accession number.
        linked = [o for o in candidates if o.study_id == study.pk]
        free = [o for o in candidates if not o.link_decided and o.study_id is None]
        by_uid = [o for o in free if o.study_instance_uid == study.study_instance_uid]
        by_accession = [o for o in free if study.accession_number and o.accession_number == study.accession_number]
        for group in (linked, by_uid, by_accession):
            if group:
                found[study.pk] = group[0]
                break
    return found


def patient_search(*, text: str) -> QuerySet[Patient]:
    """Patients whose ID (or a former ID) or name contains the text, best matches first."""
    text = text.strip()
    if not text:
        return Patient.objects.none()
    words = [w for w in text.replace("^", " ").replace(",", " ").split() if w]
    by_name = Q()
    for word in words:
        by_name &= Q(name__icontains=word)
    return (
        Patient.objects.filter(
            Q(patient_id__icontains=text) | Q(aliases__identifier__iexact=text) | by_name
        )
        .distinct()
        .order_by("patient_id", "pk")[:SEARCH_LIMIT]
    )


def order_search(*, text: str) -> QuerySet[Order]:
    """Orders whose accession, placer or filler number contains the text, newest first."""
    text = text.strip()
    if not text:
        return Order.objects.none()
    return (
        Order.objects.filter(
            Q(accession_number__icontains=text) | Q(placer_number__icontains=text) | Q(filler_number__icontains=text)
        )
        .select_related("patient", "study")
        .order_by("-scheduled_at", "-id")[:SEARCH_LIMIT]
    )


def study_reassignment_list(*, study: Study) -> QuerySet[StudyReassignment]:
    """A study's reassignments, newest first."""
    return StudyReassignment.objects.filter(study=study).select_related(
        "from_patient", "to_patient", "from_order", "to_order"
    ).order_by("-at", "-id")


def study_reassignment_reversible(*, study: Study) -> StudyReassignment | None:
    """The study's last reassignment, if it was not reversed and is not itself a reversal."""
    last = study_reassignment_list(study=study).first()
    if last is None or last.reversed_by_id or StudyReassignment.objects.filter(reversed_by=last).exists():
        return None
    return last


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("patient", "study").order_by("-scheduled_at", "-id")


def order_get(*, order_id: int) -> Order:
    return Order.objects.select_related("patient", "study", "last_message").get(pk=order_id)


def order_study(*, order: Order) -> Study | None:
    """The study an order was done as: linked, else (undecided) by Study Instance UID, else accession number."""
    if order.study_id or order.link_decided:
        return order.study
    studies = Study.objects.select_related("patient", "device").order_by("-id")
    if order.study_instance_uid:
        found = studies.filter(study_instance_uid=order.study_instance_uid).first()
        if found is not None:
            return found
    if order.accession_number:
        return studies.filter(accession_number=order.accession_number).first()
    return None
