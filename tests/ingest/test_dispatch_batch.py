"""A batch enqueued as one unit of work: here, on in-process workers, or through a real broker."""

import io

import pytest
from pydicom import dcmread

from ingest import dispatch
from ingest.models import ReceivedObject
from ingest.services import received_object_store
from ingest.tasks import process_received_objects
from rdsr.models import Study
from tests.conftest import broker
from tests.ingest.conftest import wait_until

Status = ReceivedObject.Status

NAMES = [
    "CT-RDSR-GEPixelMed.dcm",
    "CT-RDSR-Siemens-Multi-1.dcm",
    "CT-RDSR-Siemens-Multi-2.dcm",
    "DX-RDSR-Canon_CXDI.dcm",
    "MG-RDSR-Hologic_2D.dcm",
    "ESR_non-dose.dcm",
]
EXPECTED = [Status.DONE] * 5 + [Status.NOT_RELEVANT]


def _receive_all(corpus_file) -> list[ReceivedObject]:
    received = []
    for name in NAMES:
        data = corpus_file(name).read_bytes()
        ds = dcmread(
            io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID", "SOPClassUID"]
        )
        received.append(
            received_object_store(
                data=data,
                sop_instance_uid=ds.SOPInstanceUID,
                sop_class_uid=ds.SOPClassUID,
                origin="scp",
                enqueue=False,
            ).received
        )
    return received


def _statuses(received) -> list[str]:
    return [ReceivedObject.objects.get(pk=r.pk).status for r in received]


def _all_finished() -> bool:
    return not ReceivedObject.objects.filter(status__in=[Status.RECEIVED, Status.PROCESSING]).exists()


@pytest.mark.django_db(transaction=True)
def test_without_workers_a_batch_is_processed_by_the_caller(spool, corpus_file, no_broker):
    received = _receive_all(corpus_file)

    dispatch.enqueue_processing_many([r.pk for r in received])

    assert _statuses(received) == EXPECTED
    # Multi-1 and Multi-2 are two objects of one study.
    assert Study.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_inprocess_workers_process_a_batch_and_survive_one_that_raises(spool, corpus_file, no_broker):
    dispatch.start_inprocess_workers(2)
    try:
        dispatch.enqueue_processing_many([987654321])  # no such object: nothing to do, no crash
        received = _receive_all(corpus_file)
        dispatch.enqueue_processing_many([r.pk for r in received[:3]])
        dispatch.enqueue_processing_many([r.pk for r in received[3:]])
        wait_until(_all_finished, timeout=60, what="the in-process workers to process both batches")
    finally:
        dispatch.stop_inprocess_workers()

    assert _statuses(received) == EXPECTED


@pytest.mark.django_db(transaction=True)
def test_the_batch_task_returns_how_each_object_ended(spool, corpus_file):
    received = _receive_all(corpus_file)

    counts = process_received_objects.apply(args=[[r.pk for r in received]]).get()

    assert counts == {Status.DONE: 5, Status.NOT_RELEVANT: 1}
    assert _statuses(received) == EXPECTED


@broker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_processes_a_batch_published_as_one_task(celery_worker, corpus_file):
    celery_worker()
    received = _receive_all(corpus_file)

    dispatch.enqueue_processing_many([r.pk for r in received])

    wait_until(_all_finished, timeout=120, what="the worker to process the batch")
    assert _statuses(received) == EXPECTED
    assert Study.objects.count() == 4


@broker
@pytest.mark.django_db(transaction=True)
def test_batches_enqueued_close_together_go_to_the_worker_as_one_task(
    celery_worker, corpus_file, monkeypatch
):
    # Long enough that only the explicit flush publishes.
    monkeypatch.setattr(dispatch, "COALESCE_SECONDS", 600)
    celery_worker()
    received = _receive_all(corpus_file)

    for r in received:
        dispatch.enqueue_processing_many([r.pk])
    dispatch.flush_pending()

    wait_until(_all_finished, timeout=120, what="the worker to process the gathered batch")
    assert _statuses(received) == EXPECTED
    # One task finishes its whole batch with one timestamp.
    assert (
        ReceivedObject.objects.filter(pk__in=[r.pk for r in received])
        .values("processed_at")
        .distinct()
        .count()
        == 1
    )


@broker
@pytest.mark.django_db(transaction=True)
def test_gathered_ids_are_published_without_a_flush_after_a_moment(celery_worker, corpus_file):
    celery_worker()
    received = _receive_all(corpus_file)

    dispatch.enqueue_processing_many([r.pk for r in received])

    wait_until(_all_finished, timeout=120, what="the gathered batch to be published and processed")
    assert _statuses(received) == EXPECTED
