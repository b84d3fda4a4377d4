"""The Storage SCP over real associations: dcmtk and pynetdicom as senders.

Without a broker each object is processed in the C-STORE handler's thread
before it is answered (`ingest.dispatch` runs it in the caller), so once the
sender is done everything is processed; `no_broker` makes a broker run behave
the same. The broker path is tested with a real Celery worker at the end.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from django.db import connection, transaction
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pynetdicom import AE, _config
from pynetdicom.dsutils import split_dataset
from pynetdicom.sop_class import Verification

from ingest.models import ReceivedObject
from ingest.scp import STATUS_OUT_OF_RESOURCES, ScpConfig, scp_start, scp_stop, scp_wait_registered
from rdsr.models import IrradiationEvent, Study
from tests.conftest import broker
from tests.ingest.conftest import wait_until

Status = ReceivedObject.Status

# dcmtk 3.6.7 cannot read this one (it misreads a long code value); pydicom can.
DCMTK_UNREADABLE = "MG-Im-Hologic-PropProj.dcm"
# Totals from OpenREM's test suite (EXPECTED.json), in our canonical units.
KNOWN_TOTALS = {
    "CT-RDSR-Toshiba_DoseCheck.dcm": ("dlp_total_mgycm", 502.4),
    "CT-RDSR-Siemens_Flash-TAP-SS.dcm": ("dlp_total_mgycm", 724.52),
    "DX-RDSR-Canon_CXDI.dcm": ("dap_total_gycm2", 1.07e-05 * 10_000),
    "RF-RDSR-GE.dcm": ("dap_total_gycm2", 0.00024126 * 10_000),
}


# The SCPs the `scp` fixture started: `settle()` waits for their writers.
_running: list = []


@pytest.fixture
def scp(transactional_db, spool):
    """Start our SCP on a free loopback port; returns the port."""

    def _start(**config) -> int:
        server = scp_start(config=ScpConfig(bind_address="127.0.0.1", port=0, **config))
        _running.append(server)
        return server.server_address[1]

    yield _start
    while _running:
        scp_stop(_running.pop(), grace_seconds=10)


def settle() -> None:
    """Wait until what the SCP answered is registered (and, without a broker, processed).

    Rows are written by the SCP's writer thread a few ms after the answer.
    """
    for server in _running:
        assert scp_wait_registered(server, timeout=300), "the receipt writer did not finish"


def release(assoc) -> None:
    assoc.release()
    settle()


def dcmtk(tool: str, port: int, *args: str, calling_ae: str = "CTROOM1") -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool, "-aet", calling_ae, "-aec", "DOSEMGMT", "127.0.0.1", str(port), *args],
        env=dict(os.environ, TCP_NODELAY="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def storescu(port: int, files: list[Path], **kwargs) -> subprocess.CompletedProcess:
    # -nh: go on after an unsuccessful store, as modalities do with a queue.
    result = dcmtk("storescu", port, "-nh", *map(str, files), **kwargs)
    settle()
    return result


def pynetdicom_association(port: int, sop_classes: set[str], *, calling_ae: str = "CTROOM1"):
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    for sop_class in sorted(sop_classes):
        ae.add_requested_context(sop_class, [pydicom.uid.ExplicitVRLittleEndian])
    return ae.associate("127.0.0.1", port, ae_title="DOSEMGMT")


def corpus_files(corpus_dir: Path) -> list[Path]:
    # Sorted, so RF-RDSR-Siemens-Zee.dcm goes before its "_adjusted" twin,
    # which carries the same SOP Instance UID.
    return sorted((corpus_dir / "dicom").glob("*.dcm"))


def header(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)


def first_per_sop_instance(files: list[Path]) -> dict[str, Path]:
    first: dict[str, Path] = {}
    for path in files:
        first.setdefault(str(header(path).SOPInstanceUID), path)
    return first


def direct_study_totals(files: list[Path]) -> dict[str, tuple]:
    """What parsing and storing the files straight from disk gives; rolled back."""
    from rdsr.parse import parse_file
    from rdsr.services import dose_record_store

    with transaction.atomic():
        for path in files:
            record = parse_file(str(path))
            if record.is_dose:
                dose_record_store(record=record)
        totals = study_totals()
        transaction.set_rollback(True)
    return totals


def study_totals() -> dict[str, tuple]:
    return {
        study.study_instance_uid: (
            study.event_count,
            study.dlp_total_mgycm,
            study.dap_total_gycm2,
            study.fluoro_time_total_s,
            study.agd_left_mgy,
            study.agd_right_mgy,
            sorted((p.plane, p.dap_total_gycm2, p.dose_rp_total_mgy) for p in study.planes.all()),
        )
        for study in Study.objects.prefetch_related("planes")
    }


def assert_kept_and_processed(sent: dict[str, Path]) -> None:
    from rdsr.parse import parse_file

    rows = {row.sop_instance_uid: row for row in ReceivedObject.objects.all()}
    assert set(rows) == set(sent)
    for uid, path in sent.items():
        row = rows[uid]
        record = parse_file(str(path))
        expected = Status.DONE if record.is_dose else Status.NOT_RELEVANT
        assert (path.name, row.status, row.error) == (path.name, expected, "")
        assert row.origin == "scp" and row.calling_ae == "CTROOM1" and row.called_ae == "DOSEMGMT"
        assert row.peer_address == "127.0.0.1"
        assert Path(row.spool_path).read_bytes()[128:132] == b"DICM"


def assert_known_totals(sent: dict[str, Path]) -> None:
    for path in sent.values():
        if path.name in KNOWN_TOTALS:
            field, value = KNOWN_TOTALS[path.name]
            study = Study.objects.get(study_instance_uid=header(path).StudyInstanceUID)
            # Study totals are sums of the events, whose rounding may differ from the
            # stated total in the last digit; a unit or event error is far larger.
            assert getattr(study, field) == pytest.approx(value, rel=1e-3), path.name


# --- association ------------------------------------------------------------


def test_it_answers_c_echo_from_dcmtk_and_from_pynetdicom(scp):
    port = scp()

    assert dcmtk("echoscu", port).returncode == 0

    assoc = pynetdicom_association(port, set())
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    release(assoc)


def test_it_rejects_a_calling_ae_title_that_is_not_on_the_allow_list(scp, corpus_file):
    port = scp(allowed_calling_aes=["CTROOM1"])

    refused = dcmtk("echoscu", port, calling_ae="INTRUDER")
    assert refused.returncode != 0
    assert "reject" in (refused.stderr + refused.stdout).lower()
    assoc = pynetdicom_association(port, set(), calling_ae="INTRUDER")
    assert assoc.is_rejected
    storescu(port, [corpus_file("CT-RDSR-GEPixelMed.dcm")], calling_ae="INTRUDER")
    assert not ReceivedObject.objects.exists()

    assert dcmtk("echoscu", port, calling_ae="CTROOM1").returncode == 0
    assert storescu(port, [corpus_file("CT-RDSR-GEPixelMed.dcm")]).returncode == 0
    assert ReceivedObject.objects.get().calling_ae == "CTROOM1"


# --- the corpus ---------------------------------------------------------------


def test_storescu_sends_the_whole_corpus_in_one_association_and_each_object_ends_where_it_belongs(
    scp, corpus_dir, no_broker
):
    files = corpus_files(corpus_dir)
    assert len(files) == 30
    sendable = [path for path in files if path.name != DCMTK_UNREADABLE]
    sent = first_per_sop_instance(sendable)
    expected = direct_study_totals(list(sent.values()))
    port = scp()

    result = storescu(port, files)

    # dcmtk names the file it could not read; nothing it sent failed.
    assert "Store Failed" not in result.stderr, result.stderr
    assert_kept_and_processed(sent)
    twin = header(corpus_dir / "dicom" / "RF-RDSR-Siemens-Zee_adjusted.dcm").SOPInstanceUID
    assert ReceivedObject.objects.get(sop_instance_uid=twin).times_received == 2
    assert study_totals() == expected
    assert len(expected) >= 15
    assert_known_totals(sent)


def test_pynetdicom_as_sender_gives_the_same_result_for_the_whole_corpus(scp, corpus_dir, no_broker):
    files = corpus_files(corpus_dir)
    sent = first_per_sop_instance(files)
    expected = direct_study_totals(list(sent.values()))
    port = scp()

    assoc = pynetdicom_association(port, {str(header(path).SOPClassUID) for path in files})
    assert assoc.is_established
    statuses = [assoc.send_c_store(pydicom.dcmread(path)).Status for path in files]
    release(assoc)

    assert statuses == [0x0000] * len(files)
    assert_kept_and_processed(sent)
    assert study_totals() == expected
    assert_known_totals(sent)


def test_sending_the_corpus_again_changes_no_count_and_no_total(scp, corpus_dir, no_broker):
    files = [path for path in corpus_files(corpus_dir) if path.name != DCMTK_UNREADABLE]
    port = scp()
    storescu(port, files)
    before = (study_totals(), IrradiationEvent.objects.count(), ReceivedObject.objects.count())
    assert before[1] > 0

    storescu(port, files)

    assert (study_totals(), IrradiationEvent.objects.count(), ReceivedObject.objects.count()) == before
    assert set(ReceivedObject.objects.values_list("times_received", flat=True)) == {2, 4}
    assert not ReceivedObject.objects.exclude(status__in=[Status.DONE, Status.NOT_RELEVANT]).exists()


# --- failures -----------------------------------------------------------------


def test_when_the_spool_cannot_be_written_the_store_fails_with_a700_and_the_association_goes_on(
    scp, corpus_file, settings, tmp_path, no_broker
):
    good_spool = settings.SPOOL_DIR
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file where the spool's parent should be")
    first = pydicom.dcmread(corpus_file("CT-RDSR-GEPixelMed.dcm"))
    second = pydicom.dcmread(corpus_file("DX-RDSR-Canon_CXDI.dcm"))
    port = scp()
    assoc = pynetdicom_association(port, {first.SOPClassUID})
    assert assoc.is_established

    settings.SPOOL_DIR = blocker / "spool"
    failed = assoc.send_c_store(first)
    settings.SPOOL_DIR = good_spool
    stored = assoc.send_c_store(second)
    again = assoc.send_c_store(first)
    release(assoc)

    assert failed.Status == STATUS_OUT_OF_RESOURCES
    assert stored.Status == 0x0000 and again.Status == 0x0000
    assert ReceivedObject.objects.get(sop_instance_uid=second.SOPInstanceUID).status == Status.DONE
    assert ReceivedObject.objects.get(sop_instance_uid=first.SOPInstanceUID).status == Status.DONE
    assert ReceivedObject.objects.count() == 2


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="terminates PostgreSQL backends",
)
def test_an_association_outlives_its_database_connection_being_closed_by_the_server(
    scp, corpus_file, no_broker
):
    first, second = (
        pydicom.dcmread(corpus_file(n)) for n in ("CT-RDSR-GEPixelMed.dcm", "DX-RDSR-Canon_CXDI.dcm")
    )
    port = scp()
    assoc = pynetdicom_association(port, {first.SOPClassUID})
    assert assoc.is_established
    assert assoc.send_c_store(first).Status == 0x0000
    settle()

    # What a database restart does to the association's idle connection.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1
    status = assoc.send_c_store(second).Status
    release(assoc)

    assert status == 0x0000
    assert ReceivedObject.objects.get(sop_instance_uid=second.SOPInstanceUID).status == Status.DONE


def _with_unreadable_numbers(path: Path) -> pydicom.Dataset:
    """The RDSR with every numeric value replaced by text (wrong value type)."""
    ds = pydicom.dcmread(path)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    replaced = 0

    def walk(items) -> None:
        nonlocal replaced
        for item in items:
            for measured in item.get("MeasuredValueSequence", []):
                measured[0x0040A30A] = RawDataElement(Tag(0x0040A30A), "DS", 4, b"n/a ", 0, False, True)
                replaced += 1
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)
    assert replaced > 10
    return ds


def _truncated_copy(path: Path, dest: Path) -> Path:
    data = path.read_bytes()
    dest.write_bytes(data[: len(data) // 3])
    return dest


def test_malformed_objects_are_kept_and_fail_clearly_while_the_rest_of_the_association_is_stored(
    scp, corpus_file, tmp_path, monkeypatch, no_broker
):
    broken_content = _with_unreadable_numbers(corpus_file("CT-RDSR-GEPixelMed.dcm"))
    truncated = _truncated_copy(corpus_file("RF-RDSR-GE.dcm"), tmp_path / "truncated.dcm")
    fine = [
        pydicom.dcmread(corpus_file(name))
        for name in ("CT-RDSR-ToshibaPixelMed.dcm", "DX-RDSR-Canon_CXDI.dcm")
    ]
    port = scp()
    assoc = pynetdicom_association(port, {broken_content.SOPClassUID})
    assert assoc.is_established

    statuses = [assoc.send_c_store(fine[0]).Status, assoc.send_c_store(broken_content).Status]
    # Sent from the file as it is, without decoding, so its bytes stay cut short.
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    statuses.append(assoc.send_c_store(truncated).Status)
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", False)
    statuses.append(assoc.send_c_store(fine[1]).Status)
    release(assoc)

    assert statuses == [0x0000] * 4
    truncated_uid = header(corpus_file("RF-RDSR-GE.dcm")).SOPInstanceUID
    for uid in (broken_content.SOPInstanceUID, truncated_uid):
        row = ReceivedObject.objects.get(sop_instance_uid=uid)
        assert row.status == Status.FAILED
        assert row.error.startswith("unreadable object: "), row.error
        assert Path(row.spool_path).is_file()
    assert Path(ReceivedObject.objects.get(sop_instance_uid=truncated_uid).spool_path).stat().st_size < (
        corpus_file("RF-RDSR-GE.dcm").stat().st_size
    )
    for ds in fine:
        assert ReceivedObject.objects.get(sop_instance_uid=ds.SOPInstanceUID).status == Status.DONE
        assert Study.objects.filter(study_instance_uid=ds.StudyInstanceUID).exists()


def test_the_stored_bytes_are_the_bytes_that_were_sent(scp, corpus_file, no_broker):
    path = corpus_file("CT-RDSR-Siemens_Flash-QA-DS.dcm")
    port = scp()

    storescu(port, [path])

    row = ReceivedObject.objects.get()
    # The dataset byte for byte; only the file meta is the receiver's own.
    _, stored_offset = split_dataset(Path(row.spool_path))
    _, original_offset = split_dataset(path)
    assert Path(row.spool_path).read_bytes()[stored_offset:] == path.read_bytes()[original_offset:]
    assert row.transfer_syntax_uid == pydicom.uid.ExplicitVRLittleEndian
    assert row.sop_class_uid == header(path).SOPClassUID


# --- with a broker --------------------------------------------------------------


@broker
def test_with_a_broker_a_celery_worker_processes_what_the_scp_received(scp, celery_worker, corpus_file):
    celery_worker()
    files = [
        corpus_file(name) for name in ("CT-RDSR-GEPixelMed.dcm", "DX-RDSR-Canon_CXDI.dcm", "ESR_non-dose.dcm")
    ]
    port = scp()

    assert storescu(port, files).returncode == 0

    def finished() -> bool:
        return ReceivedObject.objects.filter(status__in=[Status.DONE, Status.NOT_RELEVANT]).count() == 3

    wait_until(finished, timeout=120, what="the worker to process the three objects")
    assert ReceivedObject.objects.filter(status=Status.DONE).count() == 2
    assert Study.objects.count() == 2
