"""Reads of the exports: rows streamed from the database in chunks, never a whole list.

Rows come as value tuples (`values_list(...).iterator(chunk_size=...)`), so
memory stays the same for a hundred rows and for a million: on PostgreSQL a
server-side cursor, on SQLite chunked fetches. Room and procedure names come
from small dictionaries, not from joins repeated on every row.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from drl.mapping import is_localizer
from drl.models import StandardProcedure
from rdsr.models import Device, IrradiationEvent, Study
from rdsr.selectors import patient_studies

from .columns import Column, local_naive
from .models import ExportJob
from .national import Template

CHUNK_SIZE = 2000


@dataclass(frozen=True)
class ListFilters:
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    modality: str = ""
    device_id: int | None = None
    procedure_id: int | None = None
    patients_only: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "modality": self.modality,
            "device": self.device_id,
            "procedure": self.procedure_id,
            "patients_only": self.patients_only,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ListFilters:
        def day(value: Any) -> datetime.date | None:
            return datetime.date.fromisoformat(value) if value else None

        return cls(
            date_from=day(data.get("date_from")),
            date_to=day(data.get("date_to")),
            modality=data.get("modality") or "",
            device_id=int(data["device"]) if data.get("device") else None,
            procedure_id=int(data["procedure"]) if data.get("procedure") else None,
            patients_only=bool(data.get("patients_only")),
        )


@dataclass(frozen=True)
class Export:
    """What an export writes: headers and a one-pass iterator of row tuples."""

    title: str
    headers: list[str]
    rows: Iterator[tuple]
    total: int | None = None


def _studies(filters: ListFilters, base: QuerySet[Study] | None = None) -> QuerySet[Study]:
    studies = base if base is not None else Study.objects.all()
    if filters.patients_only:
        studies = studies.filter(non_patient=False)
    if filters.date_from:
        studies = studies.filter(study_date__gte=filters.date_from)
    if filters.date_to:
        studies = studies.filter(study_date__lte=filters.date_to)
    if filters.modality:
        studies = studies.filter(modality=filters.modality)
    if filters.device_id:
        studies = studies.filter(device_id=filters.device_id)
    if filters.procedure_id:
        studies = studies.filter(drl_mapping__procedure_id=filters.procedure_id)
    return studies


def device_names() -> dict[int, str]:
    return {d.pk: str(d) for d in Device.objects.all()}


def procedure_names() -> dict[int, str]:
    return dict(StandardProcedure.objects.values_list("pk", "name"))


# (header name, unit, value field, how the value is shown: None as it is)
_Spec = tuple[str, str, str, Callable[[Any], Any] | None]


def _run(specs: list[_Spec], queryset: QuerySet, *, title: str, total: int | None) -> Export:
    columns = [Column(name, unit) for name, unit, _field, _show in specs]
    fields = [field for _name, _unit, field, _show in specs]
    shows = [(i, show) for i, (_n, _u, _f, show) in enumerate(specs) if show is not None]

    def rows() -> Iterator[tuple]:
        for values in queryset.values_list(*fields).iterator(chunk_size=CHUNK_SIZE):
            if shows:
                values = list(values)
                for i, show in shows:
                    values[i] = show(values[i])
            yield values

    return Export(title=title, headers=[c.header for c in columns], rows=rows(), total=total)


def _review(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else ""


def study_export(filters: ListFilters, *, count: bool = True) -> Export:
    """Studies as the study list shows them, one row each, with the unit in every header."""
    devices, procedures = device_names(), procedure_names()
    studies = _studies(filters).order_by("study_date", "study_time", "id")
    specs: list[_Spec] = [
        ("Study date", "", "study_date", None),
        ("Study time", "", "study_time", None),
        ("Modality", "", "modality", None),
        ("Room", "", "device_id", devices.get),
        ("Accession number", "", "accession_number", None),
        ("Patient ID", "", "patient__patient_id", None),
        ("Study description", "", "study_description", None),
        ("Procedure", "", "drl_mapping__procedure_id", procedures.get),
        ("Events", "events", "event_count", None),
        ("DLP total", "mGy·cm", "dlp_total_mgycm", None),
        ("DAP total", "Gy·cm²", "dap_total_gycm2", None),
        ("Fluoroscopy time", "s", "fluoro_time_total_s", None),
        ("AGD left", "mGy", "agd_left_mgy", None),
        ("AGD right", "mGy", "agd_right_mgy", None),
        ("Age", "a", "age_years", None),
        ("Weight", "kg", "weight_kg", None),
        ("Height", "m", "height_m", None),
        ("Not a patient", "", "non_patient", None),
        ("Dose source", "", "source_kind", None),
        ("Study Instance UID", "", "study_instance_uid", None),
    ]
    return _run(specs, studies, title="Studies", total=studies.count() if count else None)


def event_export(filters: ListFilters, *, count: bool = True) -> Export:
    """Irradiation events of the filtered studies, one row each; values awaiting review are named."""
    devices, procedures = device_names(), procedure_names()
    tz = timezone.get_current_timezone()
    events = IrradiationEvent.objects.filter(study__in=_studies(filters).values("pk")).order_by(
        "study_id", "datetime_started", "position", "id"
    )
    specs: list[_Spec] = [
        ("Study date", "", "study__study_date", None),
        ("Started", "", "datetime_started", lambda v: local_naive(v, tz)),
        ("Modality", "", "study__modality", None),
        ("Room", "", "study__device_id", devices.get),
        ("Accession number", "", "study__accession_number", None),
        ("Patient ID", "", "study__patient__patient_id", None),
        ("Procedure (exam)", "", "study__drl_mapping__procedure_id", procedures.get),
        ("Procedure (sequence)", "", "drl_mapping__procedure_id", procedures.get),
        ("Event type", "", "event_type", None),
        ("Protocol", "", "protocol", None),
        ("Target region", "", "target_region", None),
        ("Plane", "", "plane", None),
        ("CTDIvol", "mGy", "ctdivol_mgy", None),
        ("DLP", "mGy·cm", "dlp_mgycm", None),
        ("CTDI phantom", "", "phantom", None),
        ("SSDE", "mGy", "ssde_mgy", None),
        ("Scanning length", "mm", "scanning_length_mm", None),
        ("Pitch factor", "1", "pitch", None),
        ("Tube voltage", "kV", "kvp", None),
        ("Tube current", "mA", "tube_current_ma", None),
        ("Exposure time", "s", "exposure_time_s", None),
        ("DAP", "Gy·cm²", "dap_gycm2", None),
        ("Ka,r", "mGy", "dose_rp_mgy", None),
        ("AGD", "mGy", "agd_mgy", None),
        ("Entrance exposure", "mGy", "entrance_exposure_mgy", None),
        ("Compression thickness", "mm", "compression_thickness_mm", None),
        ("Laterality", "", "laterality", None),
        ("View", "", "view", None),
        ("Exposure index", "1", "exposure_index", None),
        ("Deviation index", "1", "deviation_index", None),
        ("Unconfirmed values (in review)", "", "details__review", _review),
        ("Dose source", "", "source_kind", None),
        ("Study Instance UID", "", "study__study_instance_uid", None),
    ]
    return _run(specs, events, title="Irradiation events", total=events.count() if count else None)


# ------------------------------------------------------------- national exports

_STUDY_FIELDS = {
    "study.study_instance_uid": "study_instance_uid",
    "study.accession_number": "accession_number",
    "study.study_date": "study_date",
    "study.modality": "modality",
    "study.age_years": "age_years",
    "study.weight_kg": "weight_kg",
    "study.height_m": "height_m",
    "study.dlp_total_mgycm": "dlp_total_mgycm",
    "study.dap_total_gycm2": "dap_total_gycm2",
    "study.fluoro_time_total_s": "fluoro_time_total_s",
    "study.agd_left_mgy": "agd_left_mgy",
    "study.agd_right_mgy": "agd_right_mgy",
    "patient.sex": "patient__sex",
    "procedure.name": "drl_mapping__procedure__name",
    "procedure.radlex_playbook_id": "drl_mapping__procedure__radlex_playbook_id",
    "device.manufacturer": "device__manufacturer",
    "device.model": "device__model",
}
_CT_SOURCES = {"exam.ct_sequences", "exam.ctdivol_mean_mgy", "exam.ctdivol_max_mgy"}


def national_studies(template: Template, filters: ListFilters) -> QuerySet[Study]:
    """Patient studies of the template's period and filters: never phantoms, QA or test patients."""
    studies = _studies(filters, base=patient_studies())
    if template.mapped_only:
        studies = studies.filter(drl_mapping__procedure__isnull=False)
    return studies


