import pytest
from django.urls import reverse

from ingest.models import ReceivedObject
from tests.web.factories import make_received, page_text

pytestmark = pytest.mark.django_db

Status = ReceivedObject.Status


def test_it_lists_failed_objects_by_default_with_class_name_and_error(logged_in):
    failed = make_received(
        status=Status.FAILED, error="unreadable object: no DICM prefix", calling_ae="CT_ROOM2", attempts=3
    )
    other = make_received(status=Status.NOT_RELEVANT, sop_class_uid="1.2.840.10008.5.1.4.1.1.2")
    text = page_text(logged_in.get(reverse("review-list")))
    assert failed.sop_instance_uid in text
    assert "X-Ray Radiation Dose SR Storage" in text
    assert "unreadable object: no DICM prefix" in text
    assert "CT_ROOM2" in text
    assert other.sop_instance_uid not in text


@pytest.mark.parametrize("status", [Status.NOT_RELEVANT, Status.RECEIVED, Status.PROCESSING])
def test_it_shows_other_statuses_on_request(logged_in, status):
    shown = make_received(status=status, sop_class_uid="1.2.840.10008.5.1.4.1.1.2")
    hidden = make_received(status=Status.FAILED)
    text = page_text(logged_in.get(reverse("review-list"), {"status": status}))
    assert shown.sop_instance_uid in text
    assert "CT Image Storage" in text
    assert hidden.sop_instance_uid not in text


def test_it_shows_an_unknown_sop_class_by_its_uid(logged_in):
    make_received(status=Status.FAILED, sop_class_uid="1.2.3.999.1")
    assert "1.2.3.999.1" in page_text(logged_in.get(reverse("review-list")))


def test_it_counts_objects_per_status(logged_in):
    for status, n in ((Status.FAILED, 2), (Status.DONE, 3), (Status.NOT_RELEVANT, 1)):
        for _ in range(n):
            make_received(status=status)
    text = page_text(logged_in.get(reverse("review-list")))
    assert (
        "2 Failed (needs review) 1 Not a dose object (kept) 0 Received, waiting for processing 0 Processing 3 Stored as dose record"
        in text
    )


def test_it_reprocesses_one_object_and_says_so(logged_in, django_capture_on_commit_callbacks):
    failed = make_received(status=Status.FAILED, error="boom")
    untouched = make_received(status=Status.FAILED, error="bang")
    with django_capture_on_commit_callbacks() as callbacks:
        response = logged_in.post(reverse("review-reprocess", args=[failed.pk]), follow=True)
    assert len(callbacks) == 1  # the object was handed to the queue once committed
    failed.refresh_from_db()
    untouched.refresh_from_db()
    assert failed.status == Status.RECEIVED and failed.error == ""
    assert untouched.status == Status.FAILED
    assert f"Object {failed.pk} was put back in the processing queue." in page_text(response)


def test_it_reprocesses_all_failed_objects_only(logged_in, django_capture_on_commit_callbacks):
    failed = [make_received(status=Status.FAILED, error="boom") for _ in range(3)]
    irrelevant = make_received(status=Status.NOT_RELEVANT)
    with django_capture_on_commit_callbacks() as callbacks:
        response = logged_in.post(reverse("review-reprocess-failed"), follow=True)
    assert len(callbacks) == 3
    assert {o.status for o in ReceivedObject.objects.filter(pk__in=[o.pk for o in failed])} == {
        Status.RECEIVED
    }
    irrelevant.refresh_from_db()
    assert irrelevant.status == Status.NOT_RELEVANT
    assert "3 failed objects put back in the processing queue." in page_text(response)


def test_it_refuses_to_reprocess_with_a_get(logged_in):
    failed = make_received(status=Status.FAILED, error="boom")
    assert logged_in.get(reverse("review-reprocess", args=[failed.pk])).status_code == 405
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


def test_it_processes_a_reprocessed_object_to_the_end_in_the_embedded_mode(
    logged_in, corpus_file, tmp_path, django_capture_on_commit_callbacks, settings
):
    # A real non-dose object in the spool: once re-processed it ends as NOT_RELEVANT, no longer FAILED.
    # Without a broker processing runs in-process; with one, tests/ingest covers the worker's side.
    settings.CELERY_BROKER_URL = None
    path = tmp_path / "non-dose.dcm"
    path.write_bytes(corpus_file("ESR_non-dose.dcm").read_bytes())
    failed = make_received(status=Status.FAILED, error="parser error: old bug", spool_path=str(path))
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(reverse("review-reprocess", args=[failed.pk]))
    failed.refresh_from_db()
    assert failed.status == Status.NOT_RELEVANT, failed.error
    assert failed.attempts == 1
