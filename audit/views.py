"""The audit trail page: who saw and changed what (staff only until roles arrive)."""

from __future__ import annotations

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import audit_event_list

EVENTS_PER_PAGE = 100


class AuditFilterForm(forms.Form):
    username = forms.CharField(required=False, label="User")
    action = forms.ChoiceField(required=False, choices=[("", "any")] + list(AuditEvent.Action.choices))
    patient = forms.IntegerField(required=False, label="Patient (record number)")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


@staff_member_required
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = audit_event_list(
        username=filters.get("username") or "",
        action=filters.get("action") or "",
        patient_pk=filters.get("patient"),
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {"event": e, "at": timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S")} for e in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/audit_list.html",
                  {"form": form, "rows": rows, "page": page, "query": query.urlencode()})
