"""MPPS beside the RDSR it announces: whichever comes first, the RDSR's values count.

The MPPS messages go through `mpps_message_receive` (what the SCP handler
calls; the association itself is covered by test_mpps_scp.py) and the RDSR
through the received-object pipeline, both processed in-process (no broker).
"""

from __future__ import annotations

import pydicom
import pytest
from django.urls import reverse
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from ingest.models import MppsStep
from ingest.mpps import mpps_message_receive, mpps_step_process, mpps_step_sweep
from rdsr.models import DoseObject, IrradiationEvent, PlaneAccumulation, Study
from rdsr.mpps_links import mpps_steps_for_study
from tests.ingest.conftest import receive
from tests.ingest.corpus_copies import copy_dose_object
from tests.rdsr.test_mpps_parse import mpps_complete_xa, mpps_create

pytestmark = pytest.mark.django_db(transaction=True)
Status = MppsStep.Status
RDSR = "RF-RDSR-Philips_Allura.dcm"


def send_step(*parts: pydicom.Dataset, uid: str | None = None) -> MppsStep:
    """N-CREATE then N-SETs, as the SCP handler passes them on (explicit VR little endian)."""
    uid = uid or generate_uid()
    for n, ds in enumerate(parts):
        answer = mpps_message_receive(
            action="create" if n == 0 else "set",
            sop_instance_uid=uid,
            data=_encoded(ds),
            transfer_syntax_uid=ExplicitVRLittleEndian,
            calling_ae="ANGIO2",
        )
        assert answer.status == 0x0000, answer.comment
    return MppsStep.objects.get(sop_instance_uid=uid)


def _encoded(ds: pydicom.Dataset) -> bytes:
    from pynetdicom.dsutils import encode

    return encode(ds, False, True)


def rdsr_copy(corpus_file, tmp_path) -> tuple[bytes, pydicom.Dataset]:
    path = copy_dose_object(corpus_file(RDSR), tmp_path / f"{generate_uid()}.dcm")
    return path.read_bytes(), pydicom.dcmread(path, stop_before_pixels=True)


def snapshot(study_uid: str) -> tuple:
    study = Study.objects.get(study_instance_uid=study_uid)
    return (
        study.source_kind,
        study.event_count,
        study.dap_total_gycm2,
        study.fluoro_time_total_s,
        sorted(PlaneAccumulation.objects.filter(study=study).values_list("plane", "dap_total_gycm2", "fluoro_time_total_s")),
    )


def rdsr_alone(corpus_file, tmp_path) -> tuple:
    data, header = rdsr_copy(corpus_file, tmp_path)
    receive(data, enqueue=True)
    return snapshot(header.StudyInstanceUID)


def test_an_rdsr_arriving_after_the_mpps_takes_over_the_study(spool, no_broker, corpus_file, tmp_path):
    expected = rdsr_alone(corpus_file, tmp_path)
    data, header = rdsr_copy(corpus_file, tmp_path)
    study_uid = header.StudyInstanceUID

    step = send_step(mpps_create(study_uid=study_uid), mpps_complete_xa(rdsr_uid=header.SOPInstanceUID))

    assert snapshot(study_uid)[:3] == ("mpps", 1, pytest.approx(12.34))
    [link] = mpps_steps_for_study(study_id=step.study_id)
    [report] = link.dose_reports
    assert (report.sop_instance_uid, report.dose_report, report.received) == (header.SOPInstanceUID, "RDSR", False)

    receive(data, enqueue=True)

    assert Study.objects.count() == 2
    assert snapshot(study_uid) == expected
    study = Study.objects.get(study_instance_uid=study_uid)
    # The MPPS event is kept, not counted.
    assert IrradiationEvent.objects.filter(study=study, source_kind="mpps").count() == 1
    assert any("less reliable sources" in w for w in study.warnings)
    [link] = mpps_steps_for_study(study_id=study.pk)
    [report] = link.dose_reports
    assert report.received and report.received_status == "done"


def test_an_mpps_arriving_after_the_rdsr_changes_no_total(spool, no_broker, corpus_file, tmp_path):
    data, header = rdsr_copy(corpus_file, tmp_path)
    receive(data, enqueue=True)
    before = snapshot(header.StudyInstanceUID)
    assert before[0] == "rdsr"

    step = send_step(
        mpps_create(study_uid=header.StudyInstanceUID), mpps_complete_xa(rdsr_uid=header.SOPInstanceUID)
    )

    assert step.status == Status.DONE
    assert snapshot(header.StudyInstanceUID) == before
    assert step.study.study_instance_uid == header.StudyInstanceUID
    [link] = mpps_steps_for_study(study_id=step.study_id)
    assert link.dose_reports[0].received


def test_a_step_without_study_uid_joins_the_study_of_the_rdsr_it_references(
    spool, no_broker, corpus_file, tmp_path
):
    data, header = rdsr_copy(corpus_file, tmp_path)
    receive(data, enqueue=True)

    step = send_step(mpps_create(study_uid=None), mpps_complete_xa(rdsr_uid=header.SOPInstanceUID))

    assert step.status == Status.DONE, step.error
    assert step.study.study_instance_uid == header.StudyInstanceUID
    assert any("stored with the study of the referenced object" in w for w in step.warnings)
    assert Study.objects.count() == 1


def test_processing_a_step_again_changes_nothing(spool, no_broker):
    study_uid = generate_uid()
    step = send_step(mpps_create(study_uid=study_uid), mpps_complete_xa())

    def state():
        study = Study.objects.get(study_instance_uid=study_uid)
        return (
            list(Study.objects.values()),
            list(IrradiationEvent.objects.values()),
            list(DoseObject.objects.values()),
            list(PlaneAccumulation.objects.values()),
            list(MppsStep.objects.values()),
            study.updated_at,
        )

    first = state()
    mpps_step_process(step_id=step.pk)
    mpps_step_process(step_id=step.pk)

    assert state() == first


def test_the_sweeper_processes_a_step_whose_processing_never_ran(spool, no_broker):
    study_uid = generate_uid()
    step = send_step(mpps_create(study_uid=study_uid), mpps_complete_xa())
    # As if the worker had died before it stored anything.
    Study.objects.all().delete()
    MppsStep.objects.filter(pk=step.pk).update(status=Status.RECEIVED, study=None)

    assert mpps_step_sweep(older_than_seconds=0) == 1

    step.refresh_from_db()
    assert step.status == Status.DONE
    assert Study.objects.get(study_instance_uid=study_uid).dap_total_gycm2 == pytest.approx(12.34)


def test_the_admin_shows_steps_and_messages(spool, no_broker, client, django_user_model):
    step = send_step(mpps_create(study_uid=generate_uid()), mpps_complete_xa())
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.org", "pw-12345678"))

    for name, pk in (("mppsstep", step.pk), ("mppsmessage", step.messages.first().pk)):
        assert client.get(reverse(f"admin:ingest_{name}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:ingest_{name}_changelist"), {"q": "x"}).status_code == 200
        assert client.get(reverse(f"admin:ingest_{name}_change", args=[pk])).status_code == 200
    response = client.post(
        reverse("admin:ingest_mppsstep_changelist"),
        {"action": "reprocess", "_selected_action": [step.pk]},
    )
    assert response.status_code == 302
    assert MppsStep.objects.get().status == Status.DONE
