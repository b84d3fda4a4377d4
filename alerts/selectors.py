"""Reads of the alerts app: the inbox with its filters and counts, recipients, the digest's content."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from .models import Alert, AlertRecipient, AlertRule

OPEN = (Alert.Status.NEW, Alert.Status.ACKNOWLEDGED, Alert.Status.INVESTIGATING)
DRL_KINDS = (AlertRule.Kind.DRL_MULTIPLE, AlertRule.Kind.MEAN_OF_LAST)


def alert_counts() -> dict[str, int]:
    """Open alerts (new, acknowledged, under investigation) and the new ones among them: one query."""
    return Alert.objects.aggregate(
        open=Count("id", filter=Q(status__in=OPEN)),
        new=Count("id", filter=Q(status=Alert.Status.NEW)),
    )


def alert_status_counts() -> dict[str, int]:
    rows = Alert.objects.values("status").annotate(n=Count("id"))
    counts = {key: 0 for key in Alert.Status.values}
    counts.update({r["status"]: r["n"] for r in rows})
    return counts


def alert_list(
    *,
    status: str = "open",
    rule_id: int | None = None,
    kind: str = "",
    device_id: int | None = None,
    procedure_id: int | None = None,
    modality: str = "",
    assigned_to_id: int | None = None,
    urgent: bool | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[Alert]:
    """The inbox: status "open" (the default), "all" or one status; newest first."""
    alerts = Alert.objects.select_related("rule", "study", "device", "procedure", "patient", "assigned_to", "order")
    if status == "open":
        alerts = alerts.filter(status__in=OPEN)
    elif status and status != "all":
        alerts = alerts.filter(status=status)
    if rule_id:
        alerts = alerts.filter(rule_id=rule_id)
    if kind:
        alerts = alerts.filter(rule__kind=kind)
    if device_id:
        alerts = alerts.filter(device_id=device_id)
    if procedure_id:
        alerts = alerts.filter(procedure_id=procedure_id)
    if modality:
        alerts = alerts.filter(study__modality=modality)
    if assigned_to_id:
        alerts = alerts.filter(assigned_to_id=assigned_to_id)
    if urgent is not None:
        alerts = alerts.filter(urgent=urgent)
    if date_from:
        alerts = alerts.filter(exam_date__gte=date_from)
    if date_to:
        alerts = alerts.filter(exam_date__lte=date_to)
    return alerts.order_by("-first_seen_at", "-id")


def alert_get(*, alert_id: int) -> Alert:
    return Alert.objects.select_related("rule", "study", "device", "procedure", "patient", "assigned_to", "order").get(
        pk=alert_id
    )


def alerts_of_study(*, study_id: int) -> QuerySet[Alert]:
    return Alert.objects.filter(study_id=study_id).select_related("rule").order_by("-first_seen_at")


def alert_rule_list() -> QuerySet[AlertRule]:
    return AlertRule.objects.select_related("procedure", "device").annotate(
        open_alerts=Count("alerts", filter=Q(alerts__status__in=OPEN))
    ).order_by("-active", "kind", "name")


def recipients_urgent(*, alert: Alert) -> list[str]:
    """Addresses for an urgent alert: those of its rule (or of all rules) and its room (or of all rooms)."""
    rows = AlertRecipient.objects.filter(active=True, urgent=True).filter(
        Q(rule__isnull=True) | Q(rule_id=alert.rule_id)
    )
    rows = rows.filter(Q(device__isnull=True) | Q(device_id=alert.device_id))
    return sorted({r.email for r in rows})


def recipients_digest() -> list[str]:
    return sorted(set(AlertRecipient.objects.filter(active=True, digest=True).values_list("email", flat=True)))


@dataclass
class DigestGroup:
    room: str
    procedure: str
    alerts: list[Alert] = field(default_factory=list)


@dataclass
class Digest:
    day: dt.date
    exceedances: list[DigestGroup]
    open_alerts: list[DigestGroup]
    exceedance_count: int = 0
    open_count: int = 0

    @property
    def empty(self) -> bool:
        return not self.exceedance_count and not self.open_count


def _grouped(alerts: list[Alert]) -> list[DigestGroup]:
    groups: dict[tuple[str, str], DigestGroup] = defaultdict(lambda: DigestGroup("", ""))
    for alert in alerts:
        room = str(alert.device) if alert.device_id else "(no room)"
        procedure = alert.procedure.name if alert.procedure_id else (alert.context.get("procedure") or "(unmapped)")
        group = groups[(room, procedure)]
        group.room, group.procedure = room, procedure
        group.alerts.append(alert)
    return [groups[k] for k in sorted(groups)]


def digest_content(*, day: dt.date) -> Digest:
    """Yesterday's DRL exceedances (exams of `day`, any status) and every open alert, by room and procedure."""
    base = Alert.objects.select_related("rule", "study", "device", "procedure", "order")
    exceedances = list(base.filter(exam_date=day, rule__kind__in=DRL_KINDS).order_by("id"))
    open_alerts = list(base.filter(status__in=OPEN).order_by("id"))
    return Digest(
        day=day,
        exceedances=_grouped(exceedances),
        open_alerts=_grouped(open_alerts),
        exceedance_count=len(exceedances),
        open_count=len(open_alerts),
    )
