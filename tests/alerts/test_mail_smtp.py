"""Urgent e-mail and the daily digest arrive at a real SMTP server on loopback (aiosmtpd)."""

import datetime as dt
import email
import socket
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from alerts.models import Alert, AlertRecipient, DigestRun
from alerts.notifications import digest_send, digest_send_if_due
from alerts.services import alerts_evaluate
from tests.alerts.conftest import ct_study

pytestmark = pytest.mark.django_db


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    inbox = _Inbox()
    with socket.socket() as probe:  # a free port: aiosmtpd checks its own readiness on the port it is given
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.DEFAULT_FROM_EMAIL = "dose@hospital.example"
    settings.ALERTS_BASE_URL = "https://dose.hospital.example"
    yield inbox
    controller.stop()


def _parts(message: Message) -> dict[str, str]:
    return {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()}


@pytest.fixture
def tasks_inline():
    """The notification task runs where it is enqueued (as without a broker), even on the services run."""
    from dosemgmt.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def test_an_urgent_alert_is_mailed_at_once_to_the_recipients_of_its_rule_and_room(
    smtp, only_rules, django_capture_on_commit_callbacks, tasks_inline
):
    [rule] = only_rules("de-ct-other-ctdivol")
    study = ct_study(name="CT chest", ctdivol=150.0, phantom="body32", protocol="Thorax spiral", weight_kg=91.0)
    AlertRecipient.objects.create(email="mpe@hospital.example", rule=rule)
    AlertRecipient.objects.create(email="ct-room@hospital.example", device=study.device)
    AlertRecipient.objects.create(email="other-room@hospital.example", device=ct_study(name=None).device)
    AlertRecipient.objects.create(email="digest-only@hospital.example", urgent=False)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate()
    [(to, message)] = smtp.messages
    alert = Alert.objects.get()
    assert sorted(to) == ["ct-room@hospital.example", "mpe@hospital.example"]
    assert message["From"] == "dose@hospital.example" and "Urgent: StrlSchV: other CT" in " ".join(message["Subject"].split())
    parts = _parts(message)
    text = parts["text/plain"]
    assert "CTDIvol 150 mGy above 80 mGy" in text and "Protocol: Thorax spiral" in text and "Weight: 91 kg" in text
    assert f"https://dose.hospital.example/alerts/{alert.pk}/" in text
    assert f'href="https://dose.hospital.example/alerts/{alert.pk}/"' in parts["text/html"]
    assert alert.notified_at is not None

    study.save()  # the same study again: the alert is not mailed twice
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate()
    assert len(smtp.messages) == 1


def test_the_daily_digest_lists_yesterdays_drl_exceedances_and_open_alerts_by_room_and_procedure(smtp, only_rules):
    only_rules("drl-2x-ct-dlp", "de-ct-other-ctdivol")
    day = dt.date(2024, 3, 1)
    ct_study(name="CT head", dlp=1700.0, date=day)
    ct_study(name="CT chest", ctdivol=150.0, dlp=250.0, phantom="body32", date=dt.date(2024, 2, 1))
    alerts_evaluate()
    AlertRecipient.objects.create(email="mpe@hospital.example", urgent=False)
    run = digest_send(day=day)
    [(to, message)] = smtp.messages
    assert to == ["mpe@hospital.example"] and "2024-03-01: 1 DRL exceedance(s), 2 open alert(s)" in " ".join(message["Subject"].split())
    text = _parts(message)["text/plain"]
    exceedances, open_part = text.split("Open alerts: 2")
    assert "CT head" in exceedances and "DLP 1 700 mGy·cm is 2.1 × DRL" in exceedances and "CT chest" not in exceedances
    assert "CT chest" in open_part and "CT head" in open_part and "https://dose.hospital.example/alerts/" in open_part
    assert "<h4>" in _parts(message)["text/html"]
    assert run.exceedances == 1 and run.open_alerts == 2
    assert digest_send(day=day) is None and len(smtp.messages) == 1  # once a day


def test_an_empty_digest_says_so_or_is_skipped_as_configured(smtp, settings):
    AlertRecipient.objects.create(email="mpe@hospital.example")
    digest_send(day=dt.date(2024, 3, 1))
    [(_to, message)] = smtp.messages
    assert "nothing to report" in " ".join(message["Subject"].split()) and "Nothing to report" in _parts(message)["text/plain"]
    settings.ALERTS_DIGEST_WHEN_EMPTY = "skip"
    run = digest_send(day=dt.date(2024, 3, 2))
    assert run.skipped and len(smtp.messages) == 1


def test_the_sweeper_sends_yesterdays_digest_once_after_the_configured_time(smtp, settings):
    settings.ALERTS_DIGEST_TIME = "07:30"
    AlertRecipient.objects.create(email="mpe@hospital.example")
    morning = timezone.make_aware(dt.datetime(2024, 3, 2, 7, 0))
    assert digest_send_if_due(now=morning) is None and not smtp.messages
    digest_send_if_due(now=morning + dt.timedelta(hours=1))
    digest_send_if_due(now=morning + dt.timedelta(hours=2))
    assert len(smtp.messages) == 1 and DigestRun.objects.get().day == dt.date(2024, 3, 1)
