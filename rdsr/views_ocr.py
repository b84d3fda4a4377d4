"""The OCR review queue: doubtful values read from dose screens, confirmed or corrected beside the image."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from . import ocr_review, ocr_selectors
from .models import DoseObject


@require_GET
def ocr_review_list(request: HttpRequest) -> HttpResponse:
    rows = ocr_selectors.ocr_objects_in_review()
    return render(
        request,
        "rdsr/ocr_review_list.html",
        {"rows": rows, "values_in_review": sum(r.in_review for r in rows)},
    )


@require_http_methods(["GET", "POST"])
def ocr_review_object(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method == "POST":
        try:
            done = _decide(request, pk)
        except ocr_review.ReviewRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, done)
        return redirect("ocr-review-object", pk=pk)
    try:
        review = ocr_selectors.ocr_object_review(dose_object_id=pk)
    except DoseObject.DoesNotExist:
        raise Http404("No dose screen read by OCR with this id") from None
    return render(request, "rdsr/ocr_review_object.html", {"review": review})


@require_GET
def ocr_review_screen(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        png = ocr_selectors.ocr_screen_png(dose_object_id=pk)
    except DoseObject.DoesNotExist:
        raise Http404("No dose screen read by OCR with this id") from None
    except ocr_selectors.ScreenImageUnavailable as exc:
        # Plain text: the page shows the same reason beside a missing image.
        return HttpResponse(str(exc), status=404, content_type="text/plain; charset=utf-8")
    response = HttpResponse(png, content_type="image/png")
    # Patient data: a shared cache must not keep it.
    response["Cache-Control"] = "private, max-age=300"
    return response


def _decide(request: HttpRequest, pk: int) -> str:
    """Parse one form of the page and call its service; the message for the MPE."""
    data, user = request.POST, request.user.get_username()
    action = data.get("action", "")
    field = data.get("field", "")
    if action == "template":
        device = ocr_review.device_ocr_template_set(
            device_id=_int(data.get("device_id")),
            template=data.get("template", ""),
            user=user,
            request=request,
        )
        return f"OCR template of {device}: {device.ocr_template or 'automatic'} (applies to screens read from now on)."
    if field == ocr_review.TOTAL_FIELD:
        if action == "confirm":
            decision = ocr_review.ocr_total_confirm(dose_object_id=pk, user=user, request=request)
        elif action == "correct":
            decision = ocr_review.ocr_total_correct(
                dose_object_id=pk, value=data.get("value", ""), user=user, request=request
            )
        else:
            raise ocr_review.ReviewRefused("Unknown action.")
    elif action == "confirm":
        decision = ocr_review.ocr_value_confirm(
            event_id=_int(data.get("event_id")), field=field, user=user, request=request
        )
    elif action == "correct":
        decision = ocr_review.ocr_value_correct(
            event_id=_int(data.get("event_id")),
            field=field,
            value=data.get("value", ""),
            user=user,
            request=request,
        )
    else:
        raise ocr_review.ReviewRefused("Unknown action.")
    label, unit = ocr_review.LABELS[decision.field]
    return (
        f"{label} {decision.action}: {decision.decided_value:g} {unit}".strip()
        if isinstance(decision.decided_value, float)
        else f"{label} {decision.action}: {decision.decided_value}"
    )


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise ocr_review.ReviewRefused("The form names no valid row.") from None
