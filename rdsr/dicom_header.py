"""Study, patient and device fields from the DICOM header of any dose object."""

from __future__ import annotations

from datetime import date

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from rdsr.reading import Reader, iso_date, iso_datetime, iso_time
from rdsr.record import Device, Patient, Study
from rdsr.units import implausible

_AGE_UNITS = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}


def text(ds: Dataset, keyword: str) -> str | None:
    """A header value as stripped text; None when absent or empty (never '')."""
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - an undecodable element is an absent value
        return None
    if value is None:
        return None
    if isinstance(value, MultiValue | list | tuple):
        value = " | ".join(str(v).strip() for v in value if str(v).strip())
    value = str(value).strip()
    return value or None


def _first_item(ds: Dataset, keyword: str) -> Dataset | None:
    try:
        seq = ds.get(keyword)
    except Exception:  # noqa: BLE001
        return None
    return seq[0] if seq else None


def read_study(ds: Dataset) -> Study:
    requested = text(ds, "RequestedProcedureDescription")
    if requested is None:
        request = _first_item(ds, "RequestAttributesSequence")
        if request is not None:
            requested = text(request, "RequestedProcedureDescription")
    if requested is None:
        code = _first_item(ds, "ProcedureCodeSequence")
        if code is not None:
            requested = text(code, "CodeMeaning")
    content_date = text(ds, "ContentDate")
    content_time = text(ds, "ContentTime")
    content = iso_datetime(f"{content_date}{(content_time or '').replace(':', '')}") if content_date else None
    return Study(
        study_instance_uid=text(ds, "StudyInstanceUID"),
        accession_number=text(ds, "AccessionNumber"),
        study_date=iso_date(text(ds, "StudyDate")),
        study_time=iso_time(text(ds, "StudyTime"), seconds_only=True),
        study_description=text(ds, "StudyDescription"),
        requested_procedure=requested,
        study_id=text(ds, "StudyID"),
        series_instance_uid=text(ds, "SeriesInstanceUID"),
        content_datetime=content,
        referring_physician=text(ds, "ReferringPhysicianName"),
        performing_physician=text(ds, "PerformingPhysicianName"),
        reading_physician=text(ds, "NameOfPhysiciansReadingStudy"),
        operators=text(ds, "OperatorsName"),
    )


def read_patient(ds: Dataset, study_date: str | None, reader: Reader) -> Patient:
    birth_date = iso_date(text(ds, "PatientBirthDate"))
    sex = (text(ds, "PatientSex") or "").upper()[:1] or None
    patient = Patient(
        patient_id=text(ds, "PatientID"),
        issuer_of_patient_id=text(ds, "IssuerOfPatientID"),
        name=text(ds, "PatientName"),
        birth_date=birth_date,
        sex=sex if sex in ("M", "F", "O") else None,
        age_years=_age_years(birth_date, study_date, text(ds, "PatientAge")),
        age_string=text(ds, "PatientAge"),
        weight_kg=_positive_number(ds, "PatientWeight", reader),
        height_m=_height_m(ds, reader),
    )
    for field_name in ("weight_kg", "height_m"):
        value = getattr(patient, field_name)
        if value is not None and implausible(field_name, value):
            reader.warn(f"patient {field_name} = {value:g} is implausible; kept out of size statistics")
    return patient


def read_device(ds: Dataset) -> Device:
    return Device(
        manufacturer=text(ds, "Manufacturer"),
        model=text(ds, "ManufacturerModelName"),
        station_name=text(ds, "StationName"),
        serial_number=text(ds, "DeviceSerialNumber"),
        software_versions=text(ds, "SoftwareVersions"),
        institution_name=text(ds, "InstitutionName"),
        department=text(ds, "InstitutionalDepartmentName"),
        institution_address=text(ds, "InstitutionAddress"),
    )


def _age_years(birth_date: str | None, study_date: str | None, age_string: str | None) -> float | None:
    """Age at the study, to 0.1 year: from birth and study dates, else Patient's Age (nnnY/M/W/D)."""
    if birth_date and study_date:
        try:
            days = (date.fromisoformat(study_date) - date.fromisoformat(birth_date)).days
        except ValueError:
            days = None
        if days is not None and days >= 0:
            return round(days / 365.25, 1)
    if age_string:
        age_string = age_string.strip().upper()
        number, unit = age_string[:-1], age_string[-1:]
        if number.isdigit() and unit in _AGE_UNITS:
            return round(int(number) * _AGE_UNITS[unit], 1)
    return None


def header_number(ds: Dataset, keyword: str, reader: Reader) -> float | None:
    """A numeric header value; a non-number is a warning and None."""
    raw = text(ds, keyword)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        reader.warn(f"header {keyword} {raw!r} is not a number; ignored")
        return None


def _positive_number(ds: Dataset, keyword: str, reader: Reader) -> float | None:
    value = header_number(ds, keyword, reader)
    return value if value is not None and value > 0 else None


def _height_m(ds: Dataset, reader: Reader) -> float | None:
    size = _positive_number(ds, "PatientSize", reader)
    if size is None:
        return None
    if size > 3.0:
        # Patient's Size is defined in metres; a value above 3 can only be centimetres.
        reader.warn(f"header PatientSize {size:g} read as centimetres ({size / 100:g} m)")
        return size / 100.0
    return size
