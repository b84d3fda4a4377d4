"""Storing several records in one transaction gives what storing them one by one gives."""

import datetime as dt
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rdsr.models import Device, DoseObject, IrradiationEvent, Patient, PlaneAccumulation, Study
from rdsr.parse import parse_file
from rdsr.services import RecordNotStorable, StoreResult, dose_record_store, dose_records_store

from .factories import ct_event, ct_record, uid

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "dicom"
DOSE_REPORTS = sorted(p.name for p in CORPUS.glob("*.dcm") if "RDSR" in p.name or "ESR-" in p.name)

_STUDY_FIELDS = [
    "study_instance_uid",
    "accession_number",
    "study_date",
    "modality",
    "event_count",
    "dlp_total_mgycm",
    "dap_total_gycm2",
    "fluoro_time_total_s",
    "agd_left_mgy",
    "agd_right_mgy",
    "stated_totals",
    "source_kind",
    "warnings",
    "patient__patient_id",
    "device__identity_key",
]


def _snapshot() -> dict:
    studies = {s["study_instance_uid"]: s for s in Study.objects.values(*_STUDY_FIELDS)}
    planes = sorted(
        (
            p.study.study_instance_uid,
            p.plane,
            p.dap_total_gycm2,
            p.dose_rp_total_mgy,
            p.fluoro_time_total_s,
            p.acquisition_time_total_s,
            p.frames_total,
            p.reference_point,
        )
        for p in PlaneAccumulation.objects.select_related("study")
    )
    events = sorted(
        (
            e.study.study_instance_uid,
            e.irradiation_event_uid or "",
            e.source_sop_instance_uid,
            e.position,
            e.source_kind,
            e.dlp_mgycm,
            e.dap_gycm2,
            e.dose_rp_mgy,
            e.agd_mgy,
        )
        for e in IrradiationEvent.objects.select_related("study")
    )
    objects = sorted(
        (
            o.study.study_instance_uid,
            o.sop_instance_uid,
            o.event_count,
            str(o.stated_totals),
            str(o.event_sums),
        )
        for o in DoseObject.objects.select_related("study")
    )
    return {"studies": studies, "planes": planes, "events": events, "objects": objects}


def _wipe() -> None:
    for model in (IrradiationEvent, DoseObject, PlaneAccumulation, Study, Patient, Device):
        model.objects.all().delete()


@pytest.mark.django_db
def test_the_whole_corpus_stored_in_one_batch_is_what_storing_each_object_gives(corpus_file):
    records = [parse_file(corpus_file(name)) for name in DOSE_REPORTS]
    # Twice: cumulative series, re-sent objects and multi-object studies all in one batch.
    records = records + records

    singles = [dose_record_store(record=r) for r in records]
    one_by_one = _snapshot()
    _wipe()
    batch = dose_records_store(records=records)
    together = _snapshot()

    assert together == one_by_one
    assert len(together["studies"]) > 10
    assert [(r.created_study, r.events_added, r.events_existing) for r in batch] == [
        (r.created_study, r.events_added, r.events_existing) for r in singles
    ]


@pytest.mark.django_db
def test_a_batch_with_the_same_record_twice_stores_it_once():
    record = ct_record(events=[ct_event(dlp=10.0), ct_event(dlp=20.0)], study_uid=uid())

    first, second = dose_records_store(records=[record, record])

    assert (first.created_study, first.events_added, first.events_existing) == (True, 2, 0)
    assert (second.created_study, second.events_added, second.events_existing) == (False, 0, 2)
    study = Study.objects.get()
    assert study.event_count == 2
    assert study.dlp_total_mgycm == pytest.approx(30.0)
    assert DoseObject.objects.count() == 1
    assert IrradiationEvent.objects.count() == 2


@pytest.mark.django_db
def test_two_cumulative_objects_of_one_study_in_one_batch_make_one_study_with_the_union():
    events = [ct_event(dlp=10.0 * (i + 1)) for i in range(4)]
    study_uid = uid()
    earlier = ct_record(events=events[:2], study_uid=study_uid)
    later = ct_record(events=events, study_uid=study_uid)

    results = dose_records_store(records=[earlier, later])

    assert [(r.created_study, r.events_added, r.events_existing) for r in results] == [
        (True, 2, 0),
        (False, 2, 2),
    ]
    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.event_count == 4
    assert study.dlp_total_mgycm == pytest.approx(100.0)
    assert study.stated_totals["sop_instance_uid"] == later.source.sop_instance_uid
    assert DoseObject.objects.filter(study=study).count() == 2


