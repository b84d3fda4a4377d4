"""A worker killed mid-stream: every object ends DONE, nothing lost, nothing doubled."""

import io

import pytest
import redis
from django.conf import settings
from pydicom import dcmread

from ingest.models import ReceivedObject
from ingest.services import received_object_store, spool_sweep
from rdsr.models import IrradiationEvent, Study
from tests.conftest import broker
from tests.ingest.conftest import wait_until
from tests.ingest.corpus_copies import event_uids, make_copies

Status = ReceivedObject.Status
SINGLES = 194
GROUPS = 2  # three cumulative objects each


def _send(path) -> None:
    data = path.read_bytes()
    ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID", "SOPClassUID"])
    received_object_store(
        data=data,
        sop_instance_uid=ds.SOPInstanceUID,
        sop_class_uid=ds.SOPClassUID,
        origin="scp",
        enqueue=True,
    )


def _count(**filters) -> int:
    return ReceivedObject.objects.filter(**filters).count()


def _kill_mid_task(celery_worker, *, at_least_done: int) -> list[int]:
    """Start a worker, SIGKILL it while it is processing; return the ids it held.

    Killing between two tasks would prove little, so try again (a few times)
    until the kill caught an object in PROCESSING.
    """
    for _ in range(5):
        worker = celery_worker()
        wait_until(
            lambda n=at_least_done: _count(status=Status.DONE) >= n and _count(status=Status.PROCESSING) > 0,
            timeout=180,
            what=f"{at_least_done} objects done and one being processed",
            interval=0.02,
        )
        worker.kill()
        # The worker is dead: whatever is PROCESSING now stays so.
        held = list(ReceivedObject.objects.filter(status=Status.PROCESSING).values_list("pk", flat=True))
        if held:
            return held
        at_least_done = _count(status=Status.DONE) + 5
    pytest.fail("never caught the worker in the middle of a task")


@broker
@pytest.mark.django_db(transaction=True)
def test_killing_the_worker_mid_stream_loses_nothing_and_doubles_nothing(celery_worker, corpus_dir, tmp_path):
    paths = make_copies(corpus_dir / "dicom", tmp_path / "copies", singles=SINGLES, groups=GROUPS)
    total = len(paths)
    expected_events = len(set().union(*(event_uids(p) for p in paths)))
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for path in paths:
        _send(path)  # queued on the broker; no worker yet

    held = _kill_mid_task(celery_worker, at_least_done=20)
    done_at_kill = _count(status=Status.DONE)
    assert done_at_kill < total

    celery_worker()
    # The restarted worker drains the queue, but what the killed worker held
    # (never acknowledged) stays unfinished...
    last_done = [-1]

    def drained() -> bool:
        done, before = _count(status=Status.DONE), last_done[0]
        last_done[0] = done
        return queue.llen("ingest") == 0 and done == before

    wait_until(drained, timeout=300, what="the restarted worker to drain the queue", interval=2)
    assert set(ReceivedObject.objects.filter(pk__in=held).values_list("status", flat=True)) == {
        Status.PROCESSING
    }
    # ... until the sweeper (run by beat in production) puts it back.
    swept = spool_sweep(older_than_seconds=0)
    assert swept >= len(held)
    wait_until(
        lambda: _count(status=Status.DONE) == total, timeout=300, what=f"all {total} objects to be done"
    )

    print(f"done at kill {done_at_kill}/{total}, held by the killed worker {len(held)}, swept {swept}")
    assert Study.objects.count() == SINGLES + GROUPS
    assert IrradiationEvent.objects.count() == expected_events
    assert sum(Study.objects.values_list("event_count", flat=True)) == expected_events
    assert not ReceivedObject.objects.filter(study__isnull=True).exists()
    assert all(n >= 2 for n in ReceivedObject.objects.filter(pk__in=held).values_list("attempts", flat=True))
