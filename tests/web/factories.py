"""Factories for the web tests: studies, events and received objects made with the ORM."""

from __future__ import annotations

import datetime
import itertools
import re

from django.utils import timezone

from ingest.models import ReceivedObject
from rdsr.models import Device, IrradiationEvent, Patient, PlaneAccumulation, Study

PASSWORD = "a-long-test-password-42"
_uids = itertools.count(1)


def uid(prefix: str = "1.2.826.0.1.3680043.10.999") -> str:
    return f"{prefix}.{next(_uids)}"


def make_device(**fields) -> Device:
    fields.setdefault("identity_key", uid("device"))
    fields.setdefault("manufacturer", "SIEMENS")
    fields.setdefault("model", "SOMATOM Definition Flash")
    fields.setdefault("station_name", "CTAWP00001")
    return Device.objects.create(**fields)


def make_patient(**fields) -> Patient:
    fields.setdefault("patient_id", f"PID{next(_uids)}")
    return Patient.objects.create(**fields)


def make_study(**fields) -> Study:
    if "patient" not in fields:
        fields["patient"] = make_patient()
    if "device" not in fields:
        fields["device"] = make_device()
    fields.setdefault("study_instance_uid", uid())
    fields.setdefault("study_date", datetime.date(2024, 3, 1))
    fields.setdefault("study_time", datetime.time(9, 30))
    fields.setdefault("modality", "CT")
    fields.setdefault("source_kind", "rdsr")
    return Study.objects.create(**fields)


def make_event(study: Study, **fields) -> IrradiationEvent:
    fields.setdefault("irradiation_event_uid", uid())
    fields.setdefault("source_sop_instance_uid", uid())
    fields.setdefault("source_kind", "rdsr")
    fields.setdefault("position", IrradiationEvent.objects.filter(study=study).count() + 1)
    return IrradiationEvent.objects.create(study=study, **fields)


def make_plane(study: Study, **fields) -> PlaneAccumulation:
    fields.setdefault("plane", "single")
    return PlaneAccumulation.objects.create(study=study, **fields)


def make_received(**fields) -> ReceivedObject:
    now = timezone.now()
    fields.setdefault("sop_instance_uid", uid())
    fields.setdefault("sop_class_uid", "1.2.840.10008.5.1.4.1.1.88.67")
    fields.setdefault("origin", ReceivedObject.Origin.SCP)
    fields.setdefault("received_at", now)
    fields.setdefault("last_received_at", fields["received_at"])
    fields.setdefault("spool_path", f"/nonexistent/{fields['sop_instance_uid']}.dcm")
    return ReceivedObject.objects.create(**fields)


def page_text(response) -> str:
    """The page as a reader sees it: tags dropped, white space squeezed."""
    html = response.content.decode()
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())
