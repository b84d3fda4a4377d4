"""Patients: matched on ID and issuer; the store fills blanks, the RIS will be the master."""

import datetime as dt

import pytest

from rdsr.models import Patient, Study
from rdsr.services import dose_record_store

from .factories import ct_event, ct_record, uid

pytestmark = pytest.mark.django_db


def test_it_matches_patients_on_id_and_issuer():
    a = ct_record(events=[ct_event()], study_uid=uid())
    b = ct_record(events=[ct_event()], study_uid=uid())
    c = ct_record(events=[ct_event()], study_uid=uid())
    c.patient.issuer_of_patient_id = "OTHER-HOSPITAL"
    for record in (a, b, c):
        dose_record_store(record=record)

    assert Patient.objects.count() == 2
    same = Study.objects.get(study_instance_uid=a.study.study_instance_uid).patient
    assert Study.objects.get(study_instance_uid=b.study.study_instance_uid).patient == same
    assert Study.objects.get(study_instance_uid=c.study.study_instance_uid).patient.issuer_of_patient_id == (
        "OTHER-HOSPITAL"
    )


def test_it_fills_blank_patient_fields_but_never_overwrites_known_ones():
    first = ct_record(events=[ct_event()], study_uid=uid())
    first.patient.birth_date = None
    first.patient.sex = None
    dose_record_store(record=first)

    second = ct_record(events=[ct_event()], study_uid=uid())
    second.patient.name = None
    second.patient.birth_date = "1980-05-06"
    second.patient.sex = "f"
    dose_record_store(record=second)

    third = ct_record(events=[ct_event()], study_uid=uid())
    third.patient.name = "Other^Name"
    third.patient.birth_date = "1999-09-09"
    dose_record_store(record=third)

    patient = Patient.objects.get()
    assert patient.name == "Doe^Jane"
    assert patient.birth_date == dt.date(1980, 5, 6)
    assert patient.sex == "F"


def test_it_leaves_the_patient_empty_when_the_record_has_no_patient_id():
    dose_record_store(record=ct_record(events=[ct_event()], patient_id=None))
    dose_record_store(record=ct_record(events=[ct_event()], study_uid=uid(), patient_id="  "))

    assert Patient.objects.count() == 0
    assert list(Study.objects.values_list("patient", flat=True)) == [None, None]


def test_it_keeps_the_patient_at_the_time_of_the_exam_on_the_study():
    record = ct_record(events=[ct_event()])
    record.patient.weight_kg = 81.5
    record.patient.height_m = 1.78
    record.patient.age_years = 54.0
    dose_record_store(record=record)

    study = Study.objects.get()
    assert (study.weight_kg, study.height_m, study.age_years) == (81.5, 1.78, 54.0)


def _hl7_patient(patient_id: str, issuer: str) -> Patient:
    return Patient.objects.create(patient_id=patient_id, issuer_of_patient_id=issuer, name="Feed^Patient")


@pytest.mark.parametrize("batch", [False, True])
def test_an_object_without_issuer_lands_on_the_one_ris_patient_with_that_id(batch):
    from rdsr.services import dose_records_store

    known = _hl7_patient("P-ISS-1", "HOSP")
    record = ct_record(events=[ct_event()], study_uid=uid())
    record.patient.patient_id, record.patient.issuer_of_patient_id = "P-ISS-1", None
    if batch:
        dose_records_store(records=[record])
    else:
        dose_record_store(record=record)
    assert Study.objects.get().patient == known
    assert Patient.objects.count() == 1


def test_an_object_without_issuer_is_not_guessed_onto_one_of_two_issuers():
    _hl7_patient("P-ISS-2", "HOSP")
    _hl7_patient("P-ISS-2", "CLINIC")
    record = ct_record(events=[ct_event()], study_uid=uid())
    record.patient.patient_id, record.patient.issuer_of_patient_id = "P-ISS-2", None
    dose_record_store(record=record)
    assert Study.objects.get().patient.issuer_of_patient_id == ""
    assert Patient.objects.count() == 3


def test_an_object_without_issuer_follows_an_alias_the_ris_merged_away():
    from rdsr.models import PatientAlias

    survivor = _hl7_patient("P-NEW", "HOSP")
    PatientAlias.objects.create(identifier="P-OLD", issuer_of_patient_id="HOSP", patient=survivor, reason="merge")
    record = ct_record(events=[ct_event()], study_uid=uid())
    record.patient.patient_id, record.patient.issuer_of_patient_id = "P-OLD", None
    dose_record_store(record=record)
    assert Study.objects.get().patient == survivor
