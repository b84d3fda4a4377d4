"""How dose values and study data are shown: significant figures, names, event tables.

Pure functions over model instances: no queries, no requests, so views stay thin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .models import IrradiationEvent, PlaneAccumulation, Study


def sig(value: float | None, digits: int = 4) -> str:
    """At least `digits` significant figures, never fewer integer digits.

    A small DAP (0.00016 Gy·cm²) must not show as 0.00, a DLP of 12345 must
    not show as 1.234e+04, and a stated 724.52 should still be recognisable.
    """
    if value is None:
        return ""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def person_name(value: str) -> str:
    """A DICOM person name (Family^Given^Middle^Prefix^Suffix) as people write it."""
    if "^" not in value:
        return value
    family, given, middle, prefix, suffix = ([*value.split("^"), "", "", "", ""])[:5]
    first = " ".join(p for p in (prefix, given, middle) if p)
    text = ", ".join(p for p in (family, first) if p)
    return f"{text}, {suffix}" if suffix else text


def local_time(value) -> str:
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def study_row(study: Study) -> dict[str, Any]:
    agd = ""
    if study.agd_left_mgy is not None or study.agd_right_mgy is not None:
        agd = f"{sig(study.agd_left_mgy) or '–'} / {sig(study.agd_right_mgy) or '–'}"
    return {
        "study": study,
        "date": study.study_date.isoformat() if study.study_date else "",
        "time": study.study_time.strftime("%H:%M") if study.study_time else "",
        "patient_id": study.patient.patient_id if study.patient else "",
        "device": str(study.device) if study.device else "",
        "dlp": sig(study.dlp_total_mgycm),
        "dap": sig(study.dap_total_gycm2),
        "agd": agd,
        "fluoro_time": sig(study.fluoro_time_total_s),
    }


# --- study detail ------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    label: str
    value: Callable[[IrradiationEvent], str]
    numeric: bool = True
    # Shown even when no event has a value, so a missing dose is visible as such.
    always: bool = False
    # The event field shown, to mark a value the parser flagged for review.
    field: str = ""


def _num(field: str, digits: int = 4) -> Callable[[IrradiationEvent], str]:
    return lambda event: sig(getattr(event, field), digits)


def _detail_num(field: str, digits: int = 4) -> Callable[[IrradiationEvent], str]:
    """A number the store keeps in the event's details rather than in a column."""

    def value(event: IrradiationEvent) -> str:
        number = (event.details or {}).get(field)
        return sig(number, digits) if isinstance(number, int | float) else ""

    return value


def _text(field: str) -> Callable[[IrradiationEvent], str]:
    return lambda event: getattr(event, field) or ""


PHANTOMS = {"head16": "Head 16 cm", "body32": "Body 32 cm"}

_START = Column(
    "Start", lambda e: local_time(e.datetime_started)[11:] if e.datetime_started else "", numeric=False
)

CT_COLUMNS = [
    _START,
    Column("Type", _text("event_type"), numeric=False, always=True),
    Column("Protocol", _text("protocol"), numeric=False, always=True),
    Column("Target region", _text("target_region"), numeric=False),
    Column("CTDIvol (mGy)", _num("ctdivol_mgy"), field="ctdivol_mgy", always=True),
    Column("DLP (mGy·cm)", _num("dlp_mgycm"), field="dlp_mgycm", always=True),
    Column("Phantom", lambda e: PHANTOMS.get(e.phantom, e.phantom), numeric=False),
    Column("SSDE (mGy)", _num("ssde_mgy"), field="ssde_mgy"),
    Column("Scanning length (mm)", _num("scanning_length_mm"), field="scanning_length_mm"),
    Column("kVp (kV)", _num("kvp"), field="kvp"),
    Column("Tube current (mA)", _num("tube_current_ma"), field="tube_current_ma"),
    Column("Max tube current (mA)", _num("max_tube_current_ma"), field="max_tube_current_ma"),
    Column("Exposure time (s)", _num("exposure_time_s"), field="exposure_time_s"),
    Column("Rotation time (s)", _num("exposure_time_per_rotation_s"), field="exposure_time_per_rotation_s"),
    Column("Pitch", _num("pitch"), field="pitch"),
    Column("Total collimation (mm)", _num("total_collimation_mm"), field="total_collimation_mm"),
]

