"""Every export is in the audit trail: who, what, which filters."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from exports.models import ExportJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff, settings):
    settings.CELERY_BROKER_URL = None
    client.force_login(staff)
    return client


def test_a_streamed_list_export_is_recorded_with_its_filters(world, staff_client, staff):
    response = staff_client.get(reverse("export-list", args=["studies", "csv"]), {"modality": "DX"})
    b"".join(response.streaming_content)
    event = AuditEvent.objects.get(action="export")
    assert event.username == staff.username and event.object_type == "studies export"
    assert event.details["filters"]["modality"] == "DX" and event.details["format"] == "csv"
    assert "1 rows" in event.summary


def test_a_national_job_is_recorded_when_asked_for_and_when_downloaded(
    world, staff_client, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("export-national"), {
            "template": "survey-exam@1", "format": "csv", "date_from": "2024-03-01", "date_to": "2024-03-31"})
    job = ExportJob.objects.get()
    staff_client.get(job.get_download_url())
    events = list(AuditEvent.objects.filter(action="export").order_by("id"))
    assert [e.object_type for e in events] == ["export job", "export job"]
    assert all(e.object_id == str(job.pk) and e.username == staff.username for e in events)
    assert events[0].details["template"] == "survey-exam" and events[0].details["template_version"] == "1"
    assert events[0].details["filters"]["date_from"] == "2024-03-01"
    assert "downloaded" in events[1].summary
