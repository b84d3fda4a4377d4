"""Hand-built dose records, shaped like what the parser gives (rdsr.record)."""

from __future__ import annotations

import itertools

from rdsr.record import CtTotals, Device, DoseRecord, Event, MammoTotals, Patient, Plane, Source, Study

_serial = itertools.count(1)


def uid() -> str:
    """A fresh, valid DICOM UID (2.25 root)."""
    return f"2.25.{next(_serial)}{10**12 + next(_serial)}"


def ct_event(*, dlp: float | None = 100.0, ctdivol: float | None = 10.0, **fields) -> Event:
    fields.setdefault("irradiation_event_uid", uid())
    fields.setdefault("event_type", "Spiral Acquisition")
    fields.setdefault("protocol", "Abdomen")
    return Event(dlp_mgycm=dlp, ctdivol_mgy=ctdivol, **fields)


def projection_event(*, dap: float | None = 1.0, dose_rp: float | None = 2.0, **fields) -> Event:
    fields.setdefault("irradiation_event_uid", uid())
    fields.setdefault("event_type", "Stationary Acquisition")
    fields.setdefault("plane", "single")
    return Event(dap_gycm2=dap, dose_rp_mgy=dose_rp, **fields)


def _record(
    *,
    kind: str,
    modality: str,
    events: list[Event],
    study_uid: str | None,
    sop_uid: str | None,
    patient_id: str | None,
    device_uid: str | None,
    **parts,
) -> DoseRecord:
    return DoseRecord(
        source=Source(
            path=None,
            sop_class_uid="1.2.840.10008.5.1.4.1.1.88.67",
            sop_instance_uid=sop_uid,
            kind=kind,  # type: ignore[arg-type]
        ),
        study=Study(
            study_instance_uid=study_uid,
            accession_number="ACC1",
            study_date="2024-03-01",
            study_time="10:15:00",
            study_description="Test study",
            modality=modality,
        ),
        patient=Patient(patient_id=patient_id, name="Doe^Jane", birth_date="1970-01-02", sex="F"),
        device=Device(
            manufacturer="ACME",
            model="Scanner 9000",
            station_name="ROOM1",
            serial_number="42",
            device_observer_uid=device_uid,
        ),
        events=events,
        **parts,
    )


def ct_record(
    *,
    events: list[Event],
    study_uid: str = "1.2.826.0.1.1",
    sop_uid: str | None = None,
    dlp_total: float | None = None,
    kind: str = "rdsr",
    patient_id: str | None = "P1",
    device_uid: str | None = "1.2.826.0.1.99",
) -> DoseRecord:
    if dlp_total is None and events:
        dlp_total = sum(e.dlp_mgycm or 0 for e in events)
    return _record(
        kind=kind,
        modality="CT",
        events=events,
        study_uid=study_uid,
        sop_uid=sop_uid or uid(),
        patient_id=patient_id,
        device_uid=device_uid,
        ct_totals=CtTotals(event_count=len(events), dlp_total_mgycm=dlp_total),
    )


def projection_record(
    *,
    events: list[Event],
    planes: list[Plane] | None = None,
    modality: str = "RF",
    study_uid: str = "1.2.826.0.1.2",
    sop_uid: str | None = None,
    kind: str = "rdsr",
    patient_id: str | None = "P1",
    device_uid: str | None = "1.2.826.0.1.98",
    mammo_totals: MammoTotals | None = None,
) -> DoseRecord:
    return _record(
        kind=kind,
        modality=modality,
        events=events,
        study_uid=study_uid,
        sop_uid=sop_uid or uid(),
        patient_id=patient_id,
        device_uid=device_uid,
        planes=planes or [],
        mammo_totals=mammo_totals,
    )