@pytest.mark.django_db
def test_a_record_that_cannot_be_stored_fails_alone_in_its_batch():
    good = ct_record(events=[ct_event(dlp=5.0)], study_uid=uid())
    no_study = ct_record(events=[ct_event(dlp=6.0)], study_uid="")
    broken = ct_record(events=[ct_event(dlp=7.0)], study_uid=uid())
    # A parser bug: something that is no event in the events list.
    broken.events.append(None)
    other = ct_record(events=[ct_event(dlp=8.0)], study_uid=uid())

    results = dose_records_store(records=[good, no_study, broken, other])

    assert isinstance(results[0], StoreResult) and isinstance(results[3], StoreResult)
    assert isinstance(results[1], RecordNotStorable)
    assert isinstance(results[2], Exception) and not isinstance(results[2], RecordNotStorable)
    assert sorted(Study.objects.values_list("dlp_total_mgycm", flat=True)) == [5.0, 8.0]
    assert not Study.objects.filter(study_instance_uid=broken.study.study_instance_uid).exists()


def _distinct_records(n: int) -> list:
    return [
        ct_record(
            events=[ct_event(dlp=1.0), ct_event(dlp=2.0)],
            study_uid=uid(),
            patient_id=f"Q-{uid()}",
            device_uid=uid(),
        )
        for _ in range(n)
    ]


@pytest.mark.django_db
def test_a_batch_costs_the_same_statements_whatever_its_size():
    counts = []
    for size in (3, 30):
        with CaptureQueriesContext(connection) as queries:
            results = dose_records_store(records=_distinct_records(size))
        assert all(isinstance(r, StoreResult) for r in results)
        counts.append(len(queries))
    # SQLite splits inserts at 999 parameters; PostgreSQL takes them in one.
    if connection.vendor == "postgresql":
        assert counts[0] == counts[1]
    assert counts[1] <= 20


@pytest.mark.django_db
def test_storing_a_batch_again_changes_nothing():
    records = _distinct_records(4)
    dose_records_store(records=records)
    before = _snapshot()

    again = dose_records_store(records=records)

    assert _snapshot() == before
    assert all((r.created_study, r.events_added, r.events_existing) == (False, 0, 2) for r in again)


@pytest.mark.django_db(transaction=True)
def test_two_workers_storing_overlapping_batches_at_once_end_with_one_study_each():
    for _ in range(3):
        study_uids = sorted(uid() for _ in range(6))
        events = {s: [ct_event(dlp=float(i + 1)) for i in range(3)] for s in study_uids}
        # The same studies in opposite orders, cumulative objects of each in both.
        left = [ct_record(events=events[s][:2], study_uid=s) for s in study_uids]
        right = [ct_record(events=events[s], study_uid=s) for s in reversed(study_uids)]
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(batch, barrier=barrier, errors=errors):
            try:
                barrier.wait(timeout=30)
                results = dose_records_store(records=batch)
                assert all(isinstance(r, StoreResult) for r in results), results
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=work, args=(b,)) for b in (left, right)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        assert not errors, errors
        for s in study_uids:
            study = Study.objects.get(study_instance_uid=s)
            assert study.event_count == 3
            assert study.dlp_total_mgycm == pytest.approx(6.0)


@pytest.mark.django_db
def test_rows_update_writes_each_rows_own_values_and_leaves_other_rows_alone():
    from rdsr.bulk import rows_update

    first, second, untouched = (Study.objects.create(study_instance_uid=uid()) for _ in range(3))
    first.warnings, first.stated_totals, first.dlp_total_mgycm = ["a", "b"], {"ct_totals": {"x": 1.5}}, 12.5
    second.warnings, second.stated_totals, second.dlp_total_mgycm = [], {}, None
    second.study_date, second.modality = dt.date(2024, 2, 29), "CT"
    first.event_count, second.event_count = 3, 0

    rows_update(
        model=Study,
        rows=[first, second],
        fields=["warnings", "stated_totals", "dlp_total_mgycm", "study_date", "modality", "event_count"],
    )

    one, two, three = (Study.objects.get(pk=s.pk) for s in (first, second, untouched))
    assert (one.warnings, one.stated_totals, one.dlp_total_mgycm, one.event_count) == (
        ["a", "b"],
        {"ct_totals": {"x": 1.5}},
        12.5,
        3,
    )
    assert (two.warnings, two.stated_totals, two.dlp_total_mgycm, two.study_date, two.modality) == (
        [],
        {},
        None,
        dt.date(2024, 2, 29),
        "CT",
    )
    assert (three.modality, three.study_date) == ("", None)
