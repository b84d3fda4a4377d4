"""The dose attributes of a Modality Performed Procedure Step as a dose record.

Pure: pydicom datasets in, `rdsr.record.DoseRecord` out, no database. An MPPS
instance arrives as one N-CREATE and any number of N-SETs; `mpps_merge` gives
the instance's attributes after all of them (an N-SET replaces each attribute
it carries, a sequence as a whole, PS3.4 F.7.2.2), and `mpps_record` turns that
into a record of kind "mpps", the third source in precedence (RDSR > image
header > MPPS > OCR > manual): `rdsr.services` counts MPPS events only in a
study that has no better source.

Shape of the record, so that the study totals come out right
    MPPS states its dose per *step*: Image and Fluoroscopy Area Dose Product
    (0018,115E), Total Time of Fluoroscopy (0040,0300), Entrance Dose
    (0040,0302 / 0040,8302), Total Number of Exposures (0040,0301). The items
    of Exposure Dose Sequence (0040,030E) carry technique only (kVp, tube
    current, exposure time, filter), never a dose. So a projection step
    becomes ONE summary event carrying the step's DAP, with the exposure items
    kept in its ``exposures`` list (and, when there is exactly one, its
    technique in the event's own columns, as for a DX exposure). One event
    per exposure item was rejected: none of them would carry a DAP, and the
    study total would then fall back to one object's statement, losing the
    DAP of a second MPPS step of the same study; with one dose-carrying event
    per step the DAP of several steps adds up. The summary event has no event
    type (MPPS does not say fluoroscopy or acquisition), so fluoroscopy and
    acquisition DAP stay empty rather than wrong, and the study's fluoroscopy
    time is the stated ``planes[0].fluoro_time_total_s`` of the step (of a
    study with several MPPS steps: of the most complete one).
    A CT step becomes one event per CT Exposure Sequence (0018,9321) item
    that carries CTDIvol (0018,9345), like the acquisitions of a CT RDSR; MPPS
    has no DLP, so the study's DLP total stays empty. A CT step without such
    items gets the summary event.
    ``planes`` holds one "single" plane with the step's DAP and fluoroscopy
    time (projection only).

Units (DOMAIN.md section 4), converted here once, from the unit the standard
fixes for each attribute: DAP dGy·cm² -> Gy·cm² (x 0.1); Entrance Dose dGy ->
mGy (x 100), Entrance Dose in mGy as is (preferred when both are sent); X-Ray
Tube Current in µA (0018,8151) -> mA (x 0.001), X-Ray Tube Current (0018,1151)
mA as is; Exposure Time (0018,1150) ms -> s; Exposure Time in ms (0018,9328)
-> s; distances mm. A value that is not a number is left out with a warning;
an implausible one is kept with its field in the event's ``review`` list.

Step-level values with no column of their own ride on the summary event as
extra attributes (stored in the event's details by `rdsr.services`):
``entrance_dose_mgy`` (at the patient's skin, not Ka,r at the reference
point, so never ``dose_rp_mgy``), ``exposures_total``, ``fluoro_time_s``,
``source_to_entrance_mm``, ``exposures``. The SOP instances the step
references (Performed Series Sequence) are returned by `mpps_references`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from rdsr.dicom_header import text
from rdsr.reading import Reader, iso_date, iso_datetime, iso_time
from rdsr.record import CtTotals, Device, DoseRecord, Event, Patient, Plane, Source, Study
from rdsr.units import implausible

MPPS_SOP_CLASS_UID = "1.2.840.10008.3.1.2.3.3"
FINAL_STATUSES = ("COMPLETED", "DISCONTINUED")
# 113858 "MPPS Content", the Source of Dose Information for values taken from MPPS.
DOSE_INFORMATION_SOURCE = "MPPS Content"


class MppsNotReadable(ValueError):
    """The attribute list cannot be decoded at all."""


@dataclass(frozen=True)
class Reference:
    """A SOP instance the step says it made (image or dose report)."""

    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str | None = None


def mpps_read(data: bytes) -> Dataset:
    """Decode a stored attribute list (a DICOM file) completely, or raise MppsNotReadable.

    pydicom decodes lazily; every element is touched here so that a broken one
    fails now, with its tag, rather than in the middle of parsing.
    """
    try:
        ds = dcmread(io.BytesIO(data), force=True)
        for elem in ds.iterall():
            _ = elem.value
    except Exception as exc:  # noqa: BLE001 - any decoding failure means the same to the sender
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise MppsNotReadable(f"attribute list cannot be decoded: {message}") from exc
    return ds


def mpps_status(ds: Dataset) -> str:
    """Performed Procedure Step Status (0040,0252) as sent, upper-case; '' when absent."""
    return (text(ds, "PerformedProcedureStepStatus") or "").upper()


def mpps_merge(datasets: Iterable[Dataset]) -> Dataset:
    """The instance's attributes after N-CREATE and N-SETs, in the order given."""
    merged = Dataset()
    for ds in datasets:
        for elem in ds:
            # A whole element replaces the earlier one: an N-SET sends a
            # sequence complete, never a patch of its items.
            merged[elem.tag] = elem
    return merged


