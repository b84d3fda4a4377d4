"""Reads of received objects for the review queue and the study page."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from rdsr.models import IrradiationEvent

from .models import Hl7Message, MppsStep, ReceivedObject


def received_object_list(*, statuses: list[str]) -> QuerySet[ReceivedObject]:
    return ReceivedObject.objects.filter(status__in=statuses).order_by("-received_at", "-id")


def received_object_status_counts() -> dict[str, int]:
    """Number of objects per status, every status present (0 when none)."""
    counts = dict.fromkeys(ReceivedObject.Status.values, 0)
    rows = ReceivedObject.objects.order_by().values_list("status").annotate(n=Count("id"))
    for status, n in rows:
        counts[status] = n
    return counts


def received_object_failed_ids() -> list[int]:
    return list(
        ReceivedObject.objects.filter(status=ReceivedObject.Status.FAILED)
        .order_by("id")
        .values_list("id", flat=True)
    )


def mpps_step_failed_list(*, limit: int = 100) -> list[MppsStep]:
    """MPPS steps that need a person (unreadable, no study), newest first."""
    return list(MppsStep.objects.filter(status=MppsStep.Status.FAILED).order_by("-last_message_at", "-id")[:limit])


def received_object_list_for_study(*, study_id: int) -> QuerySet[ReceivedObject]:
    """The objects a study was built from.

    Matched on the link the processor sets and on the events' source UIDs too,
    so an object still shows when its link was never set or was cleared.
    """
    event_sources = IrradiationEvent.objects.filter(study_id=study_id).values("source_sop_instance_uid")
    return ReceivedObject.objects.filter(
        Q(study_id=study_id) | Q(sop_instance_uid__in=event_sources)
    ).order_by("received_at", "id")


def hl7_message_review_list(*, limit: int = 100) -> list[Hl7Message]:
    """HL7 messages that need a person (failed to apply, or rejected), newest first."""
    statuses = [Hl7Message.Status.FAILED, Hl7Message.Status.REJECTED]
    return list(
        Hl7Message.objects.filter(status__in=statuses).defer("raw").order_by("-last_received_at", "-id")[:limit]
    )
