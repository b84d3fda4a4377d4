"""Each rule alone, over plain facts (no database)."""

import datetime as dt

from alerts import rules
from alerts.rules import Drl, EventFacts, ExamFacts, OrderFacts, RuleSpec


def _spec(kind, quantity="", threshold=None, **fields):
    return RuleSpec(id=1, name=f"{kind} rule", kind=kind, quantity=quantity, threshold=threshold, **fields)


def _ct(*ctdivols, region="Head", **fields):
    exam = ExamFacts(study_id=7, modality="CT", study_date=dt.date(2024, 3, 1), procedure="CT head", region=region,
                     device="CT 1", weight_kg=82.0, series=len(ctdivols), **fields)
    exam.events = [EventFacts(event_id=i, protocol=f"P{i}", region=region, ctdivol_mgy=v) for i, v in enumerate(ctdivols)]
    return exam


def test_an_absolute_level_finds_the_worst_sequence_with_its_context():
    [finding] = rules.absolute_level(_spec("absolute", "ctdivol", 120.0), _ct(60.0, 130.0))
    assert finding.value == 130.0 and finding.threshold == 120.0 and finding.unit == "mGy"
    assert finding.context["protocol"] == "P1" and finding.context["weight_kg"] == 82.0
    assert finding.context["series"] == 2 and finding.context["device"] == "CT 1"


def test_a_value_at_the_level_is_not_above_it():
    assert rules.absolute_level(_spec("absolute", "ctdivol", 120.0), _ct(120.0)) == []


def test_a_region_rule_looks_only_at_its_region_or_everything_else():
    head = _spec("absolute", "ctdivol", 80.0, body_region="head,brain")
    other = _spec("absolute", "ctdivol", 80.0, body_region="head,brain", body_region_exclude=True)
    assert rules.absolute_level(head, _ct(100.0, region="Head"))
    assert rules.absolute_level(other, _ct(100.0, region="Head")) == []
    assert rules.absolute_level(other, _ct(100.0, region="Abdomen"))


def test_the_scope_of_a_rule_is_modality_procedure_room_and_patient_group():
    exam = _ct(10.0, procedure_id=3, device_id=4, age_years=9.0)
    assert rules.applies(_spec("absolute", modalities=("CT",)), exam)
    assert not rules.applies(_spec("absolute", modalities=("RF", "XA")), exam)
    assert not rules.applies(_spec("absolute", procedure_id=5), exam)
    assert not rules.applies(_spec("absolute", device_id=5), exam)
    assert not rules.applies(_spec("absolute", patient_group="adult"), exam)
    assert rules.applies(_spec("absolute", patient_group="paediatric"), exam)


def test_a_multiple_of_the_drl_compares_each_sequence_with_its_own_drl():
    exam = _ct(100.0)
    exam.events[0].drl_ctdivol = Drl(47.0, "UK 2022: CT head, per sequence")
    [finding] = rules.drl_multiple(_spec("drl_multiple", "ctdivol", 2.0), exam)
    assert finding.threshold == 94.0 and finding.context["multiple_of_drl"] == 2.13
    assert finding.context["drl_source"].startswith("UK 2022")


def test_an_exam_total_is_compared_with_the_exam_drl():
    exam = _ct(10.0, totals={"dlp": 1000.0}, drls={"dlp": Drl(790.0, "UK")})
    assert rules.drl_multiple(_spec("drl_multiple", "dlp", 2.0), exam) == []
    assert rules.drl_multiple(_spec("drl_multiple", "dlp", 1.2), exam)[0].value == 1000.0


def test_the_mean_of_the_last_twenty_counts_only_after_one_above_three_times_the_drl():
    spec = _spec("mean_of_last", "dlp", 2.0, threshold_single=3.0, count=20)
    drl = Drl(100.0, "DRL")
    exam = _ct(10.0)
    high_mean_no_spike = [210.0] * 20
    assert rules.mean_of_last_exceeds(spec, exam, high_mean_no_spike, drl) == []
    with_spike = [205.0] * 19 + [310.0]
    [finding] = rules.mean_of_last_exceeds(spec, exam, with_spike, drl)
    assert finding.value > 200.0 and finding.context["highest"] == 310.0 and finding.context["exams"] == 20
    assert rules.mean_of_last_exceeds(spec, exam, with_spike[1:], drl) == []  # fewer than 20


