"""Processing through a real broker and a real worker process."""

import io
import shutil
import socket
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from pydicom import dcmread

from ingest.models import ReceivedObject
from ingest.services import received_object_store, spool_sweep
from ingest.tasks import sweep_spool
from tests.conftest import broker
from tests.ingest.conftest import ROOT, wait_until

Status = ReceivedObject.Status

DOSE_REPORTS = [
    "CT-RDSR-Siemens_Flash-TAP-SS.dcm",
    "DX-RDSR-Carestream_DRXEvolution.dcm",
    "MG-RDSR-Hologic_mix.dcm",
    "RF-RDSR-Siemens-Zee.dcm",
    "CT-ESR-GE_Optima.dcm",
]


def _send(path) -> ReceivedObject:
    data = path.read_bytes()
    ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID", "SOPClassUID"])
    return received_object_store(
        data=data, sop_instance_uid=ds.SOPInstanceUID, sop_class_uid=ds.SOPClassUID, origin="scp"
    ).received


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@broker
@pytest.mark.django_db(transaction=True)
def test_the_worker_processes_what_the_store_enqueues(celery_worker, corpus_file):
    celery_worker()

    for name in [*DOSE_REPORTS, "ESR_non-dose.dcm"]:
        _send(corpus_file(name))

    wait_until(
        lambda: not ReceivedObject.objects.filter(status__in=[Status.RECEIVED, Status.PROCESSING]).exists(),
        timeout=120,
        what="the worker to process all objects",
    )
    statuses = list(ReceivedObject.objects.values_list("status", flat=True))
    assert ReceivedObject.objects.filter(status=Status.DONE, study__isnull=False).count() == len(DOSE_REPORTS)
    assert ReceivedObject.objects.filter(status=Status.NOT_RELEVANT).count() == 1, statuses


@broker
@pytest.mark.django_db(transaction=True)
def test_the_sweep_task_runs_on_the_worker_and_requeues_what_was_never_queued(celery_worker, corpus_file):
    received = received_object_store(
        data=corpus_file("DX-RDSR-Canon_CXDI.dcm").read_bytes(),
        sop_instance_uid="1.2.826.0.1.3680043.10.543.77",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.88.67",
        origin="scp",
        enqueue=False,
    ).received
    ReceivedObject.objects.filter(pk=received.pk).update(
        received_at="2000-01-01T00:00:00Z", last_received_at="2000-01-01T00:00:00Z"
    )
    celery_worker()

    sweep_spool.apply_async(queue="ingest")

    wait_until(
        lambda: ReceivedObject.objects.filter(pk=received.pk, status=Status.DONE).exists(),
        timeout=120,
        what="the swept object to be processed",
    )


_STORE_WITH_BROKER_DOWN = """
import time
from pathlib import Path
from ingest.services import received_object_store
started = time.monotonic()
outcome = received_object_store(
    data=Path({path!r}).read_bytes(),
    sop_instance_uid="1.2.826.0.1.3680043.10.543.78",
    sop_class_uid="1.2.840.10008.5.1.4.1.1.88.67",
    origin="scp",
)
print("STATUS", outcome.received.status, "SECONDS", round(time.monotonic() - started, 3))
"""


@broker
@pytest.mark.django_db(transaction=True)
def test_an_object_received_while_the_broker_is_down_is_processed_once_it_is_back(
    celery_worker, child_env, corpus_file
):
    # The receiving process (the SCP in production) sees a broker that is down.
    down = child_env(CELERY_BROKER_URL=f"redis://127.0.0.1:{_closed_port()}/1")
    script = _STORE_WITH_BROKER_DOWN.format(path=str(corpus_file("RF-RDSR-Philips_Allura.dcm")))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=down,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(result.stdout.strip(), f"(process {time.monotonic() - started:.1f} s)")

    assert result.returncode == 0, result.stderr
    assert "STATUS received" in result.stdout
    assert "could not enqueue" in result.stderr
    received = ReceivedObject.objects.get()
    assert received.status == Status.RECEIVED
    with open(received.spool_path, "rb") as handle:
        assert handle.read() == corpus_file("RF-RDSR-Philips_Allura.dcm").read_bytes()

    celery_worker()
    assert spool_sweep(older_than_seconds=0) == 1

    wait_until(
        lambda: ReceivedObject.objects.filter(pk=received.pk, status=Status.DONE).exists(),
        timeout=120,
        what="the object to be processed after the broker came back",
    )


@broker
@pytest.mark.django_db(transaction=True)
def test_import_with_queue_leaves_processing_to_the_worker(celery_worker, corpus_file, tmp_path):
    for name in DOSE_REPORTS:
        shutil.copy(corpus_file(name), tmp_path / name)
    out = io.StringIO()

    call_command("import_dicom", "--queue", str(tmp_path), stdout=out, stderr=io.StringIO())

    assert out.getvalue().startswith(f"queued {len(DOSE_REPORTS)}, duplicate 0, failed 0")
    assert ReceivedObject.objects.filter(status=Status.RECEIVED).count() == len(DOSE_REPORTS)
    celery_worker()
    wait_until(
        lambda: ReceivedObject.objects.filter(status=Status.DONE).count() == len(DOSE_REPORTS),
        timeout=120,
        what="the worker to process the queued import",
    )