PROJECTION_COLUMNS = [
    _START,
    Column("Type", _text("event_type"), numeric=False, always=True),
    Column("Plane", _text("plane"), numeric=False),
    Column("Protocol", _text("protocol"), numeric=False, always=True),
    Column("Region", _text("target_region"), numeric=False),
    Column("Laterality", _text("laterality"), numeric=False),
    Column("View", _text("view"), numeric=False),
    Column("DAP (Gy·cm²)", _num("dap_gycm2"), field="dap_gycm2", always=True),
    Column("Ka,r (mGy)", _num("dose_rp_mgy"), field="dose_rp_mgy", always=True),
    Column("AGD (mGy)", _num("agd_mgy"), field="agd_mgy"),
    Column("Entrance exposure (mGy)", _num("entrance_exposure_mgy"), field="entrance_exposure_mgy"),
    Column("Compressed thickness (mm)", _num("compression_thickness_mm"), field="compression_thickness_mm"),
    Column("kVp (kV)", _num("kvp"), field="kvp"),
    Column("Tube current (mA)", _num("tube_current_ma"), field="tube_current_ma"),
    Column("Exposure (mAs)", _num("exposure_mas"), field="exposure_mas"),
    Column("Pulse rate (/s)", _num("pulse_rate"), field="pulse_rate"),
    Column("Primary angle (°)", _num("primary_angle_deg"), field="primary_angle_deg"),
    Column("Secondary angle (°)", _num("secondary_angle_deg"), field="secondary_angle_deg"),
    Column("SID (mm)", _num("source_to_detector_mm"), field="source_to_detector_mm"),
    Column("EI", _num("exposure_index"), field="exposure_index"),
    Column("Target EI", _num("target_exposure_index"), field="target_exposure_index"),
    Column("DI", _num("deviation_index"), field="deviation_index"),
    Column("Duration (s)", _detail_num("irradiation_duration_s"), field="irradiation_duration_s"),
    Column("Exposure time (s)", _num("exposure_time_s"), field="exposure_time_s"),
    Column("Frames", _detail_num("frames"), field="frames"),
]


def event_table(columns: list[Column], events: Iterable[IrradiationEvent]) -> dict[str, Any]:
    """Headers and rows of the events table, leaving out columns nobody filled.

    A cell is (text, numeric, flagged): flagged values (unknown or implausible
    unit) are shown, marked, and not counted in the totals.
    """
    cells = []
    for event in events:
        review = set((event.details or {}).get("review") or [])
        cells.append([(c.value(event), c.numeric, bool(c.field) and c.field in review) for c in columns])
    shown = [i for i, column in enumerate(columns) if column.always or any(row[i][0] for row in cells)]
    return {
        "headers": [(*_split_unit(columns[i].label), columns[i].numeric) for i in shown],
        "rows": [[row[i] for i in shown] for row in cells],
        "flagged": any(cell[2] for row in cells for cell in row),
    }


def _split_unit(label: str) -> tuple[str, str]:
    """'DAP (Gy·cm²)' -> ('DAP', 'Gy·cm²'): the unit goes on its own line in a narrow header."""
    name, _, unit = label.partition(" (")
    return name, unit.rstrip(")")


def is_ct(study: Study, events: list[IrradiationEvent]) -> bool:
    if study.modality:
        return study.modality == "CT"
    return any(e.ctdivol_mgy is not None or e.dlp_mgycm is not None for e in events)


UNIT_SUFFIXES = [
    ("_mgycm", "mGy·cm"),
    ("_gycm2", "Gy·cm²"),
    ("_mgy", "mGy"),
    ("_mm", "mm"),
    ("_kg", "kg"),
    ("_s", "s"),
    ("_m", "m"),
]
WORDS = {"dlp": "DLP", "dap": "DAP", "agd": "AGD", "ctdivol": "CTDIvol", "rp": "RP", "ssde": "SSDE"}
# Keys of the stated totals that only group others, or describe the statement itself.
STATED_GROUPS = {"ct_totals", "mammo_totals"}
STATED_SKIPPED = {"sop_instance_uid", "kind", "events_in_object", "review", "planes", "confidence", "in_review",
                  "ocr_review"}


