"""The Celery app. Without CELERY_BROKER_URL every task runs in-process."""

import os

from celery import Celery
from celery.schedules import crontab
from django.conf import settings
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dosemgmt.settings")

app = Celery("dosemgmt")
app.config_from_object("django.conf:settings", namespace="CELERY")
# One queue per kind of work, so a backlog of OCR or reports never delays
# the ingest of dose objects.
app.conf.task_queues = (Queue("ingest"), Queue("ocr"), Queue("reports"))
app.autodiscover_tasks()
# Procedure mapping of studies new or changed since they were mapped (drl.tasks).
app.conf.beat_schedule = {
    **app.conf.beat_schedule,
    "drl-mapping-refresh": {
        "task": "drl.tasks.drl_mapping_refresh",
        "schedule": 300.0,
        "options": {"queue": "reports"},
    },
}
# Alerts (alerts.tasks): new and changed studies evaluated every minute, after their
# procedure mapping; the daily digest at DOSEMGMT_DIGEST_TIME, local time.
_digest_hour, _, _digest_minute = settings.ALERTS_DIGEST_TIME.partition(":")
app.conf.beat_schedule = {
    **app.conf.beat_schedule,
    "alerts-evaluate": {
        "task": "alerts.tasks.alerts_evaluate_new",
        "schedule": 60.0,
        "options": {"queue": "reports"},
    },
    "alerts-digest": {
        "task": "alerts.tasks.alerts_send_digest",
        "schedule": crontab(hour=int(_digest_hour), minute=int(_digest_minute or 0)),
        "options": {"queue": "reports"},
    },
}
