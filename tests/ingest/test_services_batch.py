"""Processing received objects in batches: per-object outcomes as one by one, retries idempotent."""

import io
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydicom import dcmread

from ingest.models import ReceivedObject
from ingest.services import received_object_process, received_objects_process
from rdsr.models import DoseObject, IrradiationEvent, Study
from rdsr.parse import parse_file
from rdsr.services import dose_records_store
from tests.ingest.conftest import receive
from tests.ingest.corpus_copies import event_uids

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

Status = ReceivedObject.Status
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "dicom"
DOSE_REPORTS = sorted(p.name for p in CORPUS.glob("*.dcm") if "RDSR" in p.name or "ESR-" in p.name)
# An edited copy of the Zee object with the same SOP Instance UID: one received object.
DOSE_REPORTS.remove("RF-RDSR-Siemens-Zee_adjusted.dcm")


def _truncated(data: bytes) -> bytes:
    ds = dcmread(io.BytesIO(data))
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".7"
    out = io.BytesIO()
    ds.save_as(out)
    whole = out.getvalue()
    return whole[: len(whole) // 2]


def _mixed_batch(corpus_file) -> tuple[list[ReceivedObject], ReceivedObject, ReceivedObject, ReceivedObject]:
    good = [receive(corpus_file(name).read_bytes()) for name in DOSE_REPORTS]
    broken = receive(_truncated(corpus_file("CT-RDSR-GEPixelMed.dcm").read_bytes()))
    not_dose = receive(corpus_file("ESR_non-dose.dcm").read_bytes())
    image = receive(corpus_file("DX-Im-GE_XR220-1.dcm").read_bytes())
    return good, broken, not_dose, image


def _outcome(received: ReceivedObject) -> tuple:
    received.refresh_from_db()
    study = received.study.study_instance_uid if received.study else None
    return (received.status, received.kind, received.error, received.warnings, study)


def test_a_batch_ends_each_object_as_processing_it_alone_does(spool, corpus_file):
    good, broken, not_dose, image = _mixed_batch(corpus_file)
    everything = [good[0], broken, *good[1:], not_dose, image]

    processed = received_objects_process(received_object_ids=[r.pk for r in everything])

    assert [r.pk for r in processed] == [r.pk for r in everything]
    together = [_outcome(r) for r in everything]
    assert all(r.attempts == 1 for r in processed)
    assert [o[0] for o in together].count(Status.DONE) == len(DOSE_REPORTS) + 1  # the reports and the image
    assert together[1][0] == Status.FAILED and together[1][2].startswith("unreadable object:")
    assert together[-2][0] == Status.NOT_RELEVANT and together[-1][:2] == (Status.DONE, "image-header")
    for name, received in zip(DOSE_REPORTS, good, strict=True):
        received.refresh_from_db()
        assert IrradiationEvent.objects.filter(study=received.study).count() >= len(
            event_uids(corpus_file(name))
        )

    # The same objects processed one by one, from scratch, end the same.
    Study.objects.all().delete()
    for received in everything:
        received_object_process(received_object_id=received.pk, force=True)
    assert [_outcome(r) for r in everything] == together


def test_a_retried_batch_skips_finished_objects_and_finishes_the_rest(spool, corpus_file):
    good, broken, not_dose, _ = _mixed_batch(corpus_file)
    received_objects_process(received_object_ids=[good[0].pk, not_dose.pk])

    processed = received_objects_process(received_object_ids=[good[0].pk, not_dose.pk, good[1].pk, broken.pk])

    attempts = {r.pk: r.attempts for r in processed}
    assert attempts == {good[0].pk: 1, not_dose.pk: 1, good[1].pk: 1, broken.pk: 1}
    assert [r.status for r in processed] == [Status.DONE, Status.NOT_RELEVANT, Status.DONE, Status.FAILED]


def test_a_batch_whose_worker_died_after_storing_is_finished_by_the_retry_without_duplicates(
    spool, corpus_file
):
    names = ["CT-RDSR-Siemens-Multi-1.dcm", "CT-RDSR-Siemens-Multi-2.dcm", "RF-RDSR-Siemens-Zee.dcm"]
    received = [receive(corpus_file(name).read_bytes()) for name in names]
    # What a worker killed between the store's commit and the finishing update
    # leaves: objects claimed (PROCESSING) whose records are already stored.
    ReceivedObject.objects.filter(pk__in=[r.pk for r in received]).update(
        status=Status.PROCESSING, attempts=1
    )
    dose_records_store(records=[parse_file(r.spool_path) for r in received])
    events = IrradiationEvent.objects.count()
    objects = DoseObject.objects.count()
    studies = {s.pk: (s.event_count, s.dlp_total_mgycm, s.dap_total_gycm2) for s in Study.objects.all()}

    processed = received_objects_process(received_object_ids=[r.pk for r in received])

    assert [r.status for r in processed] == [Status.DONE] * 3
    assert [r.attempts for r in processed] == [2, 2, 2]
    assert IrradiationEvent.objects.count() == events
    assert DoseObject.objects.count() == objects
    assert {
        s.pk: (s.event_count, s.dlp_total_mgycm, s.dap_total_gycm2) for s in Study.objects.all()
    } == studies


def test_a_batch_whose_worker_died_before_storing_is_stored_whole_by_the_retry(spool, corpus_file):
    received = [receive(corpus_file(name).read_bytes()) for name in DOSE_REPORTS[:4]]
    ReceivedObject.objects.filter(pk__in=[r.pk for r in received]).update(
        status=Status.PROCESSING, attempts=1
    )

    processed = received_objects_process(received_object_ids=[r.pk for r in received])

    assert [r.status for r in processed] == [Status.DONE] * 4
    assert all(r.study_id is not None for r in processed)


def test_processing_statements_per_object_shrink_with_the_batch(spool, corpus_file):
    names = ["CT-RDSR-GEPixelMed.dcm", "DX-RDSR-Canon_CXDI.dcm", "MG-RDSR-Hologic_2D.dcm", "RF-RDSR-GE.dcm"]
    received = [receive(corpus_file(name).read_bytes()) for name in names]

    with CaptureQueriesContext(connection) as one:
        received_object_process(received_object_id=received[0].pk)
    with CaptureQueriesContext(connection) as three:
        received_objects_process(received_object_ids=[r.pk for r in received[1:]])

    assert len(three) < 2 * len(one)
