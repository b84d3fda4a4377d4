"""Which MPPS steps describe a study, and which of the objects they name we have.

A read for the study page: "MPPS <uid> (COMPLETED) references RDSR <uid>:
received / not yet received". The MPPS values count only while the study has
no better source (rdsr.services), so this is how a person sees that an RDSR
announced by the modality is still missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q

from ingest.models import MppsStep, ReceivedObject

from .models import Study

# RDSR and Enhanced RDSR: the references a study page calls "RDSR".
DOSE_REPORT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.67": "RDSR",
    "1.2.840.10008.5.1.4.1.1.88.76": "Enhanced RDSR",
    "1.2.840.10008.5.1.4.1.1.88.68": "Radiopharmaceutical RDSR",
}


@dataclass
class MppsReferenceLink:
    sop_instance_uid: str
    sop_class_uid: str
    # "RDSR", "Enhanced RDSR", ... or "" for images and other objects.
    dose_report: str
    received: bool
    # The received object's status (done, failed, ...), "" when not received.
    received_status: str = ""
    received_object_id: int | None = None


@dataclass
class MppsStepLink:
    id: int
    sop_instance_uid: str
    performed_status: str
    status: str
    status_label: str
    modality: str
    calling_ae: str
    received_at: dt.datetime
    error: str
    references: list[MppsReferenceLink] = field(default_factory=list)

    @property
    def dose_reports(self) -> list[MppsReferenceLink]:
        return [ref for ref in self.references if ref.dose_report]


def mpps_steps_for_study(*, study_id: int) -> list[MppsStepLink]:
    """The study's MPPS steps (linked, or naming its Study Instance UID), oldest first.

    Three queries whatever the number of steps and references.
    """
    study_uid = Study.objects.filter(pk=study_id).values_list("study_instance_uid", flat=True).first()
    if study_uid is None:
        return []
    steps = list(
        MppsStep.objects.filter(Q(study_id=study_id) | Q(study_instance_uid=study_uid)).order_by(
            "received_at", "id"
        )
    )
    wanted = {ref.get("sop_instance_uid") for step in steps for ref in step.referenced_instances or []}
    wanted.discard(None)
    received = {
        uid: (pk, status)
        for uid, pk, status in ReceivedObject.objects.filter(sop_instance_uid__in=wanted)
        .order_by()
        .values_list("sop_instance_uid", "pk", "status")
    }
    links = []
    for step in steps:
        link = MppsStepLink(
            id=step.pk,
            sop_instance_uid=step.sop_instance_uid,
            performed_status=step.performed_status,
            status=step.status,
            status_label=step.get_status_display(),
            modality=step.modality,
            calling_ae=step.calling_ae,
            received_at=step.received_at,
            error=step.error,
        )
        for ref in step.referenced_instances or []:
            uid = str(ref.get("sop_instance_uid") or "")
            if not uid:
                continue
            found = received.get(uid)
            link.references.append(
                MppsReferenceLink(
                    sop_instance_uid=uid,
                    sop_class_uid=str(ref.get("sop_class_uid") or ""),
                    dose_report=DOSE_REPORT_SOP_CLASSES.get(str(ref.get("sop_class_uid") or ""), ""),
                    received=found is not None,
                    received_status=found[1] if found else "",
                    received_object_id=found[0] if found else None,
                )
            )
        links.append(link)
    return links
