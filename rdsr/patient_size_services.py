"""Patient height and weight from a CSV upload, matched to studies by accession number.

Rules:
- every study whose accession number equals the row's (after trimming spaces)
  gets the row's values; a row that matches no study is reported, never lost
  silently;
- a value the study lacks is filled; a value it has is kept (and reported with
  both values) unless the user asked to overwrite; equal values (within 0.5 cm
  or 0.05 kg, the rounding of a typed value) are left as they are;
- ``Study.patient_size_source`` becomes "csv" when every size value of the
  study now comes from the CSV, "header+csv" when one came from the image or
  dose object header and the other from the CSV.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record

from .models import Study
from .patient_size import RowProblem, SizeRow, size_csv_parse

logger = logging.getLogger(__name__)

# Differences below these are the rounding of a typed value, not a new value.
_SAME = {"height_m": 0.005, "weight_kg": 0.05}
_CHUNK = 500


@dataclass
class SizeChange:
    line: int
    accession_number: str
    study_id: int
    study_label: str
    field: str  # "height_m" | "weight_kg"
    old: float | None
    new: float
    action: str  # "filled" | "kept" | "overwritten" | "same"


@dataclass
class PatientSizeReport:
    overwrite: bool
    rows_read: int = 0
    changes: list[SizeChange] = field(default_factory=list)
    unmatched: list[SizeRow] = field(default_factory=list)
    invalid: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    studies_changed: int = 0

    def of(self, action: str) -> list[SizeChange]:
        return [c for c in self.changes if c.action == action]

    @property
    def filled(self) -> list[SizeChange]:
        return self.of("filled")

    @property
    def kept(self) -> list[SizeChange]:
        return self.of("kept")

    @property
    def overwritten(self) -> list[SizeChange]:
        return self.of("overwritten")

    @property
    def same(self) -> list[SizeChange]:
        return self.of("same")

    @property
    def rows_matched(self) -> int:
        return len({c.line for c in self.changes})


def patient_size_import(*, csv_bytes: bytes, overwrite: bool, user: str) -> PatientSizeReport:
    """Raises rdsr.patient_size.SizeFileInvalid when the file cannot be read at all."""
    parsed = size_csv_parse(csv_bytes)
    report = PatientSizeReport(
        overwrite=overwrite,
        rows_read=len(parsed.rows) + len(parsed.problems),
        invalid=parsed.problems,
        warnings=parsed.warnings,
    )
    by_accession = {row.accession_number: row for row in parsed.rows}
    changed: list[Study] = []
    with transaction.atomic():
        studies: list[Study] = []
        accessions = sorted(by_accession)
        for start in range(0, len(accessions), _CHUNK):
            studies += (
                Study.objects.select_for_update()
                .filter(accession_number__in=accessions[start : start + _CHUNK])
                .order_by("pk")
            )
        matched: dict[str, list[Study]] = {}
        for study in studies:
            matched.setdefault(study.accession_number, []).append(study)
        for row in parsed.rows:
            mine = matched.get(row.accession_number)
            if not mine:
                report.unmatched.append(row)
                continue
            for study in mine:
                if _apply(study, row, overwrite=overwrite, report=report):
                    changed.append(study)
        if changed:
            Study.objects.bulk_update(
                changed, ["height_m", "weight_kg", "patient_size_source", "updated_at"], batch_size=_CHUNK
            )
        report.studies_changed = len(changed)
        if changed:
            audit_record(
                action="import", object_type="patient_size_csv", username=user,
                summary=f"patient size CSV: {report.rows_read} rows, {len(changed)} studies changed"
                        f"{' (overwrite)' if overwrite else ''}",
                details={"changes": [
                    {"study": c.study_id, "field": c.field, "old": c.old, "new": c.new, "action": c.action}
                    for c in report.changes if c.action in ("filled", "overwritten")
                ][:2000]},
            )
    logger.info(
        "patient size CSV by %s: %d rows, %d studies changed, %d unmatched, %d invalid",
        user,
        report.rows_read,
        report.studies_changed,
        len(report.unmatched),
        len(report.invalid),
    )
    return report


def _apply(study: Study, row: SizeRow, *, overwrite: bool, report: PatientSizeReport) -> bool:
    label = f"{study.study_date or '(no date)'} {study.modality} {study.study_description}".strip()
    from_csv: list[str] = []
    for name, new in (("height_m", row.height_m), ("weight_kg", row.weight_kg)):
        if new is None:
            continue
        old = getattr(study, name)
        if old is None:
            action = "filled"
        elif abs(old - new) < _SAME[name]:
            action = "same"
        elif overwrite:
            action = "overwritten"
        else:
            action = "kept"
        report.changes.append(
            SizeChange(
                line=row.line,
                accession_number=row.accession_number,
                study_id=study.pk,
                study_label=label,
                field=name,
                old=old,
                new=new,
                action=action,
            )
        )
        if action in ("filled", "overwritten"):
            setattr(study, name, new)
            from_csv.append(name)
    if not from_csv:
        return False
    study.patient_size_source = _source_after(study, from_csv)
    study.updated_at = timezone.now()
    return True


def _source_after(study: Study, from_csv: list[str]) -> str:
    present = [n for n in ("height_m", "weight_kg") if getattr(study, n) is not None]
    if set(present) <= set(from_csv):
        return "csv"
    # The other value stays from wherever it came; a header is the only other writer.
    before = study.patient_size_source
    return "header+csv" if before in ("header", "header+csv") else "csv"
