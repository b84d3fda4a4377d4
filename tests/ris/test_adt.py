"""ADT from the HIS: register, update demographics, merge, change ID; all in the audit trail."""

import datetime as dt

import pytest

from audit.models import AuditEvent
from ingest.models import Hl7Message
from rdsr.models import Patient, PatientAlias, Study
from tests.ris.hl7_messages import adt, apply, dose_study

pytestmark = pytest.mark.django_db


def test_it_registers_a_patient_from_an_a01():
    apply(adt("A01", "P1", name="Muster^Max", birth="19800215", sex="M"))
    patient = Patient.objects.get(patient_id="P1", issuer_of_patient_id="HOSP")
    assert (patient.name, patient.birth_date, patient.sex) == ("Muster^Max", dt.date(1980, 2, 15), "M")
    assert AuditEvent.objects.filter(action="create", patient_pk=patient.pk, source="hl7").exists()


def test_it_updates_demographics_from_an_a08_and_ages_follow_the_corrected_birth_date():
    apply(adt("A01", "P1", birth="19800215"))
    patient = Patient.objects.get(patient_id="P1")
    study = dose_study(study_uid="1.2.9.1", patient_id="P1")
    Study.objects.filter(pk=study.pk).update(patient=patient, age_years=45.0)

    apply(adt("A08", "P1", name="Muster^Moritz", birth="19900215"))

    patient.refresh_from_db()
    assert (patient.name, patient.birth_date) == ("Muster^Moritz", dt.date(1990, 2, 15))
    assert Study.objects.get(pk=study.pk).age_years == 35.0
    change = AuditEvent.objects.get(action="change", patient_pk=patient.pk)
    assert change.details["changes"]["birth_date"] == ["1980-02-15", "1990-02-15"]


def test_it_merges_the_dose_history_of_an_a40_and_keeps_the_old_id_as_alias():
    old = dose_study(study_uid="1.2.9.2", patient_id="OLD")
    new = dose_study(study_uid="1.2.9.3", patient_id="NEW")
    Patient.objects.filter(patient_id__in=["OLD", "NEW"]).update(issuer_of_patient_id="HOSP")

    apply(adt("A40", "NEW", prior="OLD"))

    survivor = Patient.objects.get(patient_id="NEW")
    assert set(survivor.studies.values_list("pk", flat=True)) == {old.pk, new.pk}
    assert not Patient.objects.filter(patient_id="OLD").exists()
    assert PatientAlias.objects.get(identifier="OLD").patient == survivor
    assert AuditEvent.objects.filter(action="merge", patient_pk=survivor.pk).exists()


def test_a_dicom_object_arriving_after_a_merge_with_the_old_id_lands_on_the_survivor():
    from rdsr.services import dose_record_store
    from tests.rdsr.factories import ct_event, ct_record, uid

    dose_study(study_uid="1.2.9.4", patient_id="OLD2")
    Patient.objects.filter(patient_id="OLD2").update(issuer_of_patient_id="HOSP")
    apply(adt("A40", "NEW2", prior="OLD2"))

    record = ct_record(events=[ct_event()], study_uid=uid(), patient_id="OLD2", sop_uid=uid())
    record.patient.issuer_of_patient_id = "HOSP"
    late = dose_record_store(record=record).study
    survivor = Patient.objects.get(patient_id="NEW2")
    assert late.patient == survivor
    assert survivor.studies.count() == 2


def test_a_dicom_object_with_the_merged_id_and_issuer_finds_the_survivor_in_a_batch():
    from rdsr.services import dose_records_store
    from tests.rdsr.factories import ct_event, ct_record, uid

    apply(adt("A01", "KEEP"))
    apply(adt("A40", "KEEP", prior="GONE"))
    record = ct_record(events=[ct_event()], study_uid=uid(), patient_id="GONE", sop_uid=uid())
    record.patient.issuer_of_patient_id = "HOSP"
    [result] = dose_records_store(records=[record])
    assert result.study.patient.patient_id == "KEEP"
    assert not Patient.objects.filter(patient_id="GONE").exists()


def test_it_changes_an_identifier_from_an_a47_and_keeps_the_old_one_as_alias():
    apply(adt("A01", "P47"))
    apply(adt("A47", "P47NEW", prior="P47"))
    patient = Patient.objects.get(patient_id="P47NEW")
    assert PatientAlias.objects.get(identifier="P47").patient == patient


def test_it_keeps_an_adt_event_it_does_not_use_as_ignored():
    message = apply(adt("A02", "P2"))
    assert message.status == Hl7Message.Status.IGNORED


def test_it_keeps_an_adt_without_patient_id_for_review():
    message = apply(adt("A01", ""))
    assert message.status == Hl7Message.Status.FAILED
    assert "PID-3" in message.error
