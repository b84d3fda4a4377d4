"""Import patient height and weight from a CSV file keyed by accession number.

    manage.py import_patient_size sizes.csv [--overwrite] [--user NAME]

Prints the same report as the "Patient size" page; exits with an error when
the file cannot be read at all.
"""

from __future__ import annotations

import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rdsr.patient_size import SizeFileInvalid
from rdsr.patient_size_services import PatientSizeReport, SizeChange, patient_size_import


class Command(BaseCommand):
    help = "Fill patient height and weight of studies from a CSV file keyed by accession number."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--overwrite", action="store_true", help="replace values the studies already have"
        )
        parser.add_argument("--user", default="", help="who imports (default: the login name)")

    def handle(self, *args, file: Path, overwrite: bool, user: str, **options) -> None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        try:
            report = patient_size_import(
                csv_bytes=data, overwrite=overwrite, user=user or f"{_login()} (command line)"
            )
        except SizeFileInvalid as exc:
            raise CommandError(f"{file}: {exc}") from None
        self.stdout.write(report_text(report))


def report_text(report: PatientSizeReport) -> str:
    lines = [f"warning: {w}" for w in report.warnings]
    for title, changes in (
        ("filled", report.filled),
        ("overwritten", report.overwritten),
        ("kept (the study's value stays; --overwrite replaces it)", report.kept),
        ("already the same", report.same),
    ):
        if changes:
            lines.append(f"{title}:")
            lines += [_change(c) for c in changes]
    if report.unmatched:
        lines.append("matched no study:")
        lines += [f"  line {r.line}: accession {r.accession_number}" for r in report.unmatched]
    if report.invalid:
        lines.append("invalid, not used:")
        lines += [f"  line {p.line}: {p.reason}: {p.text}" for p in report.invalid]
    lines.append(
        f"rows {report.rows_read}, matched {report.rows_matched}, studies changed {report.studies_changed}, "
        f"filled {len(report.filled)}, overwritten {len(report.overwritten)}, kept {len(report.kept)}, "
        f"unmatched {len(report.unmatched)}, invalid {len(report.invalid)}"
    )
    return "\n".join(lines)


def _change(c: SizeChange) -> str:
    unit = "m" if c.field == "height_m" else "kg"
    what = "height" if c.field == "height_m" else "weight"
    where = f"  line {c.line}: accession {c.accession_number}, study {c.study_id}: {what}"
    if c.action == "filled":
        return f"{where} {c.new:g} {unit}"
    if c.action == "overwritten":
        return f"{where} {c.old:g} -> {c.new:g} {unit}"
    return f"{where} {c.old:g} {unit} kept (file: {c.new:g} {unit})"


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