def test_a_ct_dose_check_alert_carries_the_operators_reason():
    exam = _ct(30.0)
    exam.events[0].dose_check = {"ctdivol_alert_mgy": 80.0, "accumulated_ctdivol_forward_estimate_mgy": 95.0,
                                 "reason_for_proceeding": "obese patient", "person": "Tech^Tina"}
    [finding] = rules.ct_dose_check(_spec("dose_check", "dose_check_alert"), exam)
    assert finding.context["reason_for_proceeding"] == "obese patient" and finding.context["person"] == "Tech^Tina"
    assert "CTDIvol" in finding.message
    assert rules.ct_dose_check(_spec("dose_check", "dose_check_notification"), exam) == []


def test_a_configured_dose_check_that_was_not_reached_is_no_alert():
    exam = _ct(30.0)
    exam.events[0].dose_check = {"ctdivol_alert_mgy": 1000.0, "accumulated_ctdivol_forward_estimate_mgy": 95.0}
    assert rules.ct_dose_check(_spec("dose_check", "dose_check_alert"), exam) == []


def test_a_protocol_above_twice_its_own_median_is_found_when_the_median_rests_on_enough_exams():
    spec = _spec("protocol_median", "ctdivol", 2.0, count=10)
    exam = _ct(50.0)
    assert rules.protocol_median(spec, exam, {"P0": (20.0, 9)}) == []
    [finding] = rules.protocol_median(spec, exam, {"P0": (20.0, 12)})
    assert finding.context["protocol_median"] == 20.0 and finding.context["multiple_of_median"] == 2.5


def test_cumulative_dose_adds_the_patients_exams_inside_the_window():
    spec = _spec("cumulative", "dlp", 2000.0, window_days=365)
    exam = _ct(10.0, totals={"dlp": 800.0})
    earlier = [(1, dt.date(2023, 6, 1), 700.0), (2, dt.date(2022, 1, 1), 5000.0)]
    assert rules.cumulative_dose(spec, exam, earlier) == []
    [finding] = rules.cumulative_dose(spec, exam, earlier + [(3, dt.date(2024, 2, 1), 600.0)])
    assert finding.value == 2100.0 and finding.context["studies"] == [1, 3, 7]


def test_a_repeat_of_the_same_region_within_the_window_is_found():
    spec = _spec("repeat", "repeat", window_days=2)
    exam = _ct(10.0, started=dt.datetime(2024, 3, 2, 9, 0, tzinfo=dt.UTC))
    earlier = [(3, dt.datetime(2024, 3, 1, 21, 0, tzinfo=dt.UTC), "head"),
               (4, dt.datetime(2024, 3, 1, 22, 0, tzinfo=dt.UTC), "Chest")]
    [finding] = rules.repeated_exam(spec, exam, earlier)
    assert finding.value == 12.0 and finding.context["previous_study"] == 3
    assert rules.repeated_exam(spec, exam, [(3, dt.datetime(2024, 2, 20, tzinfo=dt.UTC), "Head")]) == []


def test_a_change_of_technique_is_found_against_the_protocols_usual_values():
    spec = _spec("technique", "technique", 0.05, count=5)
    exam = _ct(10.0)
    exam.events[0].kvp, exam.events[0].pitch, exam.events[0].filter = 100.0, 0.56, "WEDGE B"
    history = {"P0": [{"kvp": 120.0, "pitch": 0.55, "filter": "WEDGE A"}] * 6}
    [finding] = rules.technique_change(spec, exam, history)
    changed = {c["parameter"]: (c["was"], c["now"]) for c in finding.context["changes"]}
    assert changed == {"kvp": (120.0, 100.0), "filter": ("WEDGE A", "WEDGE B")}  # pitch within 5 %
    assert rules.technique_change(spec, exam, {"P0": history["P0"][:4]}) == []  # too little history


def test_an_order_without_dose_data_counts_after_its_grace_hours():
    spec = _spec("order", "order", 24.0)
    order = OrderFacts(order_id=5, accession_number="ACC9", procedure="CT abdomen",
                       scheduled_at=dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC), modality="CT")
    assert rules.order_without_dose(spec, order, dt.datetime(2024, 3, 2, 7, 0, tzinfo=dt.UTC)) == []
    [finding] = rules.order_without_dose(spec, order, dt.datetime(2024, 3, 2, 9, 0, tzinfo=dt.UTC))
    assert finding.context["accession_number"] == "ACC9" and finding.value == 25.0
