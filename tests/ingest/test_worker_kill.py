"""A worker killed mid-stream: every object ends DONE, nothing lost, nothing doubled."""

import io

import pytest
import redis
from django.conf import settings
from django.utils import timezone
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


@broker
@pytest.mark.django_db(transaction=True)
def test_killing_the_worker_mid_stream_loses_nothing_and_doubles_nothing(celery_worker, corpus_dir, tmp_path):
    paths = make_copies(corpus_dir / "dicom", tmp_path / "copies", singles=SINGLES, groups=GROUPS)
    total = len(paths)
    expected_events = len(set().union(*(event_uids(p) for p in paths)))
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    first = celery_worker()
    for path in paths:
        _send(path)
    wait_until(lambda: _count(status=Status.DONE) >= 20, timeout=180, what="the first 20 objects to be done")
    first.kill()
    done_at_kill = _count(status=Status.DONE)
    assert done_at_kill < total, "the worker finished before it was killed: the test proved nothing"

    restarted_at = timezone.now()
    celery_worker()
    # The restarted worker drains the queue; what the killed worker held
    # (running or prefetched, never acknowledged) stays unfinished...
    wait_until(
        lambda: (
            queue.llen("ingest") == 0
            and not ReceivedObject.objects.filter(
                status=Status.PROCESSING, processing_started_at__gte=restarted_at
            ).exists()
        ),
        timeout=300,
        what="the restarted worker to drain the queue",
    )
    stranded = total - _count(status=Status.DONE)
    # ... until the sweeper (run by beat in production) puts it back.
    swept = spool_sweep(older_than_seconds=0)
    assert swept == stranded
    wait_until(
        lambda: _count(status=Status.DONE) == total, timeout=300, what=f"all {total} objects to be done"
    )

    print(f"done at kill {done_at_kill}/{total}, stranded {stranded}, swept {swept}")
    assert _count(status=Status.DONE) == total
    assert Study.objects.count() == SINGLES + GROUPS
    assert IrradiationEvent.objects.count() == expected_events
    assert sum(Study.objects.values_list("event_count", flat=True)) == expected_events
    assert not ReceivedObject.objects.filter(study__isnull=True).exists()
