"""Beat runs the evaluation every minute and the digest at the configured local time."""

from celery.schedules import crontab
from django.conf import settings

from dosemgmt.celery import app


def test_beat_evaluates_new_studies_every_minute_on_the_reports_queue():
    entry = app.conf.beat_schedule["alerts-evaluate"]
    assert entry["task"] == "alerts.tasks.alerts_evaluate_new" and entry["schedule"] == 60.0
    assert entry["options"]["queue"] == "reports"


def test_beat_sends_the_digest_daily_at_the_configured_local_time():
    entry = app.conf.beat_schedule["alerts-digest"]
    hour, minute = (int(x) for x in settings.ALERTS_DIGEST_TIME.split(":"))
    assert entry["task"] == "alerts.tasks.alerts_send_digest"
    assert entry["schedule"] == crontab(hour=hour, minute=minute)
    assert app.conf.timezone == settings.TIME_ZONE


def test_the_alert_tasks_are_registered():
    app.loader.import_default_modules()
    for name in ("alerts.tasks.alerts_evaluate_new", "alerts.tasks.alerts_send_digest", "alerts.tasks.alert_notify_urgent"):
        assert name in app.tasks