def mpps_references(ds: Dataset) -> list[Reference]:
    """The SOP instances listed in Performed Series Sequence (0040,0340), in order, once each."""
    found: dict[str, Reference] = {}
    for series in _items(ds, "PerformedSeriesSequence"):
        series_uid = text(series, "SeriesInstanceUID")
        for keyword in ("ReferencedNonImageCompositeSOPInstanceSequence", "ReferencedImageSequence"):
            for item in _items(series, keyword):
                uid = text(item, "ReferencedSOPInstanceUID")
                if uid and uid not in found:
                    found[uid] = Reference(
                        sop_class_uid=text(item, "ReferencedSOPClassUID") or "",
                        sop_instance_uid=uid,
                        series_instance_uid=series_uid,
                    )
    return list(found.values())


def mpps_study_instance_uid(ds: Dataset) -> str | None:
    """The Study Instance UID of the first Scheduled Step Attributes item that has one."""
    for item in _items(ds, "ScheduledStepAttributesSequence"):
        uid = text(item, "StudyInstanceUID")
        if uid:
            return uid
    return None


def mpps_record(ds: Dataset, *, sop_instance_uid: str, path: str | None = None) -> DoseRecord:
    """The dose record of a merged MPPS instance (see the module docstring).

    Kind "not-dose" when the step carries no dose attribute at all (an MR or
    ultrasound step). A missing Study Instance UID is left None with a warning:
    the caller may know the study from a referenced object, else it cannot
    store the record.
    """
    warnings: list[str] = []
    reader = Reader(warnings)
    study = _study(ds, reader)
    record = DoseRecord(
        source=Source(
            path=path,
            sop_class_uid=MPPS_SOP_CLASS_UID,
            sop_instance_uid=sop_instance_uid,
            kind="mpps",
            dose_information_source=DOSE_INFORMATION_SOURCE,
        ),
        study=study,
        patient=Patient(
            patient_id=text(ds, "PatientID"),
            issuer_of_patient_id=text(ds, "IssuerOfPatientID"),
            name=text(ds, "PatientName"),
            birth_date=iso_date(text(ds, "PatientBirthDate")),
            sex=_sex(text(ds, "PatientSex")),
        ),
        device=_device(ds),
        warnings=warnings,
    )
    step = _step_values(ds, reader)
    ct_events = [_ct_event(item, reader) for item in _ct_items(ds)]
    ct_events = [ev for ev in ct_events if ev.ctdivol_mgy is not None]
    exposures = [_exposure(item, reader) for item in _items(ds, "ExposureDoseSequence")]
    if not ct_events and not exposures and not any(v is not None for v in step.values()):
        record.source.kind = "not-dose"
        warnings.append("the performed procedure step carries no dose attribute")
        return record
    if study.study_instance_uid is None:
        warnings.append("no Study Instance UID in Scheduled Step Attributes Sequence (0040,0270)")

    is_ct = (study.modality or "").upper() == "CT" or bool(ct_events)
    common = {
        "datetime_started": _started(ds),
        "protocol": _protocol(ds),
        "target_region": _target_region(ds),
    }
    if is_ct and ct_events:
        for event in ct_events:
            for name, value in common.items():
                setattr(event, name, value)
        record.events = ct_events
        record.ct_totals = CtTotals(event_count=len(ct_events))
        return record

    event = Event(
        **common,
        plane=None if is_ct else "single",
        dap_gycm2=step["dap_gycm2"],
        source_to_detector_mm=step["source_to_detector_mm"],
        comment=text(ds, "CommentsOnRadiationDose"),
    )
    if len(exposures) == 1:
        only = exposures[0]
        event.kvp = only.get("kvp")
        event.tube_current_ma = only.get("tube_current_ma")
        event.exposure_time_s = only.get("exposure_time_s")
        event.fluoro_mode = only.get("radiation_mode")
        event.filters = list(only.get("filters") or [])
        event.comment = event.comment or only.get("comment")
    for name in ("entrance_dose_mgy", "exposures_total", "fluoro_time_s", "source_to_entrance_mm"):
        if step[name] is not None:
            setattr(event, name, step[name])
    if exposures:
        event.exposures = exposures
    for name in ("dap_gycm2",):
        value = getattr(event, name)
        if value is not None and implausible(name, value):
            event.review.append(name)
            reader.warn(f"{name} = {value:g} is implausible; flagged for review")
    record.events = [event]
    if is_ct:
        record.ct_totals = CtTotals(event_count=1)
    else:
        plane = Plane(
            plane="single",
            dap_total_gycm2=step["dap_gycm2"],
            fluoro_time_total_s=step["fluoro_time_s"],
        )
        for name, value in (("dap_total_gycm2", plane.dap_total_gycm2), ("fluoro_time_total_s",
                                                                          plane.fluoro_time_total_s)):
            if value is not None and implausible(name, value):
                plane.review.append(name)
                reader.warn(f"{name} = {value:g} is implausible; flagged for review")
        record.planes = [plane]
    return record


