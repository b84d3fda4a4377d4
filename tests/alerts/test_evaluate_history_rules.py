"""Rules over a study's history: mean of the last 20 on a device, protocol medians, cumulative dose,
repeats, technique changes."""

import datetime as dt

import pytest

from alerts.models import Alert
from alerts.services import alerts_evaluate
from tests.alerts.conftest import ct_study
from tests.web.factories import make_device, make_event, make_patient, make_study

pytestmark = pytest.mark.django_db
DAY = dt.date(2024, 3, 1)


def test_the_mean_of_the_last_20_exams_on_a_device_above_twice_the_drl_after_one_above_three_times(only_rules):
    only_rules("de-mean20-ct-dlp")
    room = make_device(display_name="CT 2")
    for i in range(19):
        ct_study(name="CT head", dlp=1700.0, device=room, date=DAY + dt.timedelta(days=i))
    alerts_evaluate()
    assert not Alert.objects.exists()  # 19 exams, none above 3 × DRL
    last = ct_study(name="CT head", dlp=2600.0, device=room, date=DAY + dt.timedelta(days=30))
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert alert.study == last and alert.subject == f"device:{room.pk}:procedure:{alert.procedure_id}"
    assert alert.context["exams"] == 20 and alert.context["highest"] == 2600.0
    assert alert.value == pytest.approx((19 * 1700.0 + 2600.0) / 20)
    # The next exam on the device updates the same alert rather than raising another.
    ct_study(name="CT head", dlp=1800.0, device=room, date=DAY + dt.timedelta(days=31))
    alerts_evaluate()
    assert Alert.objects.count() == 1


def test_a_sequence_above_twice_its_protocols_median_on_the_device(only_rules):
    only_rules("protocol-2x-median-ctdivol")
    room = make_device()
    for i in range(10):
        ct_study(name=None, ctdivol=20.0 + i % 3, protocol="Abdomen routine", device=room, phantom="body32",
                 date=DAY + dt.timedelta(days=i))
    high = ct_study(name=None, ctdivol=60.0, protocol="Abdomen routine", device=room, phantom="body32",
                    date=DAY + dt.timedelta(days=20))
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert alert.study == high and alert.context["protocol"] == "Abdomen routine"
    assert alert.context["protocol_median"] == 21.0 and alert.context["median_of_exams"] == 10


def test_cumulative_ct_dose_of_one_patient_over_a_year(only_rules):
    only_rules("cumulative-ct-dlp-year")
    patient = make_patient()
    ct_study(name="CT chest", dlp=2000.0, patient=patient, date=dt.date(2023, 1, 10))  # outside the year
    ct_study(name="CT chest", dlp=2400.0, patient=patient, date=dt.date(2023, 9, 1))
    last = ct_study(name="CT abdomen-pelvis", dlp=2700.0, patient=patient, date=dt.date(2024, 3, 1))
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert alert.study == last and alert.value == 5100.0 and alert.unit == "mGy·cm"
    assert alert.context["exams"] == 2


def test_a_repeated_ct_of_the_same_region_within_48_hours(only_rules):
    only_rules("repeat-ct-48h")
    patient = make_patient()
    first = ct_study(name="CT head", patient=patient, study_time=dt.time(22, 0))
    again = ct_study(name="CT sinuses", patient=patient, date=DAY + dt.timedelta(days=1), study_time=dt.time(8, 0))
    ct_study(name="CT chest", patient=patient, date=DAY + dt.timedelta(days=1), study_time=dt.time(9, 0))
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert alert.study == again and alert.context["previous_study"] == first.pk
    assert alert.value == 10.0 and alert.unit == "h"


def test_a_change_of_kvp_on_a_protocol_after_its_usual_technique(only_rules):
    only_rules("technique-ct")
    room = make_device(display_name="CT 3")
    for i in range(6):
        study = make_study(modality="CT", device=room, study_date=DAY + dt.timedelta(days=i))
        make_event(study, protocol="Thorax", ctdivol_mgy=8.0, kvp=120.0, pitch=1.0)
    changed = make_study(modality="CT", device=room, study_date=DAY + dt.timedelta(days=10))
    make_event(changed, protocol="Thorax", ctdivol_mgy=8.0, kvp=100.0, pitch=1.0)
    alerts_evaluate()
    [alert] = Alert.objects.all()
    assert alert.study == changed
    assert alert.context["changes"] == [{"protocol": "Thorax", "parameter": "kvp", "was": 120.0, "now": 100.0}]
    assert "CT 3" in alert.message
