"""The review queue: objects that need a person, and putting them back in the queue."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from pydicom.uid import UID

from . import selectors
from .models import ReceivedObject
from .services import received_object_reprocess

Status = ReceivedObject.Status

OBJECTS_PER_PAGE = 100
# Statuses the review page can show; DONE objects are reached from their study.
REVIEWABLE = [Status.FAILED, Status.NOT_RELEVANT, Status.RECEIVED, Status.PROCESSING]


def sop_class_name(uid: str) -> str:
    """pydicom's name for a SOP class, or the UID itself when pydicom does not know it."""
    if not uid:
        return ""
    try:
        return UID(uid).name
    except Exception:
        return uid


def review_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", Status.FAILED)
    if status not in REVIEWABLE:
        status = Status.FAILED
    page = Paginator(selectors.received_object_list(statuses=[status]), OBJECTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    counts = selectors.received_object_status_counts()
    rows = [
        {
            "object": obj,
            "class_name": sop_class_name(obj.sop_class_uid),
            "received": timezone.localtime(obj.received_at).strftime("%Y-%m-%d %H:%M:%S"),
        }
        for obj in page.object_list
    ]
    # MPPS steps are not received objects; the failed ones are listed beside them.
    mpps_failed = [
        {
            "step": step,
            "received": timezone.localtime(step.last_message_at).strftime("%Y-%m-%d %H:%M:%S"),
        }
        for step in (selectors.mpps_step_failed_list() if status == Status.FAILED else [])
    ]
    # HL7 messages that failed or were rejected: listed beside them too, with their error.
    hl7_failed = [
        {
            "message": message,
            "received": timezone.localtime(message.last_received_at).strftime("%Y-%m-%d %H:%M:%S"),
        }
        for message in (selectors.hl7_message_review_list() if status == Status.FAILED else [])
    ]
    tabs = [
        {"status": s.value, "label": s.label, "count": counts[s.value], "active": s == status}
        for s in REVIEWABLE
    ]
    return render(
        request,
        "ingest/review_list.html",
        {
            "status": status,
            "status_label": Status(status).label,
            "tabs": tabs,
            "counts": [(s.label, counts[s.value], s.value) for s in [*REVIEWABLE, Status.DONE]],
            "failed_count": counts[Status.FAILED],
            "page": page,
            "rows": rows,
            "mpps_failed": mpps_failed,
            "hl7_failed": hl7_failed,
        },
    )


@require_POST
def review_reprocess(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        received_object_reprocess(received_object_id=pk)
    except ReceivedObject.DoesNotExist:
        messages.error(request, "That object no longer exists.")
    else:
        messages.success(request, f"Object {pk} was put back in the processing queue.")
    return _back_to_review(request)


@require_POST
def review_reprocess_failed(request: HttpRequest) -> HttpResponse:
    ids = selectors.received_object_failed_ids()
    for pk in ids:
        received_object_reprocess(received_object_id=pk)
    if ids:
        messages.success(
            request,
            f"{len(ids)} failed object{'s' if len(ids) != 1 else ''} put back in the processing queue.",
        )
    else:
        messages.info(request, "There were no failed objects to re-process.")
    return _back_to_review(request)


def _back_to_review(request: HttpRequest) -> HttpResponseRedirect:
    status = request.POST.get("status", "")
    url = reverse("review-list")
    if status in REVIEWABLE and status != Status.FAILED:
        url += f"?status={status}"
    return redirect(url)
