"""Celery tasks of the alerts app; beat entries in dosemgmt/celery.py."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from drl.services import mapping_refresh

from .notifications import alert_notify_urgent as _notify_urgent
from .notifications import digest_send_yesterday
from .services import alerts_evaluate, alerts_evaluate_orders


@shared_task(acks_late=True)
def alerts_evaluate_new() -> int:
    """Every minute: map new studies to procedures, then evaluate new and changed studies and orders."""
    close_old_connections()
    try:
        mapping_refresh()
        result = alerts_evaluate()
        result += alerts_evaluate_orders()
        return len(result.created)
    finally:
        close_old_connections()


@shared_task(bind=True, acks_late=True)
def alert_notify_urgent(self, alert_id: int) -> int:
    """Enqueued once the new alert is committed; without a broker it runs inline in the
    evaluating thread, whose connection is not ours to close."""
    if self.request.is_eager:
        return _notify_urgent(alert_id=alert_id)
    close_old_connections()
    try:
        return _notify_urgent(alert_id=alert_id)
    finally:
        close_old_connections()


@shared_task(acks_late=True)
def alerts_send_digest() -> bool:
    """At DOSEMGMT_DIGEST_TIME: yesterday's digest (once a day, whoever comes first)."""
    close_old_connections()
    try:
        return digest_send_yesterday() is not None
    finally:
        close_old_connections()
