"""The open-alert count shown in every page's header."""

from __future__ import annotations

from django.http import HttpRequest

from .selectors import alert_counts


def open_alerts(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    counts = alert_counts()
    return {"alerts_open_count": counts["open"], "alerts_new_count": counts["new"]}
