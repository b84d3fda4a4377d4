"""Writes of the exports: jobs (create, run, clean up) and the audit trail of every export.

Each export, streamed in the request or written by a job, is recorded in the
audit trail with its filters: who took which patient data out, and when.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record

from . import columns, national
from .models import ExportJob
from .pseudonym import pseudonym
from .selectors import (
    Export,
    ListFilters,
    event_export,
    national_records,
    national_studies,
    study_export,
)

logger = logging.getLogger(__name__)

# Progress is written every this many rows: often enough to move, rarely enough to cost nothing.
PROGRESS_EVERY_ROWS = 5000


class ExportInvalid(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class NationalRequest:
    template: national.Template
    filters: ListFilters


def national_export_validate(
    *, template_id: str, template_version: str = "", filters: ListFilters
) -> NationalRequest:
    """Check everything before an export is made; raises ExportInvalid with every reason.

    The template must be well-formed, its required filters given, and the
    period must hold at least one patient exam it would export.
    """
    try:
        template = national.template_get(template_id, template_version)
    except national.TemplateError as exc:
        raise ExportInvalid(exc.errors) from exc
    given = {
        "date_from": filters.date_from,
        "date_to": filters.date_to,
        "modality": filters.modality,
        "device": filters.device_id,
        "procedure": filters.procedure_id,
    }
    errors = national.validate_filters(template, given)
    if not errors and not national_studies(template, filters).exists():
        errors.append(
            f"no patient exam{' with a standard procedure' if template.mapped_only else ''} "
            f"from {filters.date_from} to {filters.date_to} matches: the export would be empty"
        )
    if errors:
        raise ExportInvalid(errors)
    return NationalRequest(template=template, filters=filters)


def national_export(request: NationalRequest, *, secret: str | None = None, on_record=None) -> Export:
    """The rows of a national export: pseudonymised, and aggregated where the template says so."""
    template, filters = request.template, request.filters
    key = settings.EXPORT_SECRET if secret is None else secret
    records: Iterable[dict[str, Any]] = national_records(template, filters)
    if on_record is not None:
        records = _counting(records, on_record)
    if template.aggregated:
        rows: Iterator = iter(national.aggregate_rows(template, records))
    else:
        rows = (
            national.exam_row(template, r, pseudonymise=lambda kind, value: pseudonym(secret=key, kind=kind, value=value))
            for r in records
        )
    return Export(
        title=f"{template.title} v{template.version}",
        headers=template.headers,
        rows=rows,
        total=national_studies(template, filters).count(),
    )


def list_export(*, kind: str, filters: ListFilters, count: bool = True) -> Export:
    if kind == ExportJob.Kind.STUDIES:
        return study_export(filters, count=count)
    if kind == ExportJob.Kind.EVENTS:
        return event_export(filters, count=count)
    raise ValueError(f"unknown list export {kind!r}")


def export_stream_record(*, kind: str, fmt: str, filters: ListFilters, rows: int | None, request=None,
                         username: str = "") -> None:
    """The audit event of an export streamed straight to the browser."""
    audit_record(
        action="export",
        object_type=f"{kind} export",
        summary=f"{kind.capitalize()} exported as {fmt.upper()} ({rows if rows is not None else '?'} rows)",
        details={"format": fmt, "filters": filters.as_json()},
        request=request,
        username=username,
    )


def export_job_create(
    *,
    user,
    kind: str,
    fmt: str,
    filters: ListFilters,
    template_id: str = "",
    template_version: str = "",
    request=None,
) -> ExportJob:
    """Queue an export job (validated first for national exports; raises ExportInvalid)."""
    if fmt not in ExportJob.Format.values:
        raise ExportInvalid([f"unknown format {fmt!r}"])
    if kind == ExportJob.Kind.NATIONAL:
        checked = national_export_validate(template_id=template_id, template_version=template_version,
                                           filters=filters)
        template_version = checked.template.version
    elif kind not in (ExportJob.Kind.STUDIES, ExportJob.Kind.EVENTS):
        raise ExportInvalid([f"unknown export {kind!r}"])
    export_files_cleanup()
    with transaction.atomic():
        job = ExportJob.objects.create(
            user=user,
            username=user.get_username(),
            kind=kind,
            format=fmt,
            template_id=template_id if kind == ExportJob.Kind.NATIONAL else "",
            template_version=template_version if kind == ExportJob.Kind.NATIONAL else "",
            filters=filters.as_json(),
        )
        audit_record(
            action="export",
            object_type="export job",
            object_id=job.pk,
            summary=f"Export requested: {job}".replace(f" ({job.status})", "") + f" as {fmt.upper()}",
            details={"kind": kind, "format": fmt, "template": job.template_id,
                     "template_version": job.template_version, "filters": job.filters},
            user=user,
            request=request,
        )
        from .dispatch import enqueue_export

        transaction.on_commit(lambda: enqueue_export(job.pk))
    return job


def _counting(items: Iterable, on_count) -> Iterator:
    n = 0
    for item in items:
        yield item
        n += 1
        if n % PROGRESS_EVERY_ROWS == 0:
            on_count(n)
    on_count(n)


def _file_name(job: ExportJob) -> str:
    what = f"{job.template_id}-v{job.template_version}" if job.template_id else job.kind
    period = "-".join(p for p in (job.filters.get("date_from"), job.filters.get("date_to")) if p)
    name = "-".join(p for p in (f"export{job.pk}", what, period) if p)
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) + f".{job.format}"


def export_job_run(*, job_id: int) -> ExportJob:
    """Write the job's file under EXPORT_DIR, with progress; idempotent (a finished job stays so).

    The file is written as `.part` and renamed when complete: a download never
    sees half a file.
    """
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, started_at=timezone.now()
    )
    job = ExportJob.objects.get(pk=job_id)
    if not claimed and job.status != ExportJob.Status.RUNNING:
        return job  # done, failed or expired already
    directory = Path(settings.EXPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    name = _file_name(job)
    part = directory / f"{name}.part"

    def progress(n: int) -> None:
        ExportJob.objects.filter(pk=job_id).update(rows_written=n)

    try:
        filters = ListFilters.from_json(job.filters)
        if job.kind == ExportJob.Kind.NATIONAL:
            checked = national_export_validate(
                template_id=job.template_id, template_version=job.template_version, filters=filters
            )
            export = national_export(checked, on_record=progress)
            rows: Iterable = export.rows
        else:
            export = list_export(kind=job.kind, filters=filters)
            rows = _counting(export.rows, progress)
        ExportJob.objects.filter(pk=job_id).update(rows_total=export.total)
        if job.format == ExportJob.Format.XLSX:
            columns.write_xlsx(part, export.headers, rows, title=export.title)
        else:
            columns.write_csv(part, export.headers, rows)
        os.replace(part, directory / name)
    except Exception as exc:
        part.unlink(missing_ok=True)
        logger.exception("export job %s failed", job_id)
        message = "; ".join(exc.errors) if isinstance(exc, ExportInvalid) else f"{type(exc).__name__}: {exc}"
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportJob.Status.FAILED, error=message[:2000], finished_at=timezone.now()
        )
        return ExportJob.objects.get(pk=job_id)
    ExportJob.objects.filter(pk=job_id).update(
        status=ExportJob.Status.DONE,
        file_name=name,
        file_size=(directory / name).stat().st_size,
        finished_at=timezone.now(),
    )
    return ExportJob.objects.get(pk=job_id)


def export_job_file(*, job: ExportJob) -> Path | None:
    """The finished file of a job, or None (not done, removed)."""
    if job.status != ExportJob.Status.DONE or not job.file_name:
        return None
    path = Path(settings.EXPORT_DIR) / job.file_name
    return path if path.is_file() else None


def export_job_download_record(*, job: ExportJob, request) -> None:
    audit_record(
        action="export",
        object_type="export job",
        object_id=job.pk,
        summary=f"Export file downloaded: {job.file_name} ({job.rows_written} rows)",
        details={"kind": job.kind, "format": job.format, "template": job.template_id,
                 "template_version": job.template_version, "filters": job.filters},
        request=request,
    )


def export_files_cleanup(*, now: datetime.datetime | None = None) -> int:
    """Remove files of jobs finished more than EXPORT_KEEP_DAYS ago (and stray partial files).

    The job rows stay, as the history of what was exported. Returns how many files were removed.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.EXPORT_KEEP_DAYS)
    removed = 0
    directory = Path(settings.EXPORT_DIR)
    for job in ExportJob.objects.filter(status=ExportJob.Status.DONE, finished_at__lt=cutoff):
        if job.file_name:
            path = directory / job.file_name
            if path.is_file():
                path.unlink()
                removed += 1
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.EXPIRED, file_name="")
    if directory.is_dir():
        for part in directory.glob("*.part"):
            if datetime.datetime.fromtimestamp(part.stat().st_mtime, tz=datetime.UTC) < cutoff:
                part.unlink(missing_ok=True)
                removed += 1
    return removed
