"""The MPE's reconciliation pages: the three worklists, reassigning a study, the orders.

Reads go through ris.selectors, the reassignment and its reversal through
ris.services (which write the audit events of the change). Reassigning is for
staff users until roles arrive (issue 5).
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audit.services import audit_record
from rdsr import selectors as rdsr_selectors
from rdsr.models import Patient, Study
from rdsr.presentation import local_time, person_name, sig

from . import selectors, services
from .forms import ReassignForm, ReverseForm
from .models import Order, StudyReassignment

ROWS_PER_PAGE = 50
TABS = {
    "orders": "Orders without dose data",
    "studies": "Studies without an order",
    "mismatch": "Patient differs from the RIS",
}


def _staff_only(view):
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Reassigning studies is for staff users.")
        return view(request, *args, **kwargs)

    return wrapped


# --- worklists ----------------------------------------------------------------------


def reconciliation(request: HttpRequest) -> HttpResponse:
    tab = request.GET.get("tab") if request.GET.get("tab") in TABS else "orders"
    lists = {
        "orders": selectors.orders_without_dose(),
        "studies": selectors.studies_without_order(),
        "mismatch": selectors.studies_with_patient_mismatch(),
    }
    page = Paginator(lists[tab], ROWS_PER_PAGE).get_page(request.GET.get("page"))
    rows = _mismatch_rows(list(page.object_list)) if tab == "mismatch" else [
        _order_row(o) if tab == "orders" else _study_row(o) for o in page.object_list
    ]
    # One event per page shown: its rows name many patients, so none is singled out.
    audit_record(action="view", object_type="worklist", object_id=tab, request=request,
                 summary=f"reconciliation: {TABS[tab].lower()}, page {page.number} ({len(rows)} rows)")
    return render(request, "ris/reconciliation.html", {
        "tab": tab,
        "tabs": [{"key": k, "label": label, "count": lists[k].count()} for k, label in TABS.items()],
        "page": page,
        "rows": rows,
        "grace_hours": settings.HL7_ORDER_GRACE_HOURS,
        "can_reassign": request.user.is_staff,
    })


def _patient(patient: Patient | None) -> dict[str, str]:
    if patient is None:
        return {"pk": "", "patient_id": "", "name": "", "birth_date": "", "sex": ""}
    return {
        "pk": str(patient.pk),
        "patient_id": patient.patient_id,
        "name": person_name(patient.name),
        "birth_date": patient.birth_date.isoformat() if patient.birth_date else "",
        "sex": patient.sex,
    }


def _order_row(order: Order) -> dict[str, Any]:
    return {
        "order": order,
        "patient": _patient(order.patient),
        "scheduled": local_time(order.scheduled_at)[:16],
    }


def _study_row(study: Study) -> dict[str, Any]:
    return {
        "study": study,
        "patient": _patient(study.patient),
        "time": study.study_time.strftime("%H:%M") if study.study_time else "",
        "device": str(study.device) if study.device else "",
        "dose": _dose(study),
    }


def _dose(study: Study) -> str:
    if study.dlp_total_mgycm is not None:
        return f"{sig(study.dlp_total_mgycm)} mGy·cm"
    if study.dap_total_gycm2 is not None:
        return f"{sig(study.dap_total_gycm2)} Gy·cm²"
    return ""


_COMPARED = (("patient_id", "Patient ID"), ("name", "Name"), ("birth_date", "Birth date"), ("sex", "Sex"))


def _mismatch_rows(studies: list[Study]) -> list[dict[str, Any]]:
    orders = selectors.study_orders_for(studies=studies)
    rows = []
    for study in studies:
        row = _study_row(study)
        order = orders.get(study.pk)
        ris = _patient(order.patient if order else None)
        row["order"] = order
        row["fields"] = [
            {"label": label, "dicom": row["patient"][key], "ris": ris[key],
             "differs": row["patient"][key] != ris[key]}
            for key, label in _COMPARED
        ]
        row["differs"] = [f["label"] for f in row["fields"] if f["differs"]]
        rows.append(row)
    return rows


# --- reassignment ---------------------------------------------------------------------


def _study_or_404(pk: int) -> Study:
    try:
        return rdsr_selectors.study_get(study_id=pk)
    except Study.DoesNotExist:
        raise Http404("No such study") from None


@_staff_only
def study_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    study = _study_or_404(pk)
    confirming = False
    if request.method == "POST":
        form = ReassignForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            if request.POST.get("confirmed") == "yes":
                try:
                    services.study_reassign(
                        study_id=study.pk,
                        patient_id=data["patient"].pk if data["patient"] else None,
                        order_id=data["order"].pk if data["order"] else None,
                        reason=data["reason"],
                        user=request.user,
                    )
                except ValueError as exc:
                    form.add_error(None, str(exc))
                else:
                    messages.success(request, "The study was reassigned; the change is in the audit trail.")
                    return redirect(study.get_absolute_url())
            else:
                # A second look before anything moves: the confirmation shows from and to.
                confirming = True
    else:
        form = ReassignForm(initial={"order": request.GET.get("order") or None})
    patient_q = request.GET.get("patient_q", "").strip()
    order_q = request.GET.get("order_q", "").strip()
    current_order = selectors.study_order(study=study)
    context = {
        "study": study,
        "row": _study_row(study),
        "current_order": current_order,
        "form": form,
        "confirming": confirming,
        "patient_q": patient_q,
        "order_q": order_q,
        "patients": [_patient(p) for p in selectors.patient_search(text=patient_q)],
        "orders": [_order_row(o) for o in selectors.order_search(text=order_q)],
        "chosen": _chosen(form),
        "history": [_reassignment_row(r) for r in selectors.study_reassignment_list(study=study)],
        "reversible": selectors.study_reassignment_reversible(study=study),
        "reverse_form": ReverseForm(),
    }
    if confirming:
        context["plan"] = _plan(study, current_order, form.cleaned_data)
    audit_record(action="view", object_type="study", object_id=study.pk, patient_pk=study.patient_id,
                 summary=f"reassignment page of study {study.study_instance_uid}", request=request)
    return render(request, "ris/study_reassign.html", context)


def _chosen(form: ReassignForm) -> dict[str, str]:
    """The pks chosen so far, so the radio buttons stay checked after an error."""
    value = form.data if form.is_bound else form.initial
    return {"patient": str(value.get("patient") or ""), "order": str(value.get("order") or "")}


def _plan(study: Study, current_order: Order | None, data: dict[str, Any]) -> dict[str, Any]:
    """What the reassignment will move, as the confirmation shows it."""
    to_order: Order | None = data["order"]
    to_patient: Patient | None = data["patient"] or (to_order.patient if to_order else None)
    return {
        "from_patient": _patient(study.patient),
        "to_patient": _patient(to_patient),
        "from_order": current_order,
        "to_order": to_order,
        "order_patient_differs": bool(to_order and to_patient and to_order.patient_id != to_patient.pk),
        "unlinks_order": bool(current_order and (to_order is None or to_order.pk != current_order.pk)),
        "reason": data["reason"],
    }


def _reassignment_row(done: StudyReassignment) -> dict[str, Any]:
    return {
        "done": done,
        "at": local_time(done.at),
        "from_patient": _patient(done.from_patient),
        "to_patient": _patient(done.to_patient),
    }


@require_POST
@_staff_only
def study_reassignment_reverse(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        done = StudyReassignment.objects.select_related("study").get(pk=pk)
    except StudyReassignment.DoesNotExist:
        raise Http404("No such reassignment") from None
    back = reverse("study-reassign", args=[done.study_id])
    form = ReverseForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["reason"]))
        return redirect(back)
    if selectors.study_reassignment_reversible(study=done.study) != done:
        messages.error(request, "Only the last reassignment of a study can be reversed, and only once.")
        return redirect(back)
    try:
        services.study_reassignment_reverse(reassignment_id=done.pk, reason=form.cleaned_data["reason"],
                                            user=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    messages.success(request, "The reassignment was reversed; the study is back with its former patient and order.")
    return redirect(done.study.get_absolute_url())


# --- orders ---------------------------------------------------------------------------------


def order_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    orders = selectors.order_search(text=q) if q else selectors.order_list()
    page = Paginator(orders, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [_order_row(o) for o in page.object_list]
    audit_record(action="view", object_type="order", object_id="list", request=request,
                 summary=f"order list{f' search {q!r}' if q else ''}, page {page.number} ({len(rows)} rows)")
    return render(request, "ris/order_list.html", {"page": page, "rows": rows, "q": q})


def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        order = selectors.order_get(order_id=pk)
    except Order.DoesNotExist:
        raise Http404("No such order") from None
    study = selectors.order_study(order=order)
    message = order.last_message
    audit_record(action="view", object_type="order", object_id=order.pk, patient_pk=order.patient_id,
                 request=request, summary=f"order page {order}")
    return render(request, "ris/order_detail.html", {
        "order": order,
        "row": _order_row(order),
        "study": study,
        "study_row": _study_row(study) if study else None,
        "message": message,
        "message_text": _message_text(message.raw) if message else "",
        "message_received": local_time(message.received_at) if message else "",
        "can_reassign": request.user.is_staff,
    })


def _message_text(raw: bytes) -> str:
    """The stored message, one segment a line (only to read: UTF-8 if it is, else Latin-1)."""
    raw = bytes(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r", "\n").strip()
