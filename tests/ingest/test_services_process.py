import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import timezone
from pydicom import dcmread

from ingest.models import ReceivedObject
from ingest.services import (
    received_object_process,
    received_object_reprocess,
    spool_sweep,
)
from rdsr.models import IrradiationEvent, Study
from tests.ingest.conftest import receive
from tests.ingest.corpus_copies import event_uids

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

Status = ReceivedObject.Status
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "dicom"
DOSE_REPORTS = sorted(p.name for p in CORPUS.glob("*.dcm") if ("RDSR" in p.name or "ESR" in p.name))
DOSE_REPORTS.remove("ESR_non-dose.dcm")
IMAGES = sorted(p.name for p in CORPUS.glob("*.dcm") if "-Im-" in p.name or "-SC-" in p.name)


def _receive_and_process(data: bytes) -> ReceivedObject:
    return received_object_process(received_object_id=receive(data).pk)


def _without_content(data: bytes) -> bytes:
    ds = dcmread(io.BytesIO(data))
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    ds.ContentSequence = []
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def test_the_corpus_lists_are_what_these_tests_expect():
    assert len(DOSE_REPORTS) == 20
    assert len(IMAGES) == 9


@pytest.mark.parametrize("name", DOSE_REPORTS)
def test_every_dose_report_of_the_corpus_ends_done_with_its_study(spool, corpus_file, name):
    received = _receive_and_process(corpus_file(name).read_bytes())

    received.refresh_from_db()
    assert received.status == Status.DONE, received.error
    assert received.kind in ("rdsr", "enhanced-rdsr", "esr")
    assert received.error == ""
    assert received.attempts == 1
    assert received.processed_at is not None
    assert received.study is not None
    assert IrradiationEvent.objects.filter(study=received.study).count() == len(event_uids(corpus_file(name)))


def test_an_sr_that_is_no_dose_report_is_kept_as_not_relevant(spool, corpus_file):
    received = _receive_and_process(corpus_file("ESR_non-dose.dcm").read_bytes())

    assert received.status == Status.NOT_RELEVANT
    assert received.kind == "not-dose"
    assert received.warnings
    assert received.study is None
    assert not Study.objects.exists()


@pytest.mark.parametrize("name", IMAGES)
def test_image_objects_are_never_failures(spool, corpus_file, name):
    received = _receive_and_process(corpus_file(name).read_bytes())

    assert received.status in (Status.NOT_RELEVANT, Status.DONE), received.error
    assert received.kind


def test_broken_objects_fail_clearly_and_harm_none_of_the_others(spool, corpus_file):
    rdsr = corpus_file("CT-RDSR-Siemens_Flash-TAP-SS.dcm").read_bytes()
    truncated = _receive_and_process(_truncated(corpus_file("RF-RDSR-Siemens-Zee.dcm").read_bytes()))
    empty = _receive_and_process(_without_content(corpus_file("DX-RDSR-Canon_CXDI.dcm").read_bytes()))
    good = _receive_and_process(rdsr)

    assert truncated.status == Status.FAILED
    assert truncated.error.startswith("unreadable object: ")
    assert "\n" not in truncated.error
    assert empty.status == Status.FAILED
    assert empty.error
    assert good.status == Status.DONE
    assert Study.objects.count() == 1


def test_a_dose_report_without_a_study_uid_fails_as_not_storable(spool, corpus_file):
    ds = dcmread(corpus_file("DX-RDSR-Canon_CXDI.dcm"))
    del ds.StudyInstanceUID
    out = io.BytesIO()
    ds.save_as(out)

    received = _receive_and_process(out.getvalue())

    assert received.status == Status.FAILED
    assert "RecordNotStorable" in received.error
    assert not Study.objects.exists()


def test_a_failed_object_is_done_after_its_file_is_fixed_and_it_is_reprocessed(
    spool, corpus_file, django_capture_on_commit_callbacks
):
    full = corpus_file("RF-RDSR-Siemens-Zee.dcm").read_bytes()
    received = _receive_and_process(_truncated(full))
    assert received.status == Status.FAILED
    Path(received.spool_path).write_bytes(full)

    with django_capture_on_commit_callbacks(execute=True):
        received_object_reprocess(received_object_id=received.pk)

    received.refresh_from_db()
    assert received.status == Status.DONE
    assert received.error == ""
    assert received.attempts == 2
    assert received.study.events.count() == 8


def test_a_failed_object_sent_again_whole_is_processed_again(
    spool, corpus_file, django_capture_on_commit_callbacks
):
    full = corpus_file("RF-RDSR-Siemens-Zee.dcm").read_bytes()
    assert _receive_and_process(_truncated(full)).status == Status.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        received = receive(full, enqueue=True)

    received.refresh_from_db()
    assert received.status == Status.DONE
    assert received.times_received == 2
    assert ReceivedObject.objects.count() == 1


def test_storing_with_enqueue_processes_after_commit_when_there_is_no_broker(
    spool, corpus_file, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        received = receive(corpus_file("DX-RDSR-Canon_CXDI.dcm").read_bytes(), enqueue=True)
    received.refresh_from_db()
    assert received.status == Status.RECEIVED
    assert len(callbacks) == 1

    callbacks[0]()

    received.refresh_from_db()
    assert received.status == Status.DONE


def test_processing_twice_changes_nothing(spool, corpus_file):
    received = _receive_and_process(corpus_file("CT-RDSR-Siemens_Flash-TAP-SS.dcm").read_bytes())

    again = received_object_process(received_object_id=received.pk)
    forced = received_object_process(received_object_id=received.pk, force=True)

    assert again.attempts == 1
    assert forced.status == Status.DONE
    assert forced.attempts == 2
    assert Study.objects.count() == 1
    assert IrradiationEvent.objects.count() == 4


def test_the_sweeper_reenqueues_only_what_stayed_unfinished(spool, corpus_file):
    long_ago = timezone.now() - dt.timedelta(hours=1)
    waiting = receive(corpus_file("CT-RDSR-Toshiba_DoseCheck.dcm").read_bytes())
    stuck = receive(corpus_file("DX-RDSR-Canon_CXDI.dcm").read_bytes())
    fresh = receive(corpus_file("MG-RDSR-Hologic_2D.dcm").read_bytes())
    done = _receive_and_process(corpus_file("CT-RDSR-GEPixelMed.dcm").read_bytes())
    ReceivedObject.objects.filter(pk=waiting.pk).update(received_at=long_ago, last_received_at=long_ago)
    ReceivedObject.objects.filter(pk=stuck.pk).update(
        status=Status.PROCESSING, attempts=1, processing_started_at=long_ago
    )
    ReceivedObject.objects.filter(pk=done.pk).update(received_at=long_ago, last_received_at=long_ago)

    swept = spool_sweep(older_than_seconds=600)

    assert swept == 2
    statuses = dict(ReceivedObject.objects.values_list("pk", "status"))
    assert statuses == {
        waiting.pk: Status.DONE,
        stuck.pk: Status.DONE,
        fresh.pk: Status.RECEIVED,
        done.pk: Status.DONE,
    }
    assert ReceivedObject.objects.get(pk=done.pk).attempts == 1