def national_records(template: Template, filters: ListFilters) -> Iterator[dict[str, Any]]:
    """One record per exam (source name -> value) with just the sources the template reads.

    The exam's CT sequence values come from a second stream of events in the
    same study order (a merge, so neither side is held in memory); localizers
    and CTDIvol values awaiting review are left out.
    """
    sources = template.sources
    studies = national_studies(template, filters).order_by("id")
    wanted = {s: f for s, f in _STUDY_FIELDS.items() if s in sources}
    fields = ["id", "device_id", "patient__patient_id", "patient__issuer_of_patient_id", *wanted.values()]
    devices = device_names()
    ct = bool(sources & _CT_SOURCES)
    sequences = _ct_sequences(studies) if ct else iter(())
    pending = next(sequences, None)
    for values in studies.values_list(*fields).iterator(chunk_size=CHUNK_SIZE):
        study_pk, device_id, patient_id, issuer = values[:4]
        record = dict(zip(wanted, values[4:], strict=True))
        record["device.name"] = devices.get(device_id, "")
        record["patient.patient_id"] = f"{issuer}^{patient_id}" if issuer and patient_id else patient_id
        if ct:
            ctdivols: list[float] = []
            while pending is not None and pending[0] < study_pk:
                pending = next(sequences, None)
            while pending is not None and pending[0] == study_pk:
                ctdivols.append(pending[1])
                pending = next(sequences, None)
            record["exam.ct_sequences"] = len(ctdivols) if ctdivols else None
            record["exam.ctdivol_mean_mgy"] = sum(ctdivols) / len(ctdivols) if ctdivols else None
            record["exam.ctdivol_max_mgy"] = max(ctdivols) if ctdivols else None
        yield record


def _ct_sequences(studies: QuerySet[Study]) -> Iterator[tuple[int, float]]:
    events = (
        IrradiationEvent.objects.filter(study__in=studies.values("pk"), ctdivol_mgy__isnull=False)
        .order_by("study_id", "id")
        .values_list("study_id", "ctdivol_mgy", "event_type", "details__review")
    )
    for study_pk, ctdivol, event_type, review in events.iterator(chunk_size=CHUNK_SIZE):
        if is_localizer(event_type) or (isinstance(review, list) and "ctdivol_mgy" in review):
            continue
        yield study_pk, ctdivol


# ------------------------------------------------------------------------ jobs


def job_list(*, username: str, limit: int = 50) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(username=username).order_by("-created_at", "-id")[:limit]


def job_get(*, job_id: int) -> ExportJob:
    """Raises ExportJob.DoesNotExist."""
    return ExportJob.objects.get(pk=job_id)