def _label(key: str) -> str:
    unit = ""
    for suffix, name in UNIT_SUFFIXES:
        if key.endswith(suffix):
            key, unit = key[: -len(suffix)], name
            break
    words = [WORDS.get(w, w) for w in key.split("_") if w]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    text = text.replace("Dose RP", "Ka,r").replace("dose RP", "Ka,r")
    return f"{text} ({unit})" if unit else text


def _display(value: Any) -> str:
    if isinstance(value, float):
        return sig(value)
    return "" if value is None else str(value)


def stated_rows(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The study-level totals the dose object states, as label/value rows.

    Plane totals are left out here: they stand beside the recomputed ones in
    the plane table.
    """
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if key in STATED_SKIPPED:
            continue
        if isinstance(value, dict):
            rows += stated_rows(value, "" if key in STATED_GROUPS else f"{prefix}{_label(key)} · ")
        elif value is not None and value != "" and not isinstance(value, list):
            rows.append((f"{prefix}{_label(key)}", _display(value)))
    return rows


def stated_source(stated: dict[str, Any]) -> str:
    if not stated.get("sop_instance_uid"):
        return ""
    text = f"{stated.get('kind') or 'object'} {stated['sop_instance_uid']}"
    if stated.get("events_in_object") is not None:
        text += f", {stated['events_in_object']} events"
    return text


PLANE_ROWS = [
    ("DAP total (Gy·cm²)", "dap_total_gycm2"),
    ("Ka,r total (mGy)", "dose_rp_total_mgy"),
    ("Fluoroscopy DAP (Gy·cm²)", "fluoro_dap_total_gycm2"),
    ("Acquisition DAP (Gy·cm²)", "acquisition_dap_total_gycm2"),
    ("Fluoroscopy Ka,r (mGy)", "fluoro_dose_rp_total_mgy"),
    ("Acquisition Ka,r (mGy)", "acquisition_dose_rp_total_mgy"),
    ("Fluoroscopy time (s)", "fluoro_time_total_s"),
    ("Acquisition time (s)", "acquisition_time_total_s"),
    ("Frames", "frames_total"),
    ("Reference point", "reference_point"),
]


def plane_table(planes: list[PlaneAccumulation], stated_planes: list[dict[str, Any]]) -> dict[str, Any]:
    """One column per plane, and beside it what the object states for that plane.

    Values of two planes stand side by side and are never summed.
    """
    stated_by_name = {str(p.get("plane") or "single"): p for p in stated_planes if isinstance(p, dict)}
    columns: list[tuple[str, bool, Callable[[str], Any]]] = []
    for plane in planes:
        columns.append((_plane_name(plane.plane), False, lambda f, plane=plane: getattr(plane, f)))
        stated = stated_by_name.get(plane.plane)
        if stated:
            columns.append(
                (f"{_plane_name(plane.plane)}, stated", True, lambda f, stated=stated: stated.get(f))
            )
    rows = []
    for label, field in PLANE_ROWS:
        values = [_display(value(field)) for _, _, value in columns]
        if any(values):
            rows.append((label, [(v, stated) for v, (_, stated, _) in zip(values, columns, strict=True)]))
    return {"headers": [(name, stated) for name, stated, _ in columns], "rows": rows}


def _plane_name(plane: str) -> str:
    return "Single plane" if plane == "single" else f"Plane {plane}"


def study_totals(study: Study) -> list[tuple[str, str]]:
    values = [
        ("Events", str(study.event_count)),
        ("Total DLP (mGy·cm)", sig(study.dlp_total_mgycm)),
        ("Total DAP (Gy·cm²)", sig(study.dap_total_gycm2)),
        ("Fluoroscopy time (s)", sig(study.fluoro_time_total_s)),
        ("AGD left (mGy)", sig(study.agd_left_mgy)),
        ("AGD right (mGy)", sig(study.agd_right_mgy)),
    ]
    return [(label, value) for label, value in values if value]
