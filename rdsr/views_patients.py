"""Patient tools: patient-size CSV upload, the non-patient rule list, one study's non-patient decision.

Rule changes are for staff users until roles arrive (issue 5); any logged-in
user may upload sizes or decide on one study, and the study shows who decided.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import selectors
from .models import NonPatientRule, Study
from .non_patient import FIELD_LABELS
from .non_patient_services import (
    NonPatientRuleInvalid,
    non_patient_rule_add,
    non_patient_rule_delete,
    non_patient_rule_set_active,
    study_non_patient_set,
)
from .patient_size import HEIGHT_M_RANGE, UNITLESS_HEIGHT_CM_ABOVE, WEIGHT_KG_RANGE, SizeFileInvalid
from .patient_size_services import PatientSizeReport, patient_size_import
from .presentation import sig

# A size list of a year of a busy hospital is well under 1 MB.
MAX_CSV_BYTES = 5 * 1024 * 1024


class PatientSizeForm(forms.Form):
    file = forms.FileField(label="CSV file")
    overwrite = forms.BooleanField(required=False, label="Overwrite existing values")


class NonPatientRuleForm(forms.Form):
    field = forms.ChoiceField(choices=list(FIELD_LABELS.items()), label="Field")
    pattern = forms.CharField(max_length=200, label="Pattern")
    note = forms.CharField(max_length=200, required=False, label="Note")


def patient_size(request: HttpRequest) -> HttpResponse:
    report = None
    if request.method == "POST":
        form = PatientSizeForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_CSV_BYTES:
                form.add_error("file", f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB.")
            else:
                try:
                    report = patient_size_import(
                        csv_bytes=upload.read(),
                        overwrite=form.cleaned_data["overwrite"],
                        user=request.user.get_username(),
                    )
                except SizeFileInvalid as exc:
                    form.add_error("file", f"This file cannot be read: {exc}.")
    else:
        form = PatientSizeForm()
    return render(
        request,
        "rdsr/patient_size.html",
        {
            "form": form,
            "report": _report_view(report) if report else None,
            "height_range": HEIGHT_M_RANGE,
            "weight_range": WEIGHT_KG_RANGE,
            "unitless_cm_above": UNITLESS_HEIGHT_CM_ABOVE,
        },
    )


def _report_view(report: PatientSizeReport) -> dict:
    def rows(changes):
        return [
            {
                "line": c.line,
                "accession_number": c.accession_number,
                "study_id": c.study_id,
                "study_label": c.study_label,
                "what": "Height" if c.field == "height_m" else "Weight",
                "old": _value(c.field, c.old),
                "new": _value(c.field, c.new),
            }
            for c in changes
        ]

    return {
        "overwrite": report.overwrite,
        "rows_read": report.rows_read,
        "rows_matched": report.rows_matched,
        "studies_changed": report.studies_changed,
        "filled": rows(report.filled),
        "overwritten": rows(report.overwritten),
        "kept": rows(report.kept),
        "same": rows(report.same),
        "unmatched": [
            {
                "line": r.line,
                "accession_number": r.accession_number,
                "height": _value("height_m", r.height_m),
                "weight": _value("weight_kg", r.weight_kg),
            }
            for r in report.unmatched
        ],
        "invalid": report.invalid,
        "warnings": report.warnings,
    }


def _value(field: str, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{sig(value, 3)} m" if field == "height_m" else f"{sig(value, 3)} kg"


def non_patient_rules(request: HttpRequest) -> HttpResponse:
    form = NonPatientRuleForm(request.POST or None)
    if request.method == "POST":
        _staff_only(request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                change = non_patient_rule_add(
                    field=data["field"],
                    pattern=data["pattern"],
                    note=data["note"],
                    user=request.user.get_username(),
                )
            except NonPatientRuleInvalid as exc:
                form.add_error("pattern", str(exc))
            else:
                messages.success(request, f"Rule added: {change.rule}. {_changed(change.studies_changed)}")
                return redirect("non-patient-rules")
    return render(
        request,
        "rdsr/non_patient_rules.html",
        {
            "form": form,
            "rules": selectors.non_patient_rule_list(),
            "can_change": request.user.is_staff,
            "non_patient_count": selectors.non_patient_study_count(),
        },
    )


@require_POST
def non_patient_rule_change(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    action = request.POST.get("action")
    user = request.user.get_username()
    try:
        if action in ("enable", "disable"):
            change = non_patient_rule_set_active(rule_id=pk, active=action == "enable", user=user)
            done = f"Rule {action}d: {change.rule}."
        elif action == "delete":
            change = non_patient_rule_delete(rule_id=pk, user=user)
            done = "Rule deleted."
        else:
            messages.error(request, "Unknown action.")
            return redirect("non-patient-rules")
    except NonPatientRule.DoesNotExist:
        raise Http404("No such rule") from None
    messages.success(request, f"{done} {_changed(change.studies_changed)}")
    return redirect("non-patient-rules")


@require_POST
def study_non_patient(request: HttpRequest, pk: int) -> HttpResponse:
    decisions = {"non-patient": True, "patient": False, "rules": None}
    decision = request.POST.get("decision", "")
    if decision not in decisions:
        messages.error(request, "Unknown decision.")
        return redirect("study-detail", pk=pk)
    try:
        study = study_non_patient_set(
            study_id=pk,
            non_patient=decisions[decision],
            user=request.user.get_username(),
            reason=request.POST.get("reason", ""),
        )
    except Study.DoesNotExist:
        raise Http404("No such study") from None
    if decision == "rules":
        state = "not a patient" if study.non_patient else "a patient"
        messages.success(request, f"Back to the non-patient rules: this study is {state}.")
    else:
        messages.success(request, f"Marked as {'not a patient' if study.non_patient else 'a patient'}.")
    return redirect("study-detail", pk=pk)


def _staff_only(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff users can change the non-patient rules.")


def _changed(count: int) -> str:
    return f"{count} stud{'y' if count == 1 else 'ies'} changed."
