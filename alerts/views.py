"""Pages of the alerts app: the MPE's inbox, one alert, the rules.

Any logged-in user reads them; changes are for staff users until roles exist.
Views parse the form, call one service, and say what it did.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import selectors
from .forms import AssignForm, BulkForm, CommentForm, FilterForm, TransitionForm
from .models import Alert
from .notifications import context_rows
from .rules import fmt
from .services import (
    TRANSITIONS,
    TransitionInvalid,
    alert_assign,
    alert_comment,
    alert_transition,
    alerts_bulk,
)

PER_PAGE = 50


def _staff_only(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Only staff users can change alerts.")
        return view(request, *args, **kwargs)

    return wrapper


def _row(alert: Alert) -> dict:
    return {"alert": alert, "value": fmt(alert.value, alert.unit), "threshold": fmt(alert.threshold, alert.unit)}


def inbox(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    alerts = selectors.alert_list(
        status=filters.get("status") or "open",
        rule_id=filters["rule"].pk if filters.get("rule") else None,
        kind=filters.get("kind") or "",
        device_id=filters["device"].pk if filters.get("device") else None,
        procedure_id=filters["procedure"].pk if filters.get("procedure") else None,
        modality=filters.get("modality") or "",
        assigned_to_id=filters["assigned_to"].pk if filters.get("assigned_to") else None,
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = Paginator(alerts, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "alerts/inbox.html", {
        "form": form,
        "page": page,
        "rows": [_row(a) for a in page.object_list],
        "status_counts": selectors.alert_status_counts(),
        "statuses": Alert.Status.choices,
        "current_status": filters.get("status") or "open",
        "bulk": BulkForm(),
        "can_change": request.user.is_staff,
    })


def detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        alert = selectors.alert_get(alert_id=pk)
    except Alert.DoesNotExist as exc:
        raise Http404("No such alert.") from exc
    allowed = TRANSITIONS.get(alert.status, set())
    return render(request, "alerts/detail.html", {
        "alert": alert,
        "rows": context_rows(alert),
        "notes": alert.notes.all(),
        "next_statuses": [(s, label) for s, label in Alert.Status.choices if s in allowed],
        "justifications": Alert.Justification.choices,
        "assign_form": AssignForm(initial={"assignee": alert.assigned_to_id}),
        "comment_form": CommentForm(),
        "can_change": request.user.is_staff,
    })


@require_POST
@_staff_only
def transition(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a status.")
        return redirect(alert)
    try:
        alert_transition(
            alert_id=alert.pk, status=form.cleaned_data["status"], username=request.user.get_username(),
            justification=form.cleaned_data["justification"], comment=form.cleaned_data["comment"], request=request,
        )
    except TransitionInvalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Alert #{alert.pk} is now {Alert.Status(form.cleaned_data['status']).label.lower()}.")
    return redirect(alert)


@require_POST
@_staff_only
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    form = AssignForm(request.POST)
    if form.is_valid():
        assignee = form.cleaned_data["assignee"]
        alert_assign(alert_id=alert.pk, assignee_id=assignee.pk if assignee else None,
                     username=request.user.get_username(), request=request)
        messages.success(request, f"Alert #{alert.pk} assigned to {assignee or 'nobody'}.")
    return redirect(alert)


@require_POST
@_staff_only
def comment(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        alert_comment(alert_id=alert.pk, text=form.cleaned_data["text"], username=request.user.get_username(),
                      request=request)
        messages.success(request, "Comment added.")
    else:
        messages.error(request, "An empty comment was not added.")
    return redirect(alert)


@require_POST
@_staff_only
def bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    back = request.POST.get("next") or ""
    if not form.is_valid():
        messages.error(request, "Choose at least one alert and an action.")
    else:
        data = form.cleaned_data
        result = alerts_bulk(
            alert_ids=[a.pk for a in data["alert"]], action=data["action"], username=request.user.get_username(),
            justification=data["justification"], comment=data["comment"],
            assignee_id=data["assignee"].pk if data["assignee"] else None, request=request,
        )
        if result.done:
            messages.success(request, f"{len(result.done)} alert{'s' if len(result.done) != 1 else ''} changed.")
        for refusal in result.refused:
            messages.error(request, refusal)
    return redirect(reverse("alert-inbox") + (back if back.startswith("?") else ""))


def rule_list(request: HttpRequest) -> HttpResponse:
    return render(request, "alerts/rules.html", {"rules": selectors.alert_rule_list()})