# --- parts ----------------------------------------------------------------------


def _items(ds: Dataset, keyword: str) -> list[Dataset]:
    try:
        seq = ds.get(keyword)
    except Exception:  # noqa: BLE001 - an undecodable sequence is an absent one
        return []
    if not seq:
        return []
    try:
        return [item for item in seq if isinstance(item, Dataset)]
    except TypeError:
        return []


def _study(ds: Dataset, reader: Reader) -> Study:
    scheduled = _items(ds, "ScheduledStepAttributesSequence")
    study_uid = mpps_study_instance_uid(ds)
    others = {text(item, "StudyInstanceUID") for item in scheduled} - {None, study_uid}
    if others:
        reader.warn(
            f"the step names {len(others) + 1} studies; its dose is stored with the first ({study_uid})"
        )
    first = next((item for item in scheduled if text(item, "StudyInstanceUID") == study_uid), None)
    first = first if first is not None else (scheduled[0] if scheduled else Dataset())
    series = _items(ds, "PerformedSeriesSequence")
    start_date = text(ds, "PerformedProcedureStepStartDate")
    end_date = text(ds, "PerformedProcedureStepEndDate")
    end_time = text(ds, "PerformedProcedureStepEndTime")
    return Study(
        study_instance_uid=study_uid,
        accession_number=text(first, "AccessionNumber"),
        study_date=iso_date(start_date),
        study_time=iso_time(text(ds, "PerformedProcedureStepStartTime"), seconds_only=True),
        study_description=text(ds, "PerformedProcedureStepDescription")
        or text(first, "RequestedProcedureDescription"),
        requested_procedure=text(first, "RequestedProcedureDescription"),
        modality=(text(ds, "Modality") or "").upper() or None,
        study_id=text(ds, "StudyID"),
        content_datetime=iso_datetime(f"{end_date}{(end_time or '').replace(':', '')}") if end_date else None,
        performing_physician=text(series[0], "PerformingPhysicianName") if series else None,
        operators=text(series[0], "OperatorsName") if series else None,
    )


def _device(ds: Dataset) -> Device:
    station = text(ds, "PerformedStationName") or text(ds, "PerformedStationAETitle")
    return Device(
        manufacturer=text(ds, "Manufacturer"),
        model=text(ds, "ManufacturerModelName"),
        station_name=station,
        serial_number=text(ds, "DeviceSerialNumber"),
        institution_name=text(ds, "InstitutionName"),
        observer_name=text(ds, "PerformedStationAETitle"),
        observer_location=text(ds, "PerformedLocation"),
    )


def _sex(value: str | None) -> str | None:
    sex = (value or "").upper()[:1]
    return sex if sex in ("M", "F", "O") else None


def _started(ds: Dataset) -> str | None:
    date = text(ds, "PerformedProcedureStepStartDate")
    time = text(ds, "PerformedProcedureStepStartTime")
    return iso_datetime(f"{date}{(time or '').replace(':', '')}") if date else None


