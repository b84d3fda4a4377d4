"""The study a record lands in: one per Study Instance UID, filled, never blanked."""

import datetime as dt

import pytest

from rdsr.models import Device, DoseObject, IrradiationEvent, Patient, PlaneAccumulation, Study
from rdsr.services import RecordNotStorable, dose_record_store

from .factories import ct_event, ct_record, projection_event, projection_record

pytestmark = pytest.mark.django_db


def _row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Patient, Device, Study, DoseObject, IrradiationEvent, PlaneAccumulation)
    }


def test_it_creates_one_study_with_its_descriptive_fields():
    record = ct_record(events=[ct_event(dlp=50.0), ct_event(dlp=25.5)])

    result = dose_record_store(record=record)

    study = Study.objects.get()
    assert result.study == study
    assert result.created_study is True
    assert (result.events_added, result.events_existing) == (2, 0)
    assert study.study_instance_uid == record.study.study_instance_uid
    assert study.accession_number == "ACC1"
    assert study.study_date == dt.date(2024, 3, 1)
    assert study.study_time == dt.time(10, 15)
    assert study.modality == "CT"
    assert study.source_kind == "rdsr"
    assert study.event_count == 2
    assert study.dlp_total_mgycm == pytest.approx(75.5)
    assert study.patient.patient_id == "P1"
    assert study.device.manufacturer == "ACME"
    assert study.warnings == []


def test_it_changes_nothing_when_the_same_record_is_stored_twice():
    record = projection_record(events=[projection_event(dap=1.5), projection_event(dap=2.5)])
    dose_record_store(record=record)
    before = _row_counts()
    study = Study.objects.get()

    result = dose_record_store(record=record)

    assert _row_counts() == before
    assert (result.created_study, result.events_added, result.events_existing) == (False, 0, 2)
    again = Study.objects.get()
    assert again.updated_at == study.updated_at
    assert again.dap_total_gycm2 == study.dap_total_gycm2 == pytest.approx(4.0)
    assert list(PlaneAccumulation.objects.values_list("id", "dap_total_gycm2")) == [
        (PlaneAccumulation.objects.get().id, pytest.approx(4.0))
    ]


def test_it_fills_blank_study_fields_without_blanking_known_ones():
    first = ct_record(events=[ct_event()])
    first.study.accession_number = None
    first.study.study_description = "Original description"
    dose_record_store(record=first)

    second = ct_record(events=[ct_event()], study_uid=first.study.study_instance_uid)
    second.study.accession_number = "ACC-LATE"
    second.study.study_description = None
    second.study.study_date = None
    dose_record_store(record=second)

    study = Study.objects.get()
    assert study.accession_number == "ACC-LATE"
    assert study.study_description == "Original description"
    assert study.study_date == dt.date(2024, 3, 1)


def test_it_refuses_a_record_without_study_instance_uid():
    record = ct_record(events=[ct_event()])
    record.study.study_instance_uid = None

    with pytest.raises(RecordNotStorable, match="Study Instance UID"):
        dose_record_store(record=record)
    assert Study.objects.count() == 0


def test_it_refuses_a_record_that_is_not_a_dose_record():
    record = ct_record(events=[])
    record.source.kind = "not-dose"

    with pytest.raises(RecordNotStorable, match="not a dose record"):
        dose_record_store(record=record)


def test_it_refuses_a_record_without_sop_instance_uid():
    record = ct_record(events=[ct_event()])
    record.source.sop_instance_uid = ""

    with pytest.raises(RecordNotStorable, match="SOP Instance UID"):
        dose_record_store(record=record)


def test_it_keeps_one_provenance_row_per_stored_object():
    first = ct_record(events=[ct_event(dlp=10.0)])
    second = ct_record(events=[ct_event(dlp=20.0)], study_uid=first.study.study_instance_uid)
    for record in (first, second, first):
        dose_record_store(record=record)

    objects = DoseObject.objects.order_by("id")
    assert [o.sop_instance_uid for o in objects] == [
        first.source.sop_instance_uid,
        second.source.sop_instance_uid,
    ]
    assert objects[0].stated_totals["ct_totals"]["dlp_total_mgycm"] == 10.0
    assert objects[0].event_sums["dlp_total_mgycm"] == 10.0
