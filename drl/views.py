"""Pages of the drl app: catalogue, mapping rules with preview, inbox, history, DRL sets.

Any logged-in user sees them; changes are for staff users until roles arrive
(issue 5). Views parse the form, call one service, and say what it did.
"""

from __future__ import annotations

import datetime
import re

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from audit.services import audit_record
from rdsr.selectors import device_list

from . import selectors
from .mapping import FIELD_LABELS, LEVELS, TEST_LABELS, RuleInvalid
from .models import MODALITY_CHOICES, QUANTITIES, DrlSet, MappingRule, StandardProcedure
from .services import (
    InboxName,
    NothingToCompute,
    ProcedureInvalid,
    drl_local_compute,
    mapping_bulk_apply,
    mapping_rule_add,
    mapping_rule_change,
    mapping_rule_delete,
    mapping_rule_delete_preview,
    mapping_rule_preview,
    standard_procedure_save,
)

CONDITION_ROWS = 4
HISTORY_PER_PAGE = 100


def _staff_only(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff users can change procedures, mapping rules and DRL sets.")


def _remapped(result) -> str:
    return (
        f"{result.studies_changed} stud{'y' if result.studies_changed == 1 else 'ies'} and "
        f"{result.events_changed} CT event{'' if result.events_changed == 1 else 's'} remapped."
    )


# ---------------------------------------------------------------- catalogue


class ProcedureForm(forms.Form):
    name = forms.CharField(max_length=120)
    modality = forms.ChoiceField(choices=MODALITY_CHOICES)
    body_region = forms.CharField(max_length=80, required=False)
    radlex_playbook_id = forms.RegexField(
        regex=re.compile(r"^\s*(RPID\d+)?\s*$", re.IGNORECASE),
        max_length=20,
        required=False,
        label="RadLex Playbook ID",
        error_messages={"invalid": "A RadLex Playbook ID looks like RPID2492."},
    )
    active = forms.BooleanField(required=False, initial=True)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


def procedure_list(request: HttpRequest) -> HttpResponse:
    form = ProcedureForm(request.POST or None)
    if request.method == "POST":
        _staff_only(request)
        if form.is_valid():
            try:
                procedure = standard_procedure_save(**form.cleaned_data, username=request.user.get_username())
            except ProcedureInvalid as exc:
                form.add_error("name", str(exc))
            else:
                messages.success(request, f"Procedure added: {procedure}.")
                return redirect("drl-procedures")
    return render(
        request,
        "drl/procedures.html",
        {
            "procedures": selectors.procedure_list(),
            "form": form,
            "can_change": request.user.is_staff,
        },
    )


def procedure_edit(request: HttpRequest, pk: int) -> HttpResponse:
    procedure = get_object_or_404(StandardProcedure, pk=pk)
    initial = {f: getattr(procedure, f) for f in ProcedureForm.base_fields}
    form = ProcedureForm(request.POST or None, initial=initial)
    if request.method == "POST":
        _staff_only(request)
        if form.is_valid():
            try:
                standard_procedure_save(
                    procedure_id=pk, **form.cleaned_data, username=request.user.get_username()
                )
            except ProcedureInvalid as exc:
                form.add_error("name", str(exc))
            else:
                messages.success(request, "Procedure saved.")
                return redirect("drl-procedures")
    return render(
        request,
        "drl/procedure_edit.html",
        {
            "procedure": procedure,
            "form": form,
            "can_change": request.user.is_staff,
        },
    )


# ---------------------------------------------------------------- rules


class RuleForm(forms.Form):
    priority = forms.IntegerField(
        min_value=0, max_value=100000, initial=100, help_text="Lower is tried first"
    )
    level = forms.ChoiceField(choices=list(LEVELS.items()))
    procedure = forms.ModelChoiceField(queryset=None)
    modality = forms.ChoiceField(choices=[("", "Any modality")] + MODALITY_CHOICES, required=False)
    device = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any device")
    active = forms.BooleanField(required=False, initial=True)
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["procedure"].queryset = selectors.procedure_list(active_only=True)
        self.fields["device"].queryset = device_list()
        for i in range(CONDITION_ROWS):
            self.fields[f"field_{i}"] = forms.ChoiceField(
                choices=[("", "—")] + list(FIELD_LABELS.items()), required=False, label="Field"
            )
            self.fields[f"test_{i}"] = forms.ChoiceField(
                choices=list(TEST_LABELS.items()), required=False, label="Test"
            )
            self.fields[f"value_{i}"] = forms.CharField(max_length=200, required=False, label="Value")

    def condition_rows(self):
        return [(self[f"field_{i}"], self[f"test_{i}"], self[f"value_{i}"]) for i in range(CONDITION_ROWS)]

    def clean(self):
        data = super().clean()
        data["conditions"] = [
            {
                "field": data[f"field_{i}"],
                "test": data.get(f"test_{i}") or "contains",
                "value": data[f"value_{i}"],
            }
            for i in range(CONDITION_ROWS)
            if data.get(f"field_{i}") or (data.get(f"value_{i}") or "").strip()
        ]
        return data

    def service_args(self) -> dict:
        data = self.cleaned_data
        return {
            "procedure_id": data["procedure"].pk,
            "level": data["level"],
            "conditions": data["conditions"],
            "modality": data["modality"] or "",
            "device_id": data["device"].pk if data["device"] else None,
            "priority": data["priority"],
            "active": data["active"],
        }


def _rule_initial(rule: MappingRule) -> dict:
    initial = {
        "priority": rule.priority,
        "level": rule.level,
        "procedure": rule.procedure_id,
        "modality": rule.modality,
        "device": rule.device_id,
        "active": rule.active,
        "note": rule.note,
    }
    for i, c in enumerate((rule.conditions or [])[:CONDITION_ROWS]):
        initial |= {f"field_{i}": c.get("field"), f"test_{i}": c.get("test"), f"value_{i}": c.get("value")}
    return initial


def rule_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "drl/rules.html",
        {
            "rules": selectors.mapping_rule_list(),
            "counts": selectors.mapping_counts(),
            "can_change": request.user.is_staff,
        },
    )


