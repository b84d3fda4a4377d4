"""Two workers storing objects of one study at the same moment end with one study.

Real threads, each with its own database connection, released together by a
barrier; run on PostgreSQL (row locks) as well as SQLite (IMMEDIATE writes).
"""

import threading

import pytest
from django.db import connection

from rdsr.models import Device, IrradiationEvent, Patient, Study
from rdsr.services import StoreResult, dose_record_store

from .factories import ct_event, ct_record, uid

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 5


def _store_at_once(records) -> list[StoreResult]:
    barrier = threading.Barrier(len(records))
    results: list[StoreResult | None] = [None] * len(records)
    errors: list[BaseException] = []

    def work(index, record):
        try:
            barrier.wait(timeout=30)
            results[index] = dose_record_store(record=record)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, r)) for i, r in enumerate(records)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert all(results), "a worker did not finish"
    return results


def test_two_cumulative_objects_of_a_new_study_stored_at_once_make_one_study_with_the_union_of_events():
    for n in range(ROUNDS):
        events = [ct_event(dlp=10.0 * (i + 1)) for i in range(4)]
        study_uid, patient_id, device_uid = uid(), f"RACE-{n}", uid()
        earlier = ct_record(
            events=events[:2], study_uid=study_uid, patient_id=patient_id, device_uid=device_uid
        )
        later = ct_record(events=events, study_uid=study_uid, patient_id=patient_id, device_uid=device_uid)

        results = _store_at_once([earlier, later])

        study = Study.objects.get(study_instance_uid=study_uid)
        assert sorted(r.created_study for r in results) == [False, True]
        assert study.event_count == 4
        assert study.dlp_total_mgycm == pytest.approx(100.0)
        assert IrradiationEvent.objects.filter(study=study).count() == 4
        assert Patient.objects.filter(patient_id=patient_id).count() == 1
        assert Device.objects.filter(identity_key=device_uid).count() == 1


def test_two_continuation_objects_stored_at_once_both_count_in_the_totals():
    for n in range(ROUNDS):
        study_uid = uid()
        dose_record_store(
            record=ct_record(events=[ct_event(dlp=1.0)], study_uid=study_uid, patient_id=f"C-{n}")
        )
        left = ct_record(events=[ct_event(dlp=10.0) for _ in range(30)], study_uid=study_uid)
        right = ct_record(events=[ct_event(dlp=100.0) for _ in range(30)], study_uid=study_uid)

        _store_at_once([left, right])

        study = Study.objects.get(study_instance_uid=study_uid)
        assert study.event_count == 61
        assert study.dlp_total_mgycm == pytest.approx(3301.0)
