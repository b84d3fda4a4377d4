"""Statistics per procedure × room on a small known data set (SQL on PostgreSQL, pandas elsewhere)."""

import datetime
import math

import pytest

from drl import stats_selectors as sel
from drl.models import DrlSet, DrlValue, StandardProcedure
from drl.services import mapping_refresh, mapping_rule_add
from tests.web.factories import make_device, make_event, make_patient, make_study

D = datetime.date


def build_world():
    """Room A: DLP 100, 200, 300, 400 (weights 60, 70, 100, unknown); room B: 600; a phantom 9999."""
    ap = StandardProcedure.objects.get(name="CT abdomen-pelvis")
    mapping_rule_add(procedure_id=ap.pk, level="study", conditions=[
        {"field": "study_description", "test": "contains", "value": "abdomen"}], username="t")
    local = DrlSet.objects.create(name="Test local", kind=DrlSet.Kind.LOCAL, valid_from=D(2020, 1, 1))
    DrlValue.objects.create(drl_set=local, procedure=ap, quantity="dlp", unit="mGy·cm", level="exam", value=300)
    DrlValue.objects.create(drl_set=local, procedure=ap, quantity="ctdivol", unit="mGy", level="sequence",
                            value=10)
    room_a = make_device(display_name="CT A", identity_key="ct-a")
    room_b = make_device(display_name="CT B", identity_key="ct-b")
    patient = make_patient(patient_id="P-1", name="Doe^Jane")
    studies = []
    for i, (dlp, weight) in enumerate([(100, 60), (200, 70), (300, 100), (400, None)]):
        s = make_study(device=room_a, patient=patient, study_description="CT abdomen", dlp_total_mgycm=dlp,
                       weight_kg=weight, study_date=D(2024, 1 + i, 10), accession_number=f"ACC{i}")
        make_event(s, event_type="Constant Angle Acquisition", protocol="Topogram", ctdivol_mgy=0.1)
        make_event(s, event_type="Spiral Acquisition", protocol="AP", ctdivol_mgy=dlp / 40,
                   kvp=120 if i < 2 else 100)
        studies.append(s)
    # A value in review (unconfirmed unit): out of every statistic, but counted as left out.
    make_event(studies[0], event_type="Spiral Acquisition", protocol="AP", ctdivol_mgy=80.0,
               details={"review": ["ctdivol_mgy"]})
    b = make_study(device=room_b, study_description="CT abdomen", dlp_total_mgycm=600, weight_kg=75,
                   study_date=D(2024, 2, 1))
    make_event(b, event_type="Spiral Acquisition", protocol="AP", ctdivol_mgy=15)
    make_study(device=room_a, study_description="CT abdomen phantom", dlp_total_mgycm=9999, non_patient=True,
               study_date=D(2024, 2, 2))
    mapping_refresh(everything=True)
    return {"procedure": ap, "a": room_a, "b": room_b, "studies": studies, "b_study": b, "patient": patient}


@pytest.fixture
def world(db):
    return build_world()


def _filter(world, **kw):
    kw.setdefault("procedure_id", world["procedure"].pk)
    return sel.StatsFilter(date_from=D(2024, 1, 1), date_to=D(2024, 12, 31), **kw)


def _rows(world, **kw):
    return {(r.device.display_name, r.quantity): r for r in sel.stat_rows(_filter(world, **kw), use_cache=False)}


def test_it_gives_the_hand_computed_figures_per_room(world):
    a = _rows(world, min_n=3)[("CT A", "dlp")]
    assert (a.n, a.median, a.mean, a.min, a.max) == (4, 250, 250, 100, 400)
    assert a.p75 == pytest.approx(325)  # (4 - 1) * 0.75 = 2.25 → 300 + 0.25 × 100
    assert a.sd == pytest.approx(math.sqrt(50000 / 3))
    assert a.drl.value == 300 and a.ratio == pytest.approx(250 / 300) and a.compliance == "below"


def test_a_room_below_the_minimum_sample_size_is_shown_but_not_compared(world):
    rows = _rows(world, min_n=3)
    b = rows[("CT B", "dlp")]
    assert b.n == 1 and not b.enough and b.compliance == "few" and b.ratio_class == "r-none"
    assert rows[("CT A", "dlp")].enough
    assert not _rows(world, min_n=20)[("CT A", "dlp")].enough  # the default rule: 20


def test_the_size_filter_keeps_50_to_90_kg_and_unknown_weights(world):
    a = _rows(world, standard_size=True)[("CT A", "dlp")]
    assert (a.n, a.median, a.max) == (3, 200, 400)  # 100 kg left out; unknown weight kept
    assert a.p75 == pytest.approx(300)  # (3 - 1) * 0.75 = 1.5 → 200 + 0.5 × 200


def test_ctdivol_counts_sequences_without_scouts_or_values_in_review(world):
    a = _rows(world)[("CT A", "ctdivol")]
    assert a.n == 4 and a.median == pytest.approx(6.25) and a.max == 10


def test_non_patient_studies_and_values_in_review_are_left_out_and_counted(world):
    rows = _rows(world)
    assert rows[("CT A", "dlp")].max == 400
    excluded = sel.exclusions(_filter(world))
    assert excluded.non_patient_studies == 1 and excluded.values_in_review == 1


def test_monthly_medians_make_the_timeline_with_technique_changes(world):
    tl = sel.timeline(_filter(world, quantity="ctdivol"), use_cache=False)
    points = tl.series[world["a"]]
    assert [(m, v) for m, v, _n in points] == [
        (D(2024, 1, 1), 2.5), (D(2024, 2, 1), 5.0), (D(2024, 3, 1), 7.5), (D(2024, 4, 1), 10.0)
    ]
    assert tl.changes[world["a"]] == [(D(2024, 3, 1), 120, 100)]
    assert tl.drl.value == 10


def test_statistics_per_month_group_by_period(world):
    rows = sel.stat_rows(_filter(world, quantity="dlp", period="month"), use_cache=False)
    assert [(r.device.display_name, r.period, r.n) for r in rows] == [
        ("CT A", D(2024, 1, 1), 1), ("CT A", D(2024, 2, 1), 1), ("CT A", D(2024, 3, 1), 1),
        ("CT A", D(2024, 4, 1), 1), ("CT B", D(2024, 2, 1), 1),
    ]


def test_exams_above_a_multiple_of_the_drl_are_listed_highest_first(world):
    found = sel.exceedances(_filter(world, quantity="dlp"), multiple=1)
    assert [(x.value, x.study.device.display_name) for x in found] == [(600, "CT B"), (400, "CT A")]
    assert [x.value for x in sel.exceedances(_filter(world, quantity="dlp"), multiple=1.5)] == [600]
    assert found[0].multiple == 2


def test_the_lists_filter_by_size_band_and_leave_non_patients_out(world):
    studies = sel.study_rows(sel.ListFilter(size_band="50-90"))
    assert sorted(s.dlp_total_mgycm for s in studies) == [100, 200, 600]
    assert 9999 not in [s.dlp_total_mgycm for s in sel.study_rows(sel.ListFilter())]
    events = sel.event_rows(sel.ListFilter(protocol="AP", device_id=world["a"].pk))
    assert len(events) == 5  # four sequences and the one in review (shown, marked)
