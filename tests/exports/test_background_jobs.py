"""Large exports run as background jobs with progress and a download link (embedded: no broker)."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from exports.models import ExportJob
from exports.services import export_files_cleanup

from .conftest import csv_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff, no_broker):
    client.force_login(staff)
    return client


@pytest.fixture
def no_broker(settings):
    settings.CELERY_BROKER_URL = None


def test_a_list_larger_than_the_direct_limit_becomes_a_job_that_finishes_with_a_download(
    world, staff_client, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_DIRECT_MAX_ROWS = 3
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.get(reverse("export-list", args=["events", "csv"]), {"modality": "CT"})
    assert response.status_code == 302 and response["Location"] == reverse("export-jobs")
    job = ExportJob.objects.get()
    assert (job.kind, job.format, job.status) == ("events", "csv", "done")
    assert job.rows_total == job.rows_written == 9 and job.progress_percent == 100
    page = staff_client.get(reverse("export-jobs")).content.decode()
    assert job.get_download_url() in page and 'http-equiv="refresh"' not in page
    download = staff_client.get(job.get_download_url())
    rows = csv_rows(b"".join(download.streaming_content))
    assert len(rows) == 10 and "CTDIvol (mGy)" in rows[0]
    assert (settings.EXPORT_DIR / job.file_name).is_file()


def test_a_national_export_is_checked_then_written_as_xlsx(world, staff_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("export-national"), {
            "template": "summary-procedure-room@1", "format": "xlsx",
            "date_from": "2024-03-01", "date_to": "2024-03-31"})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert (job.template_id, job.template_version, job.status) == ("summary-procedure-room", "1", "done")
    assert job.rows_written == 6  # exams read: the six mapped patient exams of March
    assert job.file_name.endswith(".xlsx")


def test_a_running_job_shows_its_progress_and_the_page_refreshes_itself(staff, staff_client):
    ExportJob.objects.create(user=staff, username=staff.username, kind="events", status="running",
                             rows_total=200_000, rows_written=50_000)
    page = staff_client.get(reverse("export-jobs")).content.decode()
    assert 'http-equiv="refresh"' in page
    assert "50000 / 200000" in page and 'value="25"' in page


def test_a_job_is_shown_only_to_who_asked_for_it(staff, staff_client):
    ExportJob.objects.create(username="someone-else", kind="studies", status="done", file_name="x.csv")
    assert "x.csv" not in staff_client.get(reverse("export-jobs")).content.decode()


def test_old_files_are_removed_and_their_jobs_kept_as_history(world, staff, settings):
    settings.EXPORT_DIR.mkdir(parents=True)
    (settings.EXPORT_DIR / "old.csv").write_text("x")
    (settings.EXPORT_DIR / "new.csv").write_text("x")
    now = timezone.now()
    old = ExportJob.objects.create(username="boss", kind="studies", status="done", file_name="old.csv",
                                   finished_at=now - datetime.timedelta(days=settings.EXPORT_KEEP_DAYS + 1))
    new = ExportJob.objects.create(username="boss", kind="studies", status="done", file_name="new.csv",
                                   finished_at=now - datetime.timedelta(days=1))
    assert export_files_cleanup(now=now) == 1
    old.refresh_from_db(), new.refresh_from_db()
    assert (old.status, old.file_name) == ("expired", "")
    assert new.status == "done" and (settings.EXPORT_DIR / "new.csv").is_file()
    assert not (settings.EXPORT_DIR / "old.csv").exists()


def test_a_removed_or_unfinished_file_is_not_found(staff, staff_client):
    job = ExportJob.objects.create(username=staff.username, kind="studies", status="queued")
    assert staff_client.get(job.get_download_url()).status_code == 404
