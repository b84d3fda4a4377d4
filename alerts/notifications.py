"""E-mails: the immediate one for urgent alerts, and the daily digest (HTML and plain text).

Sent through Django's mail settings (EMAIL_HOST... in dosemgmt/settings.py);
links point at ALERTS_BASE_URL. Both are idempotent: an alert is mailed once
(notified_at), a digest once per day (DigestRun).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.services import audit_record

from .models import Alert, DigestRun
from .rules import fmt
from .selectors import alert_get, digest_content, recipients_digest, recipients_urgent

logger = logging.getLogger(__name__)


def _link(path: str) -> str:
    return f"{settings.ALERTS_BASE_URL}{path}"


def _send(*, subject: str, template: str, context: dict, to: list[str]) -> None:
    text = render_to_string(f"alerts/email/{template}.txt", context)
    html = render_to_string(f"alerts/email/{template}.html", context)
    mail = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=to)
    mail.attach_alternative(html, "text/html")
    mail.send()


def alert_notify_urgent(*, alert_id: int) -> int:
    """Mail an urgent alert to its rule's and room's recipients, once; returns how many were sent to."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert_id)
        if alert.notified_at is not None:
            return 0
        alert = alert_get(alert_id=alert_id)
        to = recipients_urgent(alert=alert)
        if not to:
            logger.warning("urgent alert %s has no recipients", alert_id)
            return 0
        context = {
            "alert": alert,
            "value": fmt(alert.value, alert.unit),
            "threshold": fmt(alert.threshold, alert.unit),
            "context_rows": context_rows(alert),
            "url": _link(alert.get_absolute_url()),
            "inbox_url": _link(reverse("alert-inbox")),
        }
        _send(subject=f"[dosemgmt] Urgent: {alert.rule.name}", template="urgent", context=context, to=to)
        Alert.objects.filter(pk=alert_id).update(notified_at=timezone.now())
        audit_record(
            action="export", object_type="alert", object_id=alert_id, username="system", source="alerts",
            patient_pk=alert.patient_id, summary=f"urgent alert #{alert_id} e-mailed to {len(to)} recipient(s)",
            details={"to": to},
        )
    return len(to)


CONTEXT_LABELS = [
    ("procedure", "Procedure", ""), ("protocol", "Protocol", ""), ("description", "Study description", ""),
    ("device", "Room", ""), ("series", "Series", ""), ("weight_kg", "Weight", "kg"), ("height_m", "Height", "m"),
    ("age_years", "Age", "years"), ("drl_source", "DRL", ""), ("multiple_of_drl", "Multiple of the DRL", "×"),
    ("protocol_median", "Protocol median", None), ("median_of_exams", "Median over", "exams"),
    ("reason_for_proceeding", "Reason for proceeding", ""), ("person", "Operator", ""),
    ("exams", "Exams", ""), ("window_days", "Window", "days"), ("previous_study", "Previous study", ""),
    ("accession_number", "Accession number", ""), ("scheduled_at", "Scheduled", ""),
]


def context_rows(alert: Alert) -> list[tuple[str, str]]:
    """The alert's context as (label, text) rows, units shown."""
    rows = [("Rule", alert.rule.name), ("Value", fmt(alert.value, alert.unit)),
            ("Threshold", fmt(alert.threshold, alert.unit))]
    for key, label, unit in CONTEXT_LABELS:
        value = alert.context.get(key)
        if value in (None, "", []):
            continue
        if unit is None:
            unit = alert.unit
        text = fmt(value, unit) if isinstance(value, int | float) and not isinstance(value, bool) else f"{value} {unit}".strip()
        rows.append((label, text))
    for change in alert.context.get("changes") or []:
        rows.append(("Changed", f"{change['protocol']}: {change['parameter']} {change['was']} → {change['now']}"))
    return rows


def _yesterday(now: dt.datetime) -> dt.date:
    return timezone.localtime(now).date() - dt.timedelta(days=1)


def digest_send(*, day: dt.date, force: bool = False) -> DigestRun | None:
    """The digest of `day` (DRL exceedances of its exams, open alerts), once; None when already sent."""
    if not force and DigestRun.objects.filter(day=day).exists():
        return None
    digest = digest_content(day=day)
    to = recipients_digest()
    skip = digest.empty and settings.ALERTS_DIGEST_WHEN_EMPTY == "skip"
    try:
        with transaction.atomic():
            run = DigestRun.objects.create(
                day=day, recipients=0 if skip else len(to), exceedances=digest.exceedance_count,
                open_alerts=digest.open_count, skipped=skip or not to,
            )
    except IntegrityError:
        if not force:
            return None  # another worker sent it
        run = DigestRun.objects.get(day=day)
    if skip or not to:
        return run
    context = {
        "digest": digest,
        "inbox_url": _link(reverse("alert-inbox")),
        "base_url": settings.ALERTS_BASE_URL,
    }
    for group in digest.exceedances + digest.open_alerts:
        for alert in group.alerts:
            alert.value_text, alert.threshold_text = fmt(alert.value, alert.unit), fmt(alert.threshold, alert.unit)
    subject = (
        f"[dosemgmt] Dose alerts {day:%Y-%m-%d}: nothing to report" if digest.empty else
        f"[dosemgmt] Dose alerts {day:%Y-%m-%d}: {digest.exceedance_count} DRL exceedance(s), "
        f"{digest.open_count} open alert(s)"
    )
    _send(subject=subject, template="digest", context=context, to=to)
    audit_record(action="export", object_type="alert-digest", object_id=day.isoformat(), username="system",
                 source="alerts", summary=f"daily digest of {day} sent to {len(to)} recipient(s)", details={"to": to})
    return run


def digest_send_if_due(*, now: dt.datetime) -> DigestRun | None:
    """For the embedded sweeper: yesterday's digest once the configured local time has passed."""
    from .services import digest_time

    if timezone.localtime(now).time() < digest_time():
        return None
    return digest_send(day=_yesterday(now))


def digest_send_yesterday(*, now: dt.datetime | None = None) -> DigestRun | None:
    return digest_send(day=_yesterday(now or timezone.now()))
