"""The normalised dose record (../shared/RECORD.md) that every dose source becomes.

Plain dataclasses, no database: the parser fills them, `python -m rdsr` prints
them, and `rdsr.services` stores them. Every dose field name carries its
canonical unit; a value the object does not carry is None, never 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

SourceKind = Literal[
    "rdsr", "enhanced-rdsr", "esr", "image-header", "dose-info-sc", "ocr", "mpps", "not-dose"
]

# Lower number wins when several sources describe the same study (DOMAIN.md §5.4).
SOURCE_PRECEDENCE: dict[str, int] = {
    "rdsr": 0,
    "enhanced-rdsr": 0,
    "esr": 0,
    "image-header": 1,
    "dose-info-sc": 1,
    "mpps": 2,
    "ocr": 3,
    "manual": 4,
}


@dataclass
class Source:
    path: str | None = None
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    kind: SourceKind = "not-dose"
    # 113854 Source of Dose Information, e.g. "Automated Data Collection".
    dose_information_source: str | None = None
    template_identifier: str | None = None  # as the object states it (often absent)
    # A bitmap dose screen whose values are still to be read by OCR (rdsr.ocr),
    # on its own queue; the record has no dose values until then.
    ocr_pending: bool = False


@dataclass
class Study:
    study_instance_uid: str | None = None
    accession_number: str | None = None
    study_date: str | None = None  # YYYY-MM-DD
    study_time: str | None = None  # HH:MM:SS
    study_description: str | None = None
    requested_procedure: str | None = None
    procedure_reported: str | None = None
    modality: str | None = None  # CT | DX | MG | RF | XA | PX | NM
    study_id: str | None = None
    series_instance_uid: str | None = None
    content_datetime: str | None = None  # ISO 8601, when the report was made
    referring_physician: str | None = None
    performing_physician: str | None = None
    reading_physician: str | None = None
    operators: str | None = None
    irradiation_start: str | None = None  # ISO 8601, 113809 (CT reports)
    irradiation_end: str | None = None  # ISO 8601, 113810


@dataclass
class Patient:
    patient_id: str | None = None
    issuer_of_patient_id: str | None = None
    name: str | None = None
    birth_date: str | None = None  # YYYY-MM-DD
    sex: str | None = None  # M | F | O
    age_years: float | None = None
    age_string: str | None = None  # Patient's Age (0010,1010) as sent, e.g. "067Y"
    weight_kg: float | None = None
    height_m: float | None = None


@dataclass
class Device:
    manufacturer: str | None = None
    model: str | None = None
    station_name: str | None = None
    serial_number: str | None = None
    software_versions: str | None = None
    institution_name: str | None = None
    department: str | None = None
    device_observer_uid: str | None = None
    institution_address: str | None = None
    # Device observer context of the SR (121013..121017), as the device names itself.
    observer_name: str | None = None
    observer_manufacturer: str | None = None
    observer_model: str | None = None
    observer_serial_number: str | None = None
    observer_location: str | None = None


@dataclass
class CtTotals:
    event_count: int | None = None
    dlp_total_mgycm: float | None = None
    confidence: dict[str, float] = field(default_factory=dict)  # OCR: field -> 0..1
    review: list[str] = field(default_factory=list)


@dataclass
class Plane:
    plane: Literal["single", "A", "B"] = "single"
    dap_total_gycm2: float | None = None
    dose_rp_total_mgy: float | None = None
    fluoro_dap_total_gycm2: float | None = None
    acquisition_dap_total_gycm2: float | None = None
    fluoro_dose_rp_total_mgy: float | None = None
    acquisition_dose_rp_total_mgy: float | None = None
    fluoro_time_total_s: float | None = None
    acquisition_time_total_s: float | None = None
    frames_total: int | None = None
    reference_point: str | None = None
    review: list[str] = field(default_factory=list)


@dataclass
class MammoTotals:
    # Accumulated average glandular dose per breast, mGy: keys left/right/both.
    agd_accumulated_mgy: dict[str, float | None] = field(default_factory=dict)
    review: list[str] = field(default_factory=list)


@dataclass
class DoseCheck:
    ctdivol_alert_mgy: float | None = None
    dlp_alert_mgycm: float | None = None
    ctdivol_notification_mgy: float | None = None
    dlp_notification_mgycm: float | None = None
    reason_for_proceeding: str | None = None
    person: str | None = None
    ctdivol_alert_configured: bool | None = None
    dlp_alert_configured: bool | None = None
    ctdivol_notification_configured: bool | None = None
    dlp_notification_configured: bool | None = None
    accumulated_ctdivol_forward_estimate_mgy: float | None = None
    accumulated_dlp_forward_estimate_mgycm: float | None = None
    ctdivol_forward_estimate_mgy: float | None = None
    dlp_forward_estimate_mgycm: float | None = None


@dataclass
class XraySource:
    kvp: float | None = None
    tube_current_ma: float | None = None
    exposure_time_s: float | None = None
    identification: str | None = None
    max_tube_current_ma: float | None = None
    exposure_time_per_rotation_s: float | None = None


@dataclass
class Event:
    irradiation_event_uid: str | None = None
    datetime_started: str | None = None  # ISO 8601
    event_type: str | None = None
    event_type_code: str | None = None  # normalised concept key, e.g. "DCM:113805" (localizer)
    protocol: str | None = None
    target_region: str | None = None
    plane: str | None = None  # single | A | B, projection X-ray only
    comment: str | None = None
    procedure_context: str | None = None  # e.g. "CT without contrast"
    # Device participants (TID 1021): role, name, manufacturer, model, serial_number, device_observer_uid
    device_participants: list[dict[str, Any]] = field(default_factory=list)
    # CT
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    phantom: Literal["head16", "body32"] | None = None
    ssde_mgy: float | None = None
    scanning_length_mm: float | None = None
    pitch: float | None = None
    kvp: float | None = None
    tube_current_ma: float | None = None
    max_tube_current_ma: float | None = None
    exposure_time_s: float | None = None
    exposure_time_per_rotation_s: float | None = None
    single_collimation_mm: float | None = None
    total_collimation_mm: float | None = None
    xray_source_count: int | None = None
    sources: list[XraySource] = field(default_factory=list)
    dose_check: DoseCheck | None = None
    # projection X-ray (DX, MG, RF, XA)
    dap_gycm2: float | None = None
    dose_rp_mgy: float | None = None
    agd_mgy: float | None = None
    entrance_exposure_mgy: float | None = None
    compression_thickness_mm: float | None = None
    laterality: Literal["L", "R", "B"] | None = None
    view: str | None = None
    anatomical_structure: str | None = None
    exposure_mas: float | None = None
    pulse_rate: float | None = None
    pulses: float | None = None
    pulse_width_ms: float | None = None
    frames: int | None = None
    primary_angle_deg: float | None = None
    secondary_angle_deg: float | None = None
    source_to_detector_mm: float | None = None
    source_to_isocenter_mm: float | None = None
    field_area_cm2: float | None = None
    exposure_index: float | None = None
    target_exposure_index: float | None = None
    deviation_index: float | None = None
    reference_point: str | None = None
    filters: list[dict[str, Any]] = field(default_factory=list)
    anode_target: str | None = None
    focal_spot_mm: float | None = None
    hvl_mm: float | None = None  # half value layer, mm Al
    average_tube_current_ma: float | None = None
    irradiation_duration_s: float | None = None
    field_height_mm: float | None = None
    field_width_mm: float | None = None
    grids: list[dict[str, Any]] = field(default_factory=list)  # coded: scheme, value, meaning
    fluoro_mode: str | None = None
    mechanical_configuration: str | None = None
    reference_point_code: str | None = None  # code value when the reference point is coded
    primary_end_angle_deg: float | None = None
    secondary_end_angle_deg: float | None = None
    column_angulation_deg: float | None = None
    source_to_reference_point_mm: float | None = None
    table_longitudinal_mm: float | None = None
    table_lateral_mm: float | None = None
    table_height_mm: float | None = None
    compression_force_n: float | None = None
    patient_orientation: dict[str, Any] | None = None  # coded: scheme, value, meaning
    patient_orientation_modifier: dict[str, Any] | None = None
    patient_table_relationship: dict[str, Any] | None = None
    # image headers (rdsr.image_header)
    irradiation_event_uid_derived: bool = False  # True: our key for the exposure, not the modality's UID
    organ_dose_mgy: float | None = None  # Organ Dose (0040,0316) of an organ other than the breast
    organ_exposed: str | None = None
    relative_xray_exposure: float | None = None  # vendor exposure indicator (0018,1405)
    sensitivity: float | None = None
    grid_focal_distance_mm: float | None = None
    source_to_entrance_mm: float | None = None
    magnification_factor: float | None = None
    percent_fibroglandular: float | None = None
    # MPPS summary event (rdsr.mpps): values the performed procedure step states
    entrance_dose_mgy: float | None = None  # at the skin (0040,0302/8302), never Ka,r
    exposures_total: int | None = None
    fluoro_time_s: float | None = None
    exposures: list[dict[str, Any]] = field(default_factory=list)  # technique of each exposure item
    # values read by OCR or otherwise uncertain
    confidence: dict[str, float] = field(default_factory=dict)
    review: list[str] = field(default_factory=list)


@dataclass
class DoseRecord:
    source: Source = field(default_factory=Source)
    study: Study = field(default_factory=Study)
    patient: Patient = field(default_factory=Patient)
    device: Device = field(default_factory=Device)
    ct_totals: CtTotals | None = None
    planes: list[Plane] = field(default_factory=list)
    mammo_totals: MammoTotals | None = None
    events: list[Event] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_dose(self) -> bool:
        return self.source.kind != "not-dose"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def record_from_dict(data: dict[str, Any]) -> DoseRecord:
    """Rebuild a record from `to_dict()` output (e.g. a stored JSON copy)."""

    def build(cls, values):
        if values is None:
            return None
        known = {f.name: f for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    events = []
    for ev in data.get("events") or []:
        event = build(Event, ev)
        event.sources = [build(XraySource, s) for s in ev.get("sources") or []]
        event.dose_check = build(DoseCheck, ev.get("dose_check"))
        events.append(event)
    return DoseRecord(
        source=build(Source, data.get("source") or {}),
        study=build(Study, data.get("study") or {}),
        patient=build(Patient, data.get("patient") or {}),
        device=build(Device, data.get("device") or {}),
        ct_totals=build(CtTotals, data.get("ct_totals")),
        planes=[build(Plane, p) for p in data.get("planes") or []],
        mammo_totals=build(MammoTotals, data.get("mammo_totals")),
        events=events,
        warnings=list(data.get("warnings") or []),
    )
