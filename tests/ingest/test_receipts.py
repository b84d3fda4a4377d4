"""Answered before registered: the SCP's receipts survive crashes and database outages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pydicom
import pytest
from django.db import connection, transaction

from ingest import receipts
from ingest.models import ReceivedObject
from ingest.receipts import receipts_recover
from ingest.scp import ScpConfig, scp_start, scp_stop, scp_wait_registered
from ingest.services import spool_sweep
from ingest.spool import incoming_name, spool_day_path, spool_incoming_dir, spool_write_incoming
from rdsr.models import IrradiationEvent
from tests.ingest.conftest import wait_until
from tests.ingest.test_scp import (
    DCMTK_UNREADABLE,
    corpus_files,
    direct_study_totals,
    first_per_sop_instance,
    header,
    pynetdicom_association,
    study_totals,
)
from tests.ingest.test_serve import ROOT, answers, free_port

Status = ReceivedObject.Status
FINISHED = [Status.DONE, Status.NOT_RELEVANT]


def _storescu(port: int, files) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["storescu", "-nh", "-aet", "CTROOM1", "-aec", "DOSEMGMT", "127.0.0.1", str(port), *map(str, files)],
        env=dict(os.environ, TCP_NODELAY="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _run_scp(child_env, port: int, log):
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_scp", "--port", str(port), "--bind", "127.0.0.1"],
        cwd=ROOT,
        # The writer holds a burst for 5 s: the kill lands while answered objects
        # wait in incoming, whatever the machine's speed.
        env=child_env(CELERY_BROKER_URL="", DOSEMGMT_RECEIPT_BATCH_WAIT="5"),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _incoming_files() -> list:
    incoming = spool_incoming_dir()
    return sorted(incoming.iterdir()) if incoming.is_dir() else []


def test_after_run_scp_is_killed_right_after_its_answers_every_object_gets_one_row_and_is_processed(
    transactional_db, child_env, tmp_path, corpus_dir, settings
):
    settings.CELERY_BROKER_URL = None
    files = [path for path in corpus_files(corpus_dir) if path.name != DCMTK_UNREADABLE]
    sent = first_per_sop_instance(files)
    expected = direct_study_totals(list(sent.values()))
    port = free_port()
    log = tmp_path / "run_scp.log"
    process = _run_scp(child_env, port, log)
    try:
        wait_until(lambda: process.poll() is None and answers(port), timeout=60, what="run_scp to listen")
        result = _storescu(port, files)
        # As a power cut would: no chance to register what was answered.
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Store Failed" not in result.stderr, result.stderr
    # Processing runs in the writer without a broker: the kill leaves work undone.
    unfinished = len(sent) - ReceivedObject.objects.filter(status__in=FINISHED).count()
    assert unfinished > 0, "the kill came too late to test anything"
    assert _incoming_files(), "the kill came after every receipt was registered"

    process = _run_scp(child_env, port, log)
    try:
        wait_until(
            lambda: process.poll() is None and answers(port), timeout=60, what="run_scp to listen again"
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Rows committed but never processed are the sweeper's (Celery beat's) job.
    spool_sweep(older_than_seconds=0)

    rows = {row.sop_instance_uid: row for row in ReceivedObject.objects.all()}
    assert set(rows) == set(sent)
    assert {row.status for row in rows.values()} <= set(FINISHED), log.read_text()[-3000:]
    twin = header(corpus_dir / "dicom" / "RF-RDSR-Siemens-Zee_adjusted.dcm").SOPInstanceUID
    assert {uid: row.times_received for uid, row in rows.items() if row.times_received != 1} == {twin: 2}
    assert study_totals() == expected
    assert _incoming_files() == []
    for row in rows.values():
        assert open(row.spool_path, "rb").read(132)[128:] == b"DICM"


def test_while_the_database_is_locked_c_stores_are_answered_and_the_rows_follow_once_it_is_free(
    transactional_db, spool, corpus_file, settings
):
    settings.CELERY_BROKER_URL = None
    datasets = [
        pydicom.dcmread(corpus_file(name))
        for name in ("CT-RDSR-GEPixelMed.dcm", "DX-RDSR-Canon_CXDI.dcm", "RF-RDSR-GE.dcm")
    ]
    server = scp_start(config=ScpConfig(bind_address="127.0.0.1", port=0))
    locked, release = threading.Event(), threading.Event()

    def hold_the_table() -> None:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("LOCK TABLE ingest_receivedobject IN ACCESS EXCLUSIVE MODE")
            else:
                # BEGIN IMMEDIATE (settings) already holds SQLite's write lock.
                ReceivedObject.objects.filter(pk=-1).update(error="")
            locked.set()
            release.wait(60)
        connection.close()

    locker = threading.Thread(target=hold_the_table)
    locker.start()
    try:
        assert locked.wait(30)
        assoc = pynetdicom_association(server.server_address[1], {ds.SOPClassUID for ds in datasets})
        assert assoc.is_established
        statuses = [assoc.send_c_store(ds).Status for ds in datasets]
        assoc.release()
        assert statuses == [0x0000] * 3
        assert len(_incoming_files()) == 3
        assert not scp_wait_registered(server, timeout=1)
    finally:
        release.set()
        locker.join()
    try:
        assert scp_wait_registered(server, timeout=120)
    finally:
        scp_stop(server)

    rows = ReceivedObject.objects.all()
    assert sorted(rows.values_list("sop_instance_uid", flat=True)) == sorted(
        ds.SOPInstanceUID for ds in datasets
    )
    assert set(rows.values_list("status", flat=True)) == {Status.DONE}
    assert _incoming_files() == []


def _leave_in_incoming(path, *, received_ns: int = 1_700_000_000_000_000_000):
    uid = str(header(path).SOPInstanceUID)
    name = incoming_name(
        received_ns=received_ns,
        sop_instance_uid=uid,
        calling_ae="CTROOM1",
        called_ae="DOSEMGMT",
        peer="10.1.2.3",
    )
    return uid, spool_write_incoming(data=path.read_bytes(), name=name)


def test_a_row_committed_before_its_file_was_moved_is_repaired_at_start_without_counting_twice(
    transactional_db, spool, corpus_file, settings
):
    settings.CELERY_BROKER_URL = None
    uid, left = _leave_in_incoming(corpus_file("DX-RDSR-Canon_CXDI.dcm"))
    receipt = receipts.receipt_from_incoming_file(left)
    target = spool_day_path(sop_instance_uid=uid, when=receipt.received_at)
    # The row as the writer commits it, the crash before the move.
    ReceivedObject.objects.create(
        sop_instance_uid=uid,
        origin="scp",
        received_at=receipt.received_at,
        last_received_at=receipt.received_at,
        spool_path=str(target),
        size_bytes=receipt.size_bytes,
    )

    assert receipts_recover() == 1

    row = ReceivedObject.objects.get()
    assert (row.status, row.times_received, row.spool_path) == (Status.DONE, 1, str(target))
    assert target.read_bytes() == corpus_file("DX-RDSR-Canon_CXDI.dcm").read_bytes()
    assert _incoming_files() == []


def test_recovery_rebuilds_the_row_from_the_file_name_and_meta_and_drops_half_written_files(
    transactional_db, spool, corpus_file, settings
):
    settings.CELERY_BROKER_URL = None
    path = corpus_file("CT-RDSR-GEPixelMed.dcm")
    uid, _ = _leave_in_incoming(path)
    (spool_incoming_dir() / ".incoming-abc.tmp").write_bytes(b"half an object")

    assert receipts_recover() == 1

    row = ReceivedObject.objects.get()
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    assert (row.sop_instance_uid, row.calling_ae, row.called_ae, row.peer_address) == (
        uid,
        "CTROOM1",
        "DOSEMGMT",
        "10.1.2.3",
    )
    assert row.sop_class_uid == meta.MediaStorageSOPClassUID
    assert row.received_at.timestamp() == pytest.approx(1_700_000_000, abs=1e-3)
    assert row.status == Status.DONE
    assert _incoming_files() == []


def test_a_running_scp_registers_files_left_in_incoming_by_an_earlier_run(
    transactional_db, spool, corpus_file, settings, monkeypatch
):
    settings.CELERY_BROKER_URL = None
    monkeypatch.setattr(receipts, "LEFT_BEHIND_AFTER_SECONDS", 0)
    monkeypatch.setattr(receipts, "RESCAN_EVERY_SECONDS", 0.2)
    server = scp_start(config=ScpConfig(bind_address="127.0.0.1", port=0))
    try:
        uid, _ = _leave_in_incoming(corpus_file("DX-RDSR-Canon_CXDI.dcm"))
        wait_until(
            lambda: ReceivedObject.objects.filter(sop_instance_uid=uid, status=Status.DONE).exists(),
            timeout=60,
            what="the writer to find the file left in incoming",
        )
    finally:
        scp_stop(server)
    assert ReceivedObject.objects.get().times_received == 1
    assert IrradiationEvent.objects.exists()
    assert _incoming_files() == []
