"""A dose screen through ingest: parsed, left PROCESSING, read on the ocr queue, stored."""

import os
import subprocess

import numpy as np
import pytest

from ingest.models import ReceivedObject
from ingest.services import received_object_process, spool_sweep
from rdsr.models import Device, IrradiationEvent
from tests.conftest import broker
from tests.ingest.conftest import CELERY, ROOT, receive, wait_until
from tests.ocr.screens import dataset_bytes, one

Status = ReceivedObject.Status


@pytest.mark.django_db
def test_a_received_dose_screen_is_read_by_ocr_and_stored(spool, no_broker, django_capture_on_commit_callbacks):
    g = one("ge-dose-report", seed=8)
    received = receive(g.data)

    with django_capture_on_commit_callbacks(execute=True):
        received_object_process(received_object_id=received.pk)

    received.refresh_from_db()
    assert received.status == Status.DONE, received.error
    assert received.kind == "ocr"
    study = received.study
    assert study.source_kind == "ocr"
    events = list(IrradiationEvent.objects.filter(study=study).order_by("position"))
    assert len(events) == len(g.screen.events)
    assert all("confidence" in e.details for e in events if e.dlp_mgycm is not None)


@pytest.mark.django_db
def test_the_devices_template_is_used(spool, no_broker, django_capture_on_commit_callbacks):
    g = one("siemens-patient-protocol", seed=9, device={"DeviceSerialNumber": "S-1"})
    Device.objects.create(identity_key=g.dataset.get("DeviceSerialNumber") and "siemens|somatom definition as|"
                          f"{g.dataset.StationName.lower()}|s-1", ocr_template="siemens-patient-protocol")
    received = receive(g.data)

    with django_capture_on_commit_callbacks(execute=True):
        received_object_process(received_object_id=received.pk)

    received.refresh_from_db()
    assert any("chosen for the device" in w for w in received.warnings), received.warnings


@pytest.mark.django_db
def test_an_unreadable_screen_fails_with_a_clear_error_in_the_review_list(
    spool, no_broker, django_capture_on_commit_callbacks, client, django_user_model
):
    ds = one(seed=2).dataset
    ds.PixelData = np.zeros((ds.Rows, ds.Columns), dtype=np.uint8).tobytes()
    received = receive(dataset_bytes(ds))
    other = receive(one("philips-dose-info", seed=3).data)

    with django_capture_on_commit_callbacks(execute=True):
        received_object_process(received_object_id=received.pk)
        received_object_process(received_object_id=other.pk)

    received.refresh_from_db()
    other.refresh_from_db()
    assert received.status == Status.FAILED
    assert "unreadable dose screen" in received.error and "blank" in received.error
    assert other.status == Status.DONE
    client.force_login(django_user_model.objects.create_user("mpe"))
    assert "blank" in client.get("/review/").content.decode()


@pytest.mark.django_db
def test_the_sweeper_sends_a_screen_left_waiting_for_ocr_back_to_ocr(spool, no_broker,
                                                                      django_capture_on_commit_callbacks):
    received = receive(one("philips-dose-info", seed=4).data)
    received_object_process(received_object_id=received.pk)  # OCR never ran: no on_commit callbacks
    received.refresh_from_db()
    assert (received.status, received.kind) == (Status.PROCESSING, "ocr")

    with django_capture_on_commit_callbacks(execute=True):
        assert spool_sweep(older_than_seconds=0) == 1

    received.refresh_from_db()
    assert received.status == Status.DONE


@broker
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_ocr_queue_reads_a_screen_sent_in(child_env, settings, tmp_path):
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(CELERY), "-A", "dosemgmt", "worker", "-Q", "ingest,ocr", "-c", "2", "--without-gossip",
         "--without-mingle", "-n", f"ocr-test-{os.getpid()}@%h"],
        cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        g = one("ge-dose-report", seed=8)
        received = receive(g.data, enqueue=True)
        wait_until(lambda: ReceivedObject.objects.filter(pk=received.pk, status=Status.DONE).exists(),
                   timeout=120, what=f"the worker to OCR the screen (log {tmp_path / 'worker.log'})")
        received.refresh_from_db()
        assert received.study.events.filter(dlp_mgycm__isnull=False).exists()
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
