"""Study list and study detail: read through selectors, shaped by rdsr.presentation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from audit.services import audit_record
from ingest import selectors as ingest_selectors
from rdsr.mpps_links import mpps_steps_for_study
from rdsr.record import SOURCE_PRECEDENCE

from . import presentation, selectors
from .models import Study

STUDIES_PER_PAGE = 50
# The study list's "show" filter: value -> Study.non_patient wanted (None: all).
_SHOW = {"": None, "patients": False, "non-patients": True}


class StudyFilterForm(forms.Form):
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    modality = forms.ChoiceField(required=False, label="Modality")
    device = forms.ModelChoiceField(queryset=None, required=False, label="Device", empty_label="All devices")
    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(
            attrs={"placeholder": "Accession, description or patient ID", "type": "search"}
        ),
    )
    show = forms.ChoiceField(
        required=False,
        label="Show",
        choices=[("", "All studies"), ("patients", "Patients only"), ("non-patients", "Not a patient only")],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["modality"].choices = [("", "All modalities")] + [
            (m, m) for m in selectors.study_modalities()
        ]
        self.fields["device"].queryset = selectors.device_list()


def study_list(request: HttpRequest) -> HttpResponse:
    form = StudyFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # invalid fields are reported and left out of the filter
        data = form.cleaned_data
        device = data.get("device")
        filters = {
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "modality": data.get("modality") or "",
            "device_id": device.pk if device else None,
            "text": data.get("q") or "",
            "non_patient": _SHOW.get(data.get("show") or ""),
        }
    page = Paginator(selectors.study_list(**filters), STUDIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "rdsr/study_list.html",
        {
            "form": form,
            "page": page,
            "rows": [presentation.study_row(s) for s in page.object_list],
            "filtered": bool(filters),
        },
    )


def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        study = selectors.study_get(study_id=pk)
    except Study.DoesNotExist:
        raise Http404("No such study") from None
    events = list(selectors.study_events(study=study))
    planes = list(selectors.study_planes(study=study))
    columns = (
        presentation.CT_COLUMNS if presentation.is_ct(study, events) else presentation.PROJECTION_COLUMNS
    )
    stated = study.stated_totals if isinstance(study.stated_totals, dict) else {}
    sources = _sources(study)
    context = {
        "study": study,
        "patient": study.patient,
        "patient_name": presentation.person_name(study.patient.name) if study.patient else "",
        "device": study.device,
        "age": presentation.sig(study.age_years),
        "weight": presentation.sig(study.weight_kg),
        "height": presentation.sig(study.height_m),
        "totals": presentation.study_totals(study),
        "stated": presentation.stated_rows(stated),
        "stated_source": presentation.stated_source(stated),
        "planes": presentation.plane_table(planes, stated.get("planes") or []) if planes else None,
        "events": presentation.event_table(columns, events),
        "event_count": len(events),
        "sources": sources,
        "source_summary": _source_summary(study, sources),
        "mpps_steps": mpps_steps_for_study(study_id=study.pk),
    }
    audit_record(action="view", object_type="study", object_id=study.pk, patient_pk=study.patient_id,
                 summary=f"study page {study.study_date or ''} {study.modality} {study.study_description}".strip(),
                 request=request)
    return render(request, "rdsr/study_detail.html", context)


def _sources(study: Study) -> list[dict[str, Any]]:
    """Objects the study was built from: what arrived, joined with what each stated."""
    dose_objects = {o.sop_instance_uid: o for o in selectors.study_dose_objects(study=study)}
    sources = []
    for received in ingest_selectors.received_object_list_for_study(study_id=study.pk):
        dose_object = dose_objects.pop(received.sop_instance_uid, None)
        sources.append(_source(received.sop_instance_uid, received=received, dose_object=dose_object,
                               in_use_kind=study.source_kind))
    for dose_object in dose_objects.values():
        sources.append(_source(dose_object.sop_instance_uid, received=None, dose_object=dose_object,
                               in_use_kind=study.source_kind))
    return sources


def _source_summary(study: Study, sources: list[dict[str, Any]]) -> dict[str, Any]:
    """Which kind of source the totals come from, and which other kinds exist but are not added."""
    kinds: dict[str, int] = {}
    for source in sources:
        if source["kind"] in SOURCE_PRECEDENCE:
            kinds[source["kind"]] = kinds.get(source["kind"], 0) + 1
    in_use = study.source_kind
    others = [{"kind": k, "count": n} for k, n in sorted(kinds.items(), key=lambda kv: SOURCE_PRECEDENCE[kv[0]])
              if SOURCE_PRECEDENCE[k] != SOURCE_PRECEDENCE.get(in_use)]
    return {"in_use": in_use, "in_use_count": sum(n for k, n in kinds.items()
                                                   if SOURCE_PRECEDENCE[k] == SOURCE_PRECEDENCE.get(in_use)),
            "others": others}


def _source(sop_instance_uid: str, *, received, dose_object, in_use_kind: str = "") -> dict[str, Any]:
    kind = (dose_object.kind if dose_object else "") or (received.kind if received else "")
    rank = SOURCE_PRECEDENCE.get(kind)
    return {
        "in_use": rank is not None and rank == SOURCE_PRECEDENCE.get(in_use_kind),
        "outranked": rank is not None and in_use_kind in SOURCE_PRECEDENCE and rank > SOURCE_PRECEDENCE[in_use_kind],
        "sop_instance_uid": sop_instance_uid,
        "kind": kind,
        "dose_information_source": dose_object.dose_information_source if dose_object else "",
        "events": dose_object.event_count if dose_object else None,
        "received": received,
        "received_at": presentation.local_time(received.received_at) if received else "",
    }
