"""National authority export templates: definition, validation, rows. Pure, no database.

A template is a JSON file in `national_templates/` named `<id>.v<version>.json`:

    {"id": "survey-exam", "version": "1", "title": "...", "authority": "...",
     "level": "exam" | "procedure×room",
     "filters": {"required": ["date_from", "date_to"], "optional": ["modality", ...]},
     "columns": [{"name": "DLP", "unit": "mGy·cm", "source": "study.dlp_total_mgycm"},
                 {"name": "Patient pseudonym", "source": "patient.patient_id", "pseudonymise": true},
                 {"name": "DLP median", "unit": "mGy·cm", "source": "study.dlp_total_mgycm",
                  "aggregate": "median"}, ...]}

A published version is never edited: a changed template is a new file with the
next version, so an export can always be made again exactly as it was sent.
Columns read named sources (SOURCES) whose canonical unit the column must
state; identifying sources can only leave pseudonymised, and name and birth
date never. At level "procedure×room" the rows are the exams' groups by
procedure and room, and every other column is an aggregate: count, median or
p75 (percentiles by linear interpolation between closest ranks, numpy's
default and spreadsheets' PERCENTILE.INC; the median is the 50th).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drl.local import percentile

from .columns import header

TEMPLATE_DIR = Path(__file__).resolve().parent / "national_templates"

LEVEL_EXAM = "exam"
LEVEL_PROCEDURE_ROOM = "procedure×room"
LEVELS = (LEVEL_EXAM, LEVEL_PROCEDURE_ROOM)
GROUP_BY = ("procedure.name", "device.name")
AGGREGATES = ("count", "median", "p75")
FILTERS = ("date_from", "date_to", "modality", "device", "procedure")
PERCENTILE_METHOD = "linear interpolation between closest ranks (numpy default, PERCENTILE.INC)"


@dataclass(frozen=True)
class Source:
    unit: str = ""
    numeric: bool = False
    # Identifies a patient or an exam: may leave only pseudonymised ...
    identifying: bool = False
    # ... or never (a pseudonymised birth date or name would still be a lookup key).
    never: bool = False
    # The kind hashed with the value (exports.pseudonym).
    pseudonym_kind: str = ""
    description: str = ""


SOURCES: dict[str, Source] = {
    "study.study_instance_uid": Source(identifying=True, pseudonym_kind="study", description="Study Instance UID"),
    "study.accession_number": Source(identifying=True, pseudonym_kind="accession", description="Accession number"),
    "patient.patient_id": Source(identifying=True, pseudonym_kind="patient", description="Patient ID (with issuer)"),
    "patient.name": Source(identifying=True, never=True, description="Patient name"),
    "patient.birth_date": Source(identifying=True, never=True, description="Patient birth date"),
    "patient.sex": Source(description="Sex (M, F, O)"),
    "study.study_date": Source(description="Date of the exam"),
    "study.modality": Source(description="Modality"),
    "study.age_years": Source(unit="a", numeric=True, description="Age at the exam"),
    "study.weight_kg": Source(unit="kg", numeric=True, description="Weight"),
    "study.height_m": Source(unit="m", numeric=True, description="Height"),
    "device.name": Source(description="Room (the device's display name)"),
    "device.manufacturer": Source(description="Manufacturer"),
    "device.model": Source(description="Model"),
    "procedure.name": Source(description="Standard procedure"),
    "procedure.radlex_playbook_id": Source(description="RadLex Playbook ID of the procedure"),
    "study.dlp_total_mgycm": Source(unit="mGy·cm", numeric=True, description="Total DLP (CT)"),
    "study.dap_total_gycm2": Source(unit="Gy·cm²", numeric=True, description="Total DAP"),
    "study.fluoro_time_total_s": Source(unit="s", numeric=True, description="Total fluoroscopy time"),
    "study.agd_left_mgy": Source(unit="mGy", numeric=True, description="Accumulated AGD, left breast"),
    "study.agd_right_mgy": Source(unit="mGy", numeric=True, description="Accumulated AGD, right breast"),
    "exam.ct_sequences": Source(unit="sequences", numeric=True,
                                description="CT sequences with a CTDIvol (localizers and values in review left out)"),
    "exam.ctdivol_mean_mgy": Source(unit="mGy", numeric=True,
                                    description="Mean CTDIvol of those sequences"),
    "exam.ctdivol_max_mgy": Source(unit="mGy", numeric=True, description="Highest CTDIvol of those sequences"),
}


class TemplateError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class TemplateColumn:
    name: str
    unit: str
    source: str
    aggregate: str = ""
    pseudonymise: bool = False

    @property
    def header(self) -> str:
        return header(self.name, self.unit)


@dataclass(frozen=True)
class Template:
    id: str
    version: str
    title: str
    level: str
    columns: tuple[TemplateColumn, ...]
    required_filters: tuple[str, ...]
    optional_filters: tuple[str, ...]
    authority: str = ""
    description: str = ""
    # Exams without a standard procedure are left out (a per-procedure summary needs one).
    mapped_only: bool = False
    definition: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    @property
    def sources(self) -> set[str]:
        return {c.source for c in self.columns if c.source} | (set(GROUP_BY) if self.aggregated else set())

    @property
    def aggregated(self) -> bool:
        return self.level == LEVEL_PROCEDURE_ROOM


def validate_definition(data: Any) -> list[str]:
    """Everything wrong with a template definition; [] when it can be used."""
    if not isinstance(data, dict):
        return ["the template is not a JSON object"]
    errors = []
    for key in ("id", "version", "title", "level", "columns"):
        if not data.get(key):
            errors.append(f"'{key}' is missing")
    if data.get("id") and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", str(data["id"])):
        errors.append("'id' must be lower-case letters, digits and hyphens")
    if data.get("version") and not re.fullmatch(r"[0-9]+(\.[0-9]+)*", str(data["version"])):
        errors.append("'version' must be a number such as 1 or 2.1")
    level = data.get("level")
    if level and level not in LEVELS:
        errors.append(f"'level' must be one of {', '.join(LEVELS)}")
    filters = data.get("filters") or {}
    if not isinstance(filters, dict):
        errors.append("'filters' must be an object with 'required' and 'optional' lists")
        filters = {}
    for kind in ("required", "optional"):
        for name in filters.get(kind) or []:
            if name not in FILTERS:
                errors.append(f"unknown {kind} filter '{name}' (known: {', '.join(FILTERS)})")
    if not {"date_from", "date_to"} <= set(filters.get("required") or []):
        errors.append("a national export is for a period: 'date_from' and 'date_to' must be required filters")
    columns = data.get("columns") or []
    if not isinstance(columns, list):
        return [*errors, "'columns' must be a list"]
    names: set[str] = set()
    aggregated = level == LEVEL_PROCEDURE_ROOM
    grouped = set()
    for number, column in enumerate(columns, start=1):
        if not isinstance(column, dict):
            errors.append(f"column {number} is not an object")
            continue
        name = str(column.get("name") or "").strip()
        label = f"column {number} ({name or 'no name'})"
        if not name:
            errors.append(f"{label}: 'name' is missing")
        elif name in names:
            errors.append(f"{label}: the name is used twice")
        names.add(name)
        source_name = column.get("source") or ""
        aggregate = column.get("aggregate") or ""
        unit = column.get("unit") or ""
        if aggregate and not aggregated:
            errors.append(f"{label}: an aggregate needs level '{LEVEL_PROCEDURE_ROOM}'")
        if aggregate and aggregate not in AGGREGATES:
            errors.append(f"{label}: unknown aggregate '{aggregate}' (known: {', '.join(AGGREGATES)})")
        if aggregate == "count" and not source_name:
            if unit != "exams":
                errors.append(f"{label}: a count of exams has the unit 'exams'")
            continue
        source = SOURCES.get(source_name)
        if source is None:
            errors.append(f"{label}: unknown source '{source_name}'")
            continue
        if source.never:
            errors.append(f"{label}: '{source_name}' identifies a patient and is never exported")
            continue
        if source.identifying and not column.get("pseudonymise"):
            errors.append(f"{label}: '{source_name}' identifies a patient or exam: set \"pseudonymise\": true")
        if column.get("pseudonymise") and not source.identifying:
            errors.append(f"{label}: only identifiers are pseudonymised")
        expected_unit = "exams" if aggregate == "count" else source.unit
        if unit != expected_unit:
            errors.append(f"{label}: unit '{unit}' but '{source_name}' is in '{expected_unit or 'no unit'}'")
        if aggregated:
            if source_name in GROUP_BY and not aggregate:
                grouped.add(source_name)
            elif not aggregate:
                errors.append(f"{label}: at level '{LEVEL_PROCEDURE_ROOM}' a column is a group "
                              f"({', '.join(GROUP_BY)}) or an aggregate")
            elif aggregate in ("median", "p75") and not source.numeric:
                errors.append(f"{label}: '{aggregate}' of '{source_name}', which is not a number")
            if source.identifying:
                errors.append(f"{label}: no identifier in an aggregated export")
    if aggregated and grouped != set(GROUP_BY):
        errors.append(f"level '{LEVEL_PROCEDURE_ROOM}' needs the columns {' and '.join(GROUP_BY)}")
    return errors


def template_from_definition(data: Any) -> Template:
    """Raises TemplateError listing every problem."""
    errors = validate_definition(data)
    if errors:
        raise TemplateError(errors)
    filters = data.get("filters") or {}
    return Template(
        id=data["id"],
        version=str(data["version"]),
        title=data["title"],
        level=data["level"],
        authority=data.get("authority", ""),
        description=data.get("description", ""),
        mapped_only=bool(data.get("mapped_only", data["level"] == LEVEL_PROCEDURE_ROOM)),
        required_filters=tuple(filters.get("required") or ()),
        optional_filters=tuple(filters.get("optional") or ()),
        columns=tuple(
            TemplateColumn(
                name=c["name"].strip(),
                unit=c.get("unit") or "",
                source=c.get("source") or "",
                aggregate=c.get("aggregate") or "",
                pseudonymise=bool(c.get("pseudonymise")),
            )
            for c in data["columns"]
        ),
        definition=data,
    )


@dataclass(frozen=True)
class TemplateFile:
    path: Path
    template: Template | None
    errors: tuple[str, ...] = ()


def load_templates(directory: Path = TEMPLATE_DIR) -> list[TemplateFile]:
    """Every template file, usable or not (the page lists the broken ones with their errors)."""
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            found.append(TemplateFile(path, None, (f"not readable JSON: {exc}",)))
            continue
        errors = validate_definition(data)
        if not errors and path.name != f"{data['id']}.v{data['version']}.json":
            errors = [f"the file must be named {data['id']}.v{data['version']}.json"]
        if errors:
            found.append(TemplateFile(path, None, tuple(errors)))
        else:
            found.append(TemplateFile(path, template_from_definition(data)))
    return found


def template_get(template_id: str, version: str = "", *, directory: Path = TEMPLATE_DIR) -> Template:
    """A template by id and version (the newest when no version is given). Raises TemplateError."""
    files = load_templates(directory)
    for f in files:
        if f.template is None and f.path.name.startswith(f"{template_id}.v") and (
            not version or f.path.name == f"{template_id}.v{version}.json"
        ):
            raise TemplateError([f"{f.path.name}: {e}" for e in f.errors])
    usable = [f.template for f in files if f.template and f.template.id == template_id]
    if version:
        usable = [t for t in usable if t.version == version]
    if not usable:
        raise TemplateError([f"no template '{template_id}'" + (f" version {version}" if version else "")])
    return max(usable, key=lambda t: tuple(int(p) for p in t.version.split(".")))


def validate_filters(template: Template, filters: Mapping[str, Any]) -> list[str]:
    """What is wrong with the filters of an export by this template; [] when fine."""
    errors = []
    labels = {"date_from": "start of the period", "date_to": "end of the period"}
    for name in template.required_filters:
        if filters.get(name) in (None, "", []):
            errors.append(f"the {labels.get(name, name)} is required")
    allowed = set(template.required_filters) | set(template.optional_filters)
    for name, value in filters.items():
        if value not in (None, "", []) and name not in allowed:
            errors.append(f"the template does not take the filter '{name}'")
    start, end = filters.get("date_from"), filters.get("date_to")
    if isinstance(start, datetime.date) and isinstance(end, datetime.date) and start > end:
        errors.append("the period ends before it starts")
    return errors


def exam_row(template: Template, record: Mapping[str, Any], *, pseudonymise: Callable[[str, str], str]) -> list:
    """One row of an exam-level template from an exam record (source name -> value)."""
    row = []
    for column in template.columns:
        value = record.get(column.source)
        if column.pseudonymise:
            value = pseudonymise(SOURCES[column.source].pseudonym_kind, value or "")
        row.append(value)
    return row


def _tidy(value: float) -> float:
    # Medians of binary floats carry noise in the last digits (512.30000000000001).
    return float(f"{value:.10g}")


def aggregate_rows(template: Template, records: Iterable[Mapping[str, Any]]) -> list[list]:
    """Rows of a procedure×room template: one per (procedure, room), sorted by them.

    Only the numbers are kept per group (8 bytes each), never the records.
    """
    numeric = sorted({c.source for c in template.columns if c.source and c.aggregate})
    groups: dict[tuple, dict[str, Any]] = {}
    for record in records:
        key = tuple(record.get(name) or "" for name in GROUP_BY)
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"exams": 0, **{name: array("d") for name in numeric}}
        group["exams"] += 1
        for name in numeric:
            value = record.get(name)
            if value is not None and math.isfinite(value):
                group[name].append(value)
    rows = []
    for key in sorted(groups):
        group = groups[key]
        row = []
        for column in template.columns:
            if not column.aggregate:
                row.append(key[GROUP_BY.index(column.source)])
            elif column.aggregate == "count":
                row.append(len(group[column.source]) if column.source else group["exams"])
            else:
                values = group[column.source]
                q = 50 if column.aggregate == "median" else 75
                row.append(_tidy(percentile(values, q)) if values else None)
        rows.append(row)
    return rows
