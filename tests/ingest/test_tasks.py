
import pytest

from ingest import dispatch
from ingest.models import ReceivedObject
from ingest.tasks import BACKOFF_MAX_SECONDS, process_received_object, retry_countdown
from tests.ingest.conftest import receive, wait_until

Status = ReceivedObject.Status


def test_retries_back_off_exponentially_with_jitter_up_to_a_ceiling():
    first = [retry_countdown(0) for _ in range(200)]
    fifth = [retry_countdown(4) for _ in range(200)]
    late = [retry_countdown(20) for _ in range(200)]

    assert 1 <= min(first) and max(first) <= 2
    assert 16 <= min(fifth) and max(fifth) <= 32
    assert len(set(fifth)) > 100
    assert max(late) <= BACKOFF_MAX_SECONDS


# transaction=True: the task closes stale connections, as a long-lived worker must.
@pytest.mark.django_db(transaction=True)
def test_the_task_processes_an_object_by_id(spool, corpus_file):
    received = receive(corpus_file("CT-RDSR-Toshiba_DoseCheck.dcm").read_bytes(), enqueue=False, origin="scp")

    status = process_received_object.apply(args=[received.pk]).get()

    assert status == Status.DONE
    received.refresh_from_db()
    assert received.study is not None


@pytest.mark.django_db(transaction=True)
def test_inprocess_workers_process_objects_and_survive_a_task_that_raises(spool, corpus_file, no_broker):
    dispatch.start_inprocess_workers(2)
    try:
        dispatch.enqueue_processing(987654321)  # no such object: the task raises in its thread
        names = [
            "CT-RDSR-GEPixelMed.dcm",
            "DX-RDSR-Canon_CXDI.dcm",
            "MG-RDSR-Hologic_2D.dcm",
            "ESR_non-dose.dcm",
        ]
        received = [receive(corpus_file(name).read_bytes(), enqueue=True, origin="scp") for name in names]

        wait_until(
            lambda: (
                not ReceivedObject.objects.filter(status__in=[Status.RECEIVED, Status.PROCESSING]).exists()
            ),
            timeout=60,
            what="the in-process workers to process every object",
        )
    finally:
        dispatch.stop_inprocess_workers()

    statuses = [ReceivedObject.objects.get(pk=r.pk).status for r in received]
    assert statuses == [Status.DONE, Status.DONE, Status.DONE, Status.NOT_RELEVANT]