def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(MappingRule, pk=pk) if pk is not None else None
    form = RuleForm(request.POST or None, initial=_rule_initial(rule) if rule else {"level": "study"})
    preview = None
    if request.method == "POST":
        _staff_only(request)
        if form.is_valid():
            args = form.service_args()
            try:
                if request.POST.get("action") == "preview":
                    preview = mapping_rule_preview(rule_id=pk, **args)
                else:
                    user = request.user.get_username()
                    note = form.cleaned_data["note"]
                    if rule is None:
                        change = mapping_rule_add(**args, note=note, username=user)
                    else:
                        change = mapping_rule_change(rule_id=pk, **args, note=note, username=user)
                    messages.success(request, f"Rule saved: {change.rule}. {_remapped(change.result)}")
                    return redirect("drl-rules")
            except RuleInvalid as exc:
                form.add_error(None, str(exc))
    return render(request, "drl/rule_edit.html", {"rule": rule, "form": form, "preview": preview})


def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    rule = get_object_or_404(MappingRule.objects.select_related("procedure"), pk=pk)
    if request.method == "POST":
        change = mapping_rule_delete(rule_id=pk, username=request.user.get_username())
        messages.success(request, f"Rule deleted. {_remapped(change.result)}")
        return redirect("drl-rules")
    return render(
        request, "drl/rule_delete.html", {"rule": rule, "preview": mapping_rule_delete_preview(rule_id=pk)}
    )


# ---------------------------------------------------------------- inbox and history


def inbox(request: HttpRequest) -> HttpResponse:
    level = request.GET.get("level") if request.GET.get("level") in LEVELS else "study"
    modality = request.GET.get("modality", "")
    if request.method == "POST":
        _staff_only(request)
        level = request.POST.get("level") if request.POST.get("level") in LEVELS else "study"
        names = []
        for key in request.POST.getlist("name"):
            modality_, _sep, rest = key.partition("|")
            field, _sep, name = rest.partition("|")
            if name:
                names.append(InboxName(modality_, field, name))
        try:
            procedure_id = int(request.POST.get("procedure", ""))
            change = mapping_bulk_apply(
                names=names, procedure_id=procedure_id, level=level, username=request.user.get_username()
            )
        except ValueError as exc:  # RuleInvalid too
            messages.error(request, f"Nothing applied: {exc}")
        else:
            messages.success(
                request,
                f"{len(names)} name{'' if len(names) == 1 else 's'} mapped by new rules. "
                f"{_remapped(change.result)}",
            )
        return redirect(f"{request.path}?level={level}")
    rows = [
        {**vars(row), "field_label": FIELD_LABELS.get(row.field, "")}
        for row in selectors.unmapped_names(level=level, modality=modality)
    ]
    return render(
        request,
        "drl/inbox.html",
        {
            "rows": rows,
            "level": level,
            "levels": LEVELS,
            "modality": modality,
            "modalities": MODALITY_CHOICES,
            "procedures": selectors.procedure_list(active_only=True),
            "can_change": request.user.is_staff,
            "counts": selectors.mapping_counts(),
        },
    )


def history(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.mapping_history(), HISTORY_PER_PAGE).get_page(request.GET.get("page"))
    audit_record(
        action="view",
        object_type="mapping history",
        summary=f"Mapping history page {page.number}",
        request=request,
    )
    return render(request, "drl/history.html", {"page": page})


# ---------------------------------------------------------------- DRL sets


def drl_sets(request: HttpRequest) -> HttpResponse:
    return render(
        request, "drl/sets.html", {"sets": selectors.drl_set_list(), "can_change": request.user.is_staff}
    )


def drl_set_detail(request: HttpRequest, pk: int) -> HttpResponse:
    drl_set = get_object_or_404(DrlSet, pk=pk)
    return render(
        request,
        "drl/set_detail.html",
        {
            "drl_set": drl_set,
            "values": selectors.drl_set_values(drl_set=drl_set),
            "quantities": QUANTITIES,
        },
    )


class ComputeForm(forms.Form):
    name = forms.CharField(max_length=200, initial="Local DRLs")
    date_from = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), label="From"
    )
    date_to = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), label="To")
    min_per_room = forms.IntegerField(
        min_value=1, max_value=10000, initial=20, label="Minimum exams per room"
    )
    standard_size_only = forms.BooleanField(
        required=False, initial=True, label="Only 50–90 kg where the weight is known"
    )
    devices = forms.ModelMultipleChoiceField(queryset=None, required=False, label="Rooms (none: all)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["devices"].queryset = device_list()

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


def drl_compute(request: HttpRequest) -> HttpResponse:
    today = datetime.date.today()
    form = ComputeForm(
        request.POST or None, initial={"date_from": today.replace(year=today.year - 1), "date_to": today}
    )
    if request.method == "POST":
        _staff_only(request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                computed = drl_local_compute(
                    name=data["name"],
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                    min_per_room=data["min_per_room"],
                    standard_size_only=data["standard_size_only"],
                    device_ids=[d.pk for d in data["devices"]] or None,
                    username=request.user.get_username(),
                )
            except NothingToCompute as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Local set saved with {computed.drl_set.values.count()} values.")
                for line in computed.skipped[:20]:
                    messages.warning(request, f"Skipped {line}.")
                return redirect("drl-set-detail", pk=computed.drl_set.pk)
    return render(request, "drl/compute.html", {"form": form, "can_change": request.user.is_staff})
