"""The MPPS SCP over real associations: pynetdicom as the modality, N-CREATE then N-SET.

Without a broker a step is processed in the handler's thread once its message
is committed (`ingest.dispatch.enqueue_call` runs it in the caller), so once an
N-SET is answered the step is processed; `no_broker` makes a broker run
behave the same. The broker path is tested with a real Celery worker at the end.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pynetdicom import AE
from pynetdicom import association as pynetdicom_association
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification

from ingest.models import MppsMessage, MppsStep
from ingest.scp import ScpConfig, scp_start, scp_stop
from rdsr.models import DoseObject, IrradiationEvent, PlaneAccumulation, Study
from tests.conftest import broker
from tests.ingest.conftest import wait_until
from tests.rdsr.test_mpps_parse import (
    TRUNCATED_SEQUENCE,
    mpps_complete_ct,
    mpps_complete_dx,
    mpps_complete_xa,
    mpps_create,
)

Status = MppsStep.Status
MPPS = ModalityPerformedProcedureStep


@pytest.fixture
def scp(transactional_db, spool):
    """Our SCP on a free loopback port; returns the port."""
    servers = []

    def _start() -> int:
        server = scp_start(config=ScpConfig(bind_address="127.0.0.1", port=0))
        servers.append(server)
        return server.server_address[1]

    yield _start
    for server in servers:
        scp_stop(server, grace_seconds=10)


@pytest.fixture
def modality(scp):
    """An open association from 'ANGIO2' to our SCP, with MPPS and Verification."""
    ae = AE(ae_title="ANGIO2")
    ae.add_requested_context(MPPS, [pydicom.uid.ExplicitVRLittleEndian])
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", scp(), ae_title="DOSEMGMT")
    assert assoc.is_established
    yield assoc
    if assoc.is_established:
        assoc.release()


def n_create(assoc, ds, uid: str) -> int:
    status, _ = assoc.send_n_create(ds, MPPS, uid)
    return status.Status


def n_set(assoc, ds, uid: str) -> tuple[int, str]:
    status, _ = assoc.send_n_set(ds, MPPS, uid)
    return status.Status, str(status.get("ErrorComment", ""))


# --- the step, end to end ------------------------------------------------------------


def test_it_stores_the_dose_of_a_step_sent_as_n_create_then_n_set(modality, no_broker):
    study_uid, mpps_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()

    assert n_create(modality, mpps_create(study_uid=study_uid), mpps_uid) == 0x0000

    step = MppsStep.objects.get(sop_instance_uid=mpps_uid)
    assert (step.performed_status, step.status, step.calling_ae) == ("IN PROGRESS", Status.IN_PROGRESS, "ANGIO2")
    assert step.study_instance_uid == study_uid
    assert not Study.objects.exists()  # nothing is stored before the step is finished

    assert n_set(modality, mpps_complete_xa(), mpps_uid) == (0x0000, "")

    step.refresh_from_db()
    assert (step.performed_status, step.status, step.error) == ("COMPLETED", Status.DONE, "")
    study = Study.objects.get(study_instance_uid=study_uid)
    assert step.study == study
    assert study.source_kind == "mpps"
    assert study.modality == "XA"
    assert study.dap_total_gycm2 == pytest.approx(12.34)  # 123.4 dGy·cm² sent
    assert study.fluoro_time_total_s == 305
    assert study.event_count == 1
    plane = PlaneAccumulation.objects.get(study=study)
    assert (plane.plane, plane.dap_total_gycm2, plane.fluoro_time_total_s) == ("single", pytest.approx(12.34), 305)
    event = IrradiationEvent.objects.get(study=study)
    assert (event.source_kind, event.source_sop_instance_uid) == ("mpps", mpps_uid)
    assert event.dap_gycm2 == pytest.approx(12.34)
    assert event.details["entrance_dose_mgy"] == pytest.approx(712.5)
    assert event.details["exposures_total"] == 12
    assert [x["tube_current_ma"] for x in event.details["exposures"]] == [pytest.approx(450), pytest.approx(12)]
    assert study.patient.patient_id == "MPPS-PAT-1"
    assert DoseObject.objects.get(study=study).kind == "mpps"
    # Both messages kept as received, readable, in order.
    messages = list(step.messages.order_by("sequence"))
    assert [(m.action, m.performed_status, m.answered_status) for m in messages] == [
        ("create", "IN PROGRESS", 0),
        ("set", "COMPLETED", 0),
    ]
    for message in messages:
        assert Path(message.spool_path).name.endswith(f"-{message.action}.dcm")
        assert pydicom.dcmread(message.spool_path).file_meta.MediaStorageSOPInstanceUID == mpps_uid


def test_a_ct_and_a_dx_step_are_stored_with_their_own_quantities(modality, no_broker):
    ct_study, dx_study = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    ct_uid, dx_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()

    n_create(modality, mpps_create(study_uid=ct_study, modality="CT"), ct_uid)
    n_create(modality, mpps_create(study_uid=dx_study, modality="DX", patient_id="P2"), dx_uid)
    assert n_set(modality, mpps_complete_ct(), ct_uid)[0] == 0
    assert n_set(modality, mpps_complete_dx(), dx_uid)[0] == 0

    ct = Study.objects.get(study_instance_uid=ct_study)
    assert ct.event_count == 2
    assert sorted(ct.events.values_list("ctdivol_mgy", flat=True)) == [8.25, 12.5]
    assert ct.dlp_total_mgycm is None
    dx = Study.objects.get(study_instance_uid=dx_study)
    assert dx.dap_total_gycm2 == pytest.approx(0.175)
    assert dx.events.get().details["entrance_dose_mgy"] == pytest.approx(300)


def test_a_discontinued_step_still_stores_the_dose_delivered(modality, no_broker):
    study_uid, mpps_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    n_create(modality, mpps_create(study_uid=study_uid), mpps_uid)

    assert n_set(modality, mpps_complete_xa(status="DISCONTINUED"), mpps_uid)[0] == 0

    assert MppsStep.objects.get().status == Status.DONE
    assert Study.objects.get(study_instance_uid=study_uid).dap_total_gycm2 == pytest.approx(12.34)


def test_intermediate_n_sets_are_merged_in_order(modality, no_broker):
    study_uid, mpps_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    n_create(modality, mpps_create(study_uid=study_uid), mpps_uid)
    early = pydicom.Dataset()
    early.ImageAndFluoroscopyAreaDoseProduct = "50"
    early.TotalTimeOfFluoroscopy = 60
    assert n_set(modality, early, mpps_uid)[0] == 0
    assert MppsStep.objects.get().status == Status.IN_PROGRESS

    final = pydicom.Dataset()
    final.PerformedProcedureStepStatus = "COMPLETED"
    final.ImageAndFluoroscopyAreaDoseProduct = "80"
    assert n_set(modality, final, mpps_uid)[0] == 0

    study = Study.objects.get(study_instance_uid=study_uid)
    # The later N-SET replaced the DAP; the fluoroscopy time of the earlier one stays.
    assert study.dap_total_gycm2 == pytest.approx(8.0)
    assert study.fluoro_time_total_s == 60


# --- answers per PS3.4 F.7 ---------------------------------------------------------------


def test_it_answers_duplicate_unknown_and_finished_steps_with_their_status_codes(modality, no_broker):
    study_uid, mpps_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    assert n_create(modality, mpps_create(study_uid=study_uid), mpps_uid) == 0x0000

    assert n_create(modality, mpps_create(study_uid=study_uid), mpps_uid) == 0x0111
    assert n_set(modality, mpps_complete_xa(), pydicom.uid.generate_uid())[0] == 0x0112
    assert n_set(modality, mpps_complete_xa(), mpps_uid)[0] == 0x0000
    status, comment = n_set(modality, mpps_complete_xa(), mpps_uid)
    assert status == 0xA310
    assert "COMPLETED" in comment

    # Refused messages change nothing and are not kept.
    assert MppsMessage.objects.count() == 2
    assert MppsStep.objects.count() == 1
    assert modality.send_c_echo().Status == 0x0000


def test_an_n_create_without_a_uid_gets_one_from_us(modality, no_broker):
    ae_status, attributes = modality.send_n_create(
        mpps_create(study_uid=pydicom.uid.generate_uid()), MPPS, None
    )
    assert ae_status.Status == 0x0000
    step = MppsStep.objects.get()
    assert pydicom.uid.UID(step.sop_instance_uid).is_valid
    assert attributes.PatientID == "MPPS-PAT-1"


# --- bad input ---------------------------------------------------------------------------


def test_odd_values_are_answered_success_and_left_out_with_a_warning(modality, no_broker):
    study_uid, mpps_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    create = mpps_create(study_uid=study_uid)
    create[0x00400306] = RawDataElement(Tag(0x00400306), "DS", 4, b"n/a ", 0, False, True)
    done = mpps_complete_xa()
    done[0x0018115E] = RawDataElement(Tag(0x0018115E), "DS", 6, b"12,5  ", 0, False, True)
    del done.DistanceSourceToEntrance

    assert n_create(modality, create, mpps_uid) == 0x0000
    assert n_set(modality, done, mpps_uid)[0] == 0x0000

    step = MppsStep.objects.get()
    assert step.status == Status.DONE
    assert any("ImageAndFluoroscopyAreaDoseProduct" in w and "not a number" in w for w in step.warnings)
    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.dap_total_gycm2 is None  # never a guess
    assert study.fluoro_time_total_s == 305


def test_a_step_without_study_uid_fails_clearly_and_the_association_goes_on(modality, no_broker, client, django_user_model):
    bad_uid, good_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    good_study = pydicom.uid.generate_uid()

    assert n_create(modality, mpps_create(study_uid=None), bad_uid) == 0x0000
    assert n_set(modality, mpps_complete_xa(), bad_uid)[0] == 0x0000
    assert modality.send_c_echo().Status == 0x0000
    n_create(modality, mpps_create(study_uid=good_study), good_uid)
    assert n_set(modality, mpps_complete_xa(), good_uid)[0] == 0x0000

    bad = MppsStep.objects.get(sop_instance_uid=bad_uid)
    assert bad.status == Status.FAILED
    assert "no Study Instance UID in Scheduled Step Attributes Sequence (0040,0270)" in bad.error
    assert bad.messages.count() == 2 and all(Path(m.spool_path).is_file() for m in bad.messages.all())
    assert MppsStep.objects.get(sop_instance_uid=good_uid).status == Status.DONE
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [good_study]

    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.org", "pw-12345678"))
    page = client.get("/review/").content.decode()
    assert bad_uid in page and "no Study Instance UID" in page
    assert good_uid not in page


def test_an_unreadable_attribute_list_is_kept_answered_0110_and_a_resend_is_taken(
    modality, no_broker, monkeypatch
):
    study_uid, mpps_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    n_create(modality, mpps_create(study_uid=study_uid), mpps_uid)
    real_encode = pynetdicom_association.encode

    def broken_encode(ds, *args, **kwargs):
        # A modality whose encoder cuts a sequence short.
        return real_encode(ds, *args, **kwargs) + TRUNCATED_SEQUENCE

    monkeypatch.setattr(pynetdicom_association, "encode", broken_encode)
    status, comment = n_set(modality, mpps_complete_xa(), mpps_uid)
    monkeypatch.setattr(pynetdicom_association, "encode", real_encode)

    assert status == 0x0110
    assert comment.startswith("attribute list cannot be decoded")
    assert modality.send_c_echo().Status == 0x0000
    step = MppsStep.objects.get()
    assert step.status == Status.FAILED
    assert step.performed_status == "IN PROGRESS"  # the unreadable N-SET changed nothing
    assert "N-SET #2" in step.error and "cannot be decoded" in step.error
    unreadable = step.messages.get(sequence=2)
    assert unreadable.answered_status == 0x0110 and Path(unreadable.spool_path).is_file()
    assert not Study.objects.exists()

    # The modality sends it again, readable this time.
    assert n_set(modality, mpps_complete_xa(), mpps_uid)[0] == 0x0000

    step.refresh_from_db()
    assert (step.status, step.error) == (Status.DONE, "")
    assert any("N-SET #2 could not be read" in w for w in step.warnings)
    assert Study.objects.get(study_instance_uid=study_uid).dap_total_gycm2 == pytest.approx(12.34)


# --- with a broker -------------------------------------------------------------------------


@broker
def test_with_a_broker_a_celery_worker_processes_the_step(scp, celery_worker):
    celery_worker()
    ae = AE(ae_title="ANGIO2")
    ae.add_requested_context(MPPS, [pydicom.uid.ExplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", scp(), ae_title="DOSEMGMT")
    study_uid, mpps_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()

    assert n_create(assoc, mpps_create(study_uid=study_uid), mpps_uid) == 0
    assert n_set(assoc, mpps_complete_xa(), mpps_uid)[0] == 0
    assoc.release()

    wait_until(
        lambda: MppsStep.objects.filter(status=Status.DONE).exists(),
        timeout=120,
        what="the worker to store the MPPS step",
    )
    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.dap_total_gycm2 == pytest.approx(12.34)
    assert study.source_kind == "mpps"
