"""Writing the audit trail. Callers are services and views; nothing here decides what is allowed."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from audit.models import AuditEvent


def audit_record(
    *,
    action: str,
    object_type: str,
    object_id: object = "",
    summary: str,
    user=None,
    username: str = "",
    source: str = "",
    patient_pk: int | None = None,
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event. With a request, its user and address are taken from it.

    Services that know only a username (as a string) pass `username`.
    """
    if request is not None and user is None:
        user = request.user if request.user.is_authenticated else None
    if action not in AuditEvent.Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    return AuditEvent.objects.create(
        user=user,
        username=(user.get_username() if user is not None else username)[:150],
        source=source[:50],
        action=action,
        object_type=object_type[:50],
        object_id=str(object_id)[:64],
        patient_pk=patient_pk,
        summary=summary[:300],
        details=details or {},
        remote_address=_address(request),
    )


def _address(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))[:64]
