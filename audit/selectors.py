"""Reading the audit trail."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_event_list(
    *,
    username: str = "",
    action: str = "",
    patient_pk: int | None = None,
    object_type: str = "",
    object_id: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if username:
        events = events.filter(username=username)
    if action:
        events = events.filter(action=action)
    if patient_pk is not None:
        events = events.filter(patient_pk=patient_pk)
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if since:
        events = events.filter(at__date__gte=since)
    if until:
        events = events.filter(at__date__lte=until)
    return events