def _protocol(ds: Dataset) -> str | None:
    codes = _items(ds, "PerformedProtocolCodeSequence")
    if codes and text(codes[0], "CodeMeaning"):
        return text(codes[0], "CodeMeaning")
    series = _items(ds, "PerformedSeriesSequence")
    return (text(series[0], "ProtocolName") if series else None) or text(
        ds, "PerformedProcedureStepDescription"
    )


def _target_region(ds: Dataset) -> str | None:
    regions = _items(ds, "AnatomicStructureSpaceOrRegionSequence")
    return text(regions[0], "CodeMeaning") if regions else None


def _number(ds: Dataset, keyword: str, reader: Reader, *, scale: float = 1.0) -> float | None:
    raw = text(ds, keyword)
    if raw is None:
        return None
    try:
        value = float(raw.split("|")[0].strip())
    except ValueError:
        reader.warn(f"MPPS {keyword} {raw!r} is not a number; ignored")
        return None
    return value * scale


def _step_values(ds: Dataset, reader: Reader) -> dict[str, Any]:
    entrance_mgy = _number(ds, "EntranceDoseInmGy", reader)
    if entrance_mgy is None:
        # Entrance Dose (0040,0302) is in dGy.
        entrance_mgy = _number(ds, "EntranceDose", reader, scale=100.0)
    exposures = _number(ds, "TotalNumberOfExposures", reader)
    return {
        # Image and Fluoroscopy Area Dose Product is in dGy·cm².
        "dap_gycm2": _number(ds, "ImageAndFluoroscopyAreaDoseProduct", reader, scale=0.1),
        "fluoro_time_s": _number(ds, "TotalTimeOfFluoroscopy", reader),
        "entrance_dose_mgy": entrance_mgy,
        "exposures_total": int(exposures) if exposures is not None else None,
        "source_to_detector_mm": _number(ds, "DistanceSourceToDetector", reader),
        "source_to_entrance_mm": _number(ds, "DistanceSourceToEntrance", reader),
    }


def _exposure(item: Dataset, reader: Reader) -> dict[str, Any]:
    current_ma = _number(item, "XRayTubeCurrentInuA", reader, scale=0.001)
    if current_ma is None:
        current_ma = _number(item, "XRayTubeCurrent", reader)
    filters = []
    filter_type, material = text(item, "FilterType"), text(item, "FilterMaterial")
    if filter_type or material:
        filters.append({"type": filter_type, "material": material})
    values = {
        "radiation_mode": text(item, "RadiationMode"),
        "kvp": _number(item, "KVP", reader),
        "tube_current_ma": current_ma,
        # Exposure Time (0018,1150) is in ms.
        "exposure_time_s": _number(item, "ExposureTime", reader, scale=0.001),
        "filters": filters,
        "comment": text(item, "CommentsOnRadiationDose"),
    }
    return {k: v for k, v in values.items() if v not in (None, [], "")}


def _ct_items(ds: Dataset) -> list[Dataset]:
    """CT Exposure Sequence items, at the top level or inside the exposure items."""
    items = list(_items(ds, "CTExposureSequence"))
    for exposure in _items(ds, "ExposureDoseSequence"):
        items.extend(_items(exposure, "CTExposureSequence"))
    return items


def _ct_event(item: Dataset, reader: Reader) -> Event:
    event = Event(
        ctdivol_mgy=_number(item, "CTDIvol", reader),
        kvp=_number(item, "KVP", reader),
        tube_current_ma=_number(item, "XRayTubeCurrentInmA", reader),
        exposure_time_s=_number(item, "ExposureTimeInms", reader, scale=0.001),
        exposure_mas=_number(item, "ExposureInmAs", reader),
    )
    phantoms = _items(item, "CTDIPhantomTypeCodeSequence")
    if phantoms:
        code = text(phantoms[0], "CodeValue")
        # 113690 IEC Head Dosimetry Phantom (16 cm), 113691 IEC Body (32 cm).
        event.phantom = {"113690": "head16", "113691": "body32"}.get(code or "")
    for name in ("ctdivol_mgy", "kvp", "tube_current_ma", "exposure_time_s"):
        value = getattr(event, name)
        if value is not None and implausible(name, value):
            event.review.append(name)
            reader.warn(f"{name} = {value:g} is implausible; flagged for review")
    return event
