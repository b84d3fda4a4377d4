"""Export pages: list downloads, the national export form, the jobs page, downloads. Staff only."""

from __future__ import annotations

import tempfile

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from drl.selectors import procedure_list
from rdsr.selectors import device_list, study_modalities

from . import columns, national, selectors, services
from .models import ExportJob

# Until roles exist, patient data leaves the building through staff users only.
STAFF_ONLY = "Only staff users can export patient data."


def _staff_only(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied(STAFF_ONLY)


def _date(label: str, *, required: bool = False) -> forms.DateField:
    return forms.DateField(required=required, label=label,
                           widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))


class ExportFilterForm(forms.Form):
    """The filters of every export; the same names as query parameters of the download URLs."""

    date_from = _date("From")
    date_to = _date("To")
    modality = forms.ChoiceField(required=False, label="Modality")
    device = forms.ModelChoiceField(queryset=None, required=False, label="Room", empty_label="All rooms")
    procedure = forms.ModelChoiceField(queryset=None, required=False, label="Procedure",
                                       empty_label="All procedures")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["modality"].choices = [("", "All modalities")] + [(m, m) for m in study_modalities()]
        self.fields["device"].queryset = device_list()
        self.fields["procedure"].queryset = procedure_list()

    def list_filters(self, *, patients_only: bool = False) -> selectors.ListFilters:
        data = self.cleaned_data
        return selectors.ListFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            modality=data.get("modality") or "",
            device_id=data["device"].pk if data.get("device") else None,
            procedure_id=data["procedure"].pk if data.get("procedure") else None,
            patients_only=patients_only,
        )


class ListExportForm(ExportFilterForm):
    patients_only = forms.BooleanField(required=False, label="Patients only")


class NationalExportForm(ExportFilterForm):
    template = forms.ChoiceField(label="Template")
    format = forms.ChoiceField(label="Format", choices=ExportJob.Format.choices)

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [(t.key, f"{t.title} (v{t.version})") for t in templates]
        self.order_fields(["template", "date_from", "date_to"])


def _usable_templates() -> tuple[list[national.Template], list[national.TemplateFile]]:
    files = national.load_templates()
    return [f.template for f in files if f.template], [f for f in files if f.template is None]


def export_index(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    templates, broken = _usable_templates()
    return render(request, "exports/index.html", {
        "list_form": ListExportForm(request.GET or None),
        "national_form": NationalExportForm(templates=templates),
        "templates": templates,
        "broken": broken,
        "direct_max_rows": settings.EXPORT_DIRECT_MAX_ROWS,
        "percentile_method": national.PERCENTILE_METHOD,
    })


def export_list(request: HttpRequest, kind: str, fmt: str) -> HttpResponse:
    """/exports/studies.csv?date_from=…&date_to=…&modality=…&device=…&procedure=…&patients_only=1

    Streams the file when it is small enough; a larger one (or `background=1`)
    becomes a background job and the browser goes to the jobs page.
    """
    _staff_only(request)
    form = ListExportForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Export not made: " + "; ".join(
            f"{form.fields[name].label if name in form.fields else name}: {' '.join(errs)}"
            for name, errs in form.errors.items()))
        return redirect("export-index")
    filters = form.list_filters(patients_only=form.cleaned_data["patients_only"])
    export = services.list_export(kind=kind, filters=filters)
    if request.GET.get("background") or (export.total or 0) > settings.EXPORT_DIRECT_MAX_ROWS:
        job = services.export_job_create(user=request.user, kind=kind, fmt=fmt, filters=filters, request=request)
        messages.success(request, f"{export.total} rows: the export runs in the background as job #{job.pk}.")
        return redirect("export-jobs")
    services.export_stream_record(kind=kind, fmt=fmt, filters=filters, rows=export.total, request=request)
    name = f"{kind}.{fmt}"
    if fmt == "csv":
        response = StreamingHttpResponse(columns.csv_chunks(export.headers, export.rows),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    # XLSX is a zip: written to a temporary file (gone once closed), then sent.
    out = tempfile.TemporaryFile()
    columns.write_xlsx(out, export.headers, export.rows, title=export.title)
    out.seek(0)
    return FileResponse(out, as_attachment=True, filename=name,
                        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@require_POST
def export_national(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    templates, broken = _usable_templates()
    form = NationalExportForm(request.POST, templates=templates)
    errors: list[str] = []
    if form.is_valid():
        template_id, _, version = form.cleaned_data["template"].partition("@")
        try:
            job = services.export_job_create(
                user=request.user,
                kind=ExportJob.Kind.NATIONAL,
                fmt=form.cleaned_data["format"],
                filters=form.list_filters(patients_only=True),
                template_id=template_id,
                template_version=version,
                request=request,
            )
        except services.ExportInvalid as exc:
            errors = exc.errors
        else:
            messages.success(request, f"National export queued as job #{job.pk}.")
            return redirect("export-jobs")
    return render(request, "exports/index.html", {
        "list_form": ListExportForm(),
        "national_form": form,
        "national_errors": errors,
        "templates": templates,
        "broken": broken,
        "direct_max_rows": settings.EXPORT_DIRECT_MAX_ROWS,
        "percentile_method": national.PERCENTILE_METHOD,
    }, status=400)


def export_jobs(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    jobs = list(selectors.job_list(username=request.user.get_username()))
    return render(request, "exports/jobs.html", {
        "jobs": jobs,
        "refresh": any(job.active for job in jobs),
        "keep_days": settings.EXPORT_KEEP_DAYS,
    })


def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    try:
        job = selectors.job_get(job_id=pk)
    except ExportJob.DoesNotExist as exc:
        raise Http404("No such export") from exc
    path = services.export_job_file(job=job)
    if path is None:
        raise Http404("This export has no file (not finished, failed, or removed)")
    services.export_job_download_record(job=job, request=request)
    return FileResponse(path.open("rb"), as_attachment=True, filename=job.file_name)
