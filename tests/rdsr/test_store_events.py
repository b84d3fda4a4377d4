"""Events: de-duplicated within a study, whatever objects repeat them."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rdsr.models import IrradiationEvent, Study
from rdsr.record import DoseCheck, XraySource
from rdsr.services import dose_record_store

from .factories import ct_event, ct_record, projection_event, projection_record, uid

pytestmark = pytest.mark.django_db


def test_it_keeps_the_union_of_events_of_cumulative_objects():
    e1, e2, e3 = ct_event(dlp=10.0), ct_event(dlp=20.0), ct_event(dlp=30.0)
    study_uid = uid()
    after = []
    for events in ([e1], [e1, e2], [e1, e2, e3], [e1]):
        dose_record_store(record=ct_record(events=events, study_uid=study_uid))
        study = Study.objects.get()
        after.append((study.event_count, study.dlp_total_mgycm))

    assert after == [(1, 10.0), (2, 30.0), (3, 60.0), (3, 60.0)]
    assert IrradiationEvent.objects.count() == 3


def test_it_keeps_the_union_of_events_of_continuation_objects():
    study_uid = uid()
    first = ct_record(events=[ct_event(dlp=10.0), ct_event(dlp=20.0)], study_uid=study_uid)
    second = ct_record(events=[ct_event(dlp=40.0)], study_uid=study_uid)
    dose_record_store(record=first)
    result = dose_record_store(record=second)

    assert (result.events_added, result.events_existing) == (1, 0)
    study = Study.objects.get()
    assert study.event_count == 3
    assert study.dlp_total_mgycm == pytest.approx(70.0)
    # Each object's own total agrees with its own events: no warning.
    assert study.warnings == []


def test_it_keys_events_without_uid_on_their_position_in_the_object():
    record = ct_record(events=[ct_event(irradiation_event_uid=None), ct_event(irradiation_event_uid=None)])
    dose_record_store(record=record)
    result = dose_record_store(record=record)

    assert (result.events_added, result.events_existing) == (0, 2)
    assert list(IrradiationEvent.objects.values_list("irradiation_event_uid", "position")) == [
        (None, 1),
        (None, 2),
    ]


def test_it_warns_that_uidless_events_of_several_objects_may_repeat_each_other():
    study_uid = uid()
    for _ in range(2):
        dose_record_store(
            record=ct_record(events=[ct_event(irradiation_event_uid=None, dlp=5.0)], study_uid=study_uid)
        )

    study = Study.objects.get()
    assert study.event_count == 2
    assert any("without Irradiation Event UID" in w for w in study.warnings)


def test_it_ignores_an_event_repeated_within_one_object():
    event = ct_event(dlp=12.0)
    dose_record_store(record=ct_record(events=[event, event], dlp_total=12.0))

    study = Study.objects.get()
    assert study.event_count == 1
    assert study.dlp_total_mgycm == 12.0


def test_it_keeps_event_fields_in_columns_and_the_rest_in_details():
    event = ct_event(
        dlp=123.4,
        ctdivol=8.2,
        phantom="body32",
        kvp=120.0,
        datetime_started="2024-03-01T10:16:30",
        xray_source_count=2,
        sources=[XraySource(kvp=80.0, tube_current_ma=300.0, exposure_time_s=1.5)],
        dose_check=DoseCheck(ctdivol_alert_mgy=50.0, reason_for_proceeding="clinical need"),
        filters=[{"type": "wedge"}],
        confidence={"dlp_mgycm": 0.97},
    )
    event.extra_vendor_value = "kept"  # a field the record does not declare yet
    dose_record_store(record=ct_record(events=[event]))

    stored = IrradiationEvent.objects.get()
    assert stored.irradiation_event_uid == event.irradiation_event_uid
    assert (stored.dlp_mgycm, stored.ctdivol_mgy, stored.phantom, stored.kvp) == (123.4, 8.2, "body32", 120.0)
    assert stored.event_type == "Spiral Acquisition"
    assert stored.source_kind == "rdsr"
    assert stored.datetime_started.astimezone(dt.UTC) == dt.datetime(2024, 3, 1, 9, 16, 30, tzinfo=dt.UTC)
    assert (
        stored.details["sources"][0] | {"kvp": 80.0, "tube_current_ma": 300.0, "exposure_time_s": 1.5}
        == (stored.details["sources"][0])
    )
    assert stored.details["dose_check"]["ctdivol_alert_mgy"] == 50.0
    assert stored.details["dose_check"]["reason_for_proceeding"] == "clinical need"
    assert stored.details["filters"] == [{"type": "wedge"}]
    assert stored.details["confidence"] == {"dlp_mgycm": 0.97}
    assert stored.details["xray_source_count"] == 2
    assert stored.details["extra_vendor_value"] == "kept"
    assert "dlp_mgycm" not in stored.details


def test_it_lets_a_better_source_take_over_an_event_it_also_reports():
    shared_uid = uid()
    study_uid = uid()
    header = projection_record(
        events=[projection_event(irradiation_event_uid=shared_uid, dap=0.9)],
        study_uid=study_uid,
        kind="image-header",
        modality="DX",
    )
    rdsr = projection_record(
        events=[projection_event(irradiation_event_uid=shared_uid, dap=1.0)],
        study_uid=study_uid,
        modality="DX",
    )
    dose_record_store(record=header)
    dose_record_store(record=rdsr)
    dose_record_store(record=header)

    stored = IrradiationEvent.objects.get()
    assert (stored.source_kind, stored.dap_gycm2) == ("rdsr", 1.0)
    assert stored.source_sop_instance_uid == rdsr.source.sop_instance_uid
    study = Study.objects.get()
    assert (study.source_kind, study.dap_total_gycm2) == ("rdsr", 1.0)


def test_it_updates_its_own_events_when_the_same_object_is_stored_again_with_new_values():
    event = ct_event(dlp=100.0)
    record = ct_record(events=[event], dlp_total=110.0)
    dose_record_store(record=record)
    event.dlp_mgycm = 110.0  # a corrected parser reads the object again

    result = dose_record_store(record=record)

    assert (result.events_added, result.events_existing) == (0, 1)
    assert IrradiationEvent.objects.get().dlp_mgycm == 110.0
    study = Study.objects.get()
    assert study.dlp_total_mgycm == 110.0
    assert study.warnings == []


def test_it_keeps_the_first_copy_of_an_event_repeated_by_another_object_of_the_same_kind():
    event = ct_event(dlp=100.0)
    study_uid = uid()
    dose_record_store(record=ct_record(events=[event], study_uid=study_uid))
    repeated = ct_event(dlp=100.0, irradiation_event_uid=event.irradiation_event_uid, protocol="Renamed")
    dose_record_store(record=ct_record(events=[repeated], study_uid=study_uid))

    assert IrradiationEvent.objects.get().protocol == "Abdomen"


def _statements_to_store(record) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        dose_record_store(record=record)
    return [q["sql"] for q in ctx.captured_queries]


def test_it_issues_the_same_queries_for_three_hundred_events_as_for_one_apart_from_insert_batches():
    dose_record_store(record=ct_record(events=[ct_event()], study_uid=uid()))  # patient and device exist
    one = _statements_to_store(ct_record(events=[ct_event()], study_uid=uid()))
    many = _statements_to_store(ct_record(events=[ct_event() for _ in range(300)], study_uid=uid()))

    def event_inserts(statements):
        return [s for s in statements if s.startswith('INSERT INTO "rdsr_irradiationevent"')]

    def others(statements):
        return [s for s in statements if s not in event_inserts(statements)]

    assert len(others(many)) == len(others(one))
    assert len(event_inserts(one)) == 1
    # SQLite takes at most 999 parameters a statement (about 24 event rows).
    assert 1 <= len(event_inserts(many)) <= 300 // 20
