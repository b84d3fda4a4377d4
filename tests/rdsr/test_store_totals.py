"""Study and plane totals: recomputed from counted events, compared with what objects state."""

import pytest

from rdsr.models import PlaneAccumulation, Study
from rdsr.record import MammoTotals, Plane
from rdsr.services import dose_record_store

from .factories import ct_event, ct_record, projection_event, projection_record, uid

pytestmark = pytest.mark.django_db


def _planes() -> dict[str, PlaneAccumulation]:
    return {p.plane: p for p in PlaneAccumulation.objects.all()}


def test_it_never_adds_image_header_events_to_rdsr_totals():
    study_uid = uid()
    header = projection_record(
        events=[projection_event(dap=5.0, irradiation_event_uid=None)],
        study_uid=study_uid,
        kind="image-header",
        modality="DX",
    )
    rdsr = projection_record(
        events=[projection_event(dap=1.0), projection_event(dap=2.0)],
        planes=[Plane(plane="single", dap_total_gycm2=3.0)],
        study_uid=study_uid,
        modality="DX",
    )
    dose_record_store(record=header)
    assert Study.objects.get().source_kind == "image-header"
    assert Study.objects.get().dap_total_gycm2 == 5.0

    dose_record_store(record=rdsr)

    study = Study.objects.get()
    assert study.source_kind == "rdsr"
    assert study.event_count == 2
    assert study.dap_total_gycm2 == pytest.approx(3.0)
    assert _planes()["single"].dap_total_gycm2 == pytest.approx(3.0)
    assert study.events.count() == 3
    assert any("not counted" in w for w in study.warnings)


def test_it_keeps_a_value_under_review_out_of_the_totals_with_a_warning():
    doubtful = ct_event(dlp=5000.0, review=["dlp_mgycm"])
    record = ct_record(events=[ct_event(dlp=100.0), doubtful], dlp_total=5100.0, kind="ocr")
    dose_record_store(record=record)

    study = Study.objects.get()
    assert study.dlp_total_mgycm == pytest.approx(100.0)
    assert study.event_count == 2
    assert any("DLP total" in w and "need review" in w for w in study.warnings)


def test_it_keeps_a_projection_value_under_review_out_of_the_plane_total():
    record = projection_record(
        events=[projection_event(dap=1.0), projection_event(dap=9.0, review=["dap_gycm2"])],
        planes=[Plane(plane="single", dap_total_gycm2=10.0)],
    )
    dose_record_store(record=record)

    assert _planes()["single"].dap_total_gycm2 == pytest.approx(1.0)
    assert Study.objects.get().dap_total_gycm2 == pytest.approx(1.0)


def test_it_warns_when_stated_and_recomputed_totals_differ_by_more_than_one_percent():
    dose_record_store(record=ct_record(events=[ct_event(dlp=100.0), ct_event(dlp=100.0)], dlp_total=250.0))

    study = Study.objects.get()
    assert study.dlp_total_mgycm == pytest.approx(200.0)
    assert study.stated_totals["ct_totals"]["dlp_total_mgycm"] == 250.0
    [warning] = study.warnings
    assert "DLP total" in warning and "250" in warning and "200" in warning


def test_it_does_not_warn_for_rounding_differences():
    dose_record_store(record=ct_record(events=[ct_event(dlp=7.456), ct_event(dlp=69.81)], dlp_total=77.27))

    assert Study.objects.get().warnings == []


def test_it_warns_when_an_object_states_more_events_than_it_carries():
    record = ct_record(events=[ct_event(dlp=10.0)])
    record.ct_totals.event_count = 2
    dose_record_store(record=record)

    assert any("number of events" in w for w in Study.objects.get().warnings)


def test_stated_totals_are_those_of_the_object_with_the_most_events():
    e1, e2 = ct_event(dlp=10.0), ct_event(dlp=20.0)
    study_uid = uid()
    big = ct_record(events=[e1, e2], study_uid=study_uid)
    small = ct_record(events=[e1], study_uid=study_uid)
    dose_record_store(record=big)
    dose_record_store(record=small)

    stated = Study.objects.get().stated_totals
    assert stated["sop_instance_uid"] == big.source.sop_instance_uid
    assert stated["events_in_object"] == 2
    assert stated["ct_totals"]["dlp_total_mgycm"] == 30.0


def test_it_keeps_ka_r_per_plane_and_never_adds_it_across_planes():
    events = [
        projection_event(
            plane="A", dap=10.0, dose_rp=100.0, event_type="Fluoroscopy", irradiation_duration_s=30.0
        ),
        projection_event(plane="A", dap=5.0, dose_rp=50.0, event_type="Stationary Acquisition"),
        projection_event(
            plane="B", dap=2.0, dose_rp=40.0, event_type="Fluoroscopy", irradiation_duration_s=20.0
        ),
    ]
    planes = [
        Plane(plane="A", dap_total_gycm2=15.0, dose_rp_total_mgy=150.0),
        Plane(plane="B", dap_total_gycm2=2.0, dose_rp_total_mgy=40.0),
    ]
    dose_record_store(record=projection_record(events=events, planes=planes))

    a, b = _planes()["A"], _planes()["B"]
    assert (a.dose_rp_total_mgy, b.dose_rp_total_mgy) == (pytest.approx(150.0), pytest.approx(40.0))
    assert (a.fluoro_dap_total_gycm2, a.acquisition_dap_total_gycm2) == (10.0, 5.0)
    assert (a.fluoro_dose_rp_total_mgy, a.acquisition_dose_rp_total_mgy) == (100.0, 50.0)
    assert (a.fluoro_time_total_s, b.fluoro_time_total_s) == (30.0, 20.0)
    study = Study.objects.get()
    assert study.dap_total_gycm2 == pytest.approx(17.0)
    assert study.fluoro_time_total_s == pytest.approx(50.0)
    assert study.warnings == []


def test_it_never_takes_pulsed_exposure_time_for_fluoroscopy_time():
    events = [
        projection_event(event_type="Fluoroscopy", exposure_time_s=0.1, pulses=24.0),
        projection_event(event_type="Fluoroscopy", exposure_time_s=0.25, pulses=30.0),
    ]
    planes = [Plane(plane="single", fluoro_time_total_s=28.0)]
    dose_record_store(record=projection_record(events=events, planes=planes))

    assert _planes()["single"].fluoro_time_total_s == 28.0
    assert Study.objects.get().fluoro_time_total_s == 28.0


def test_it_takes_a_plane_total_from_the_object_when_events_lack_the_value():
    events = [projection_event(dose_rp=None, dap=1.0), projection_event(dose_rp=3.0, dap=2.0)]
    planes = [
        Plane(
            plane="single",
            dap_total_gycm2=3.0,
            dose_rp_total_mgy=7.5,
            acquisition_dose_rp_total_mgy=7.5,
            frames_total=2,
        )
    ]
    dose_record_store(record=projection_record(events=events, planes=planes, modality="DX"))

    single = _planes()["single"]
    assert single.dap_total_gycm2 == pytest.approx(3.0)  # from the events
    assert single.dose_rp_total_mgy == single.acquisition_dose_rp_total_mgy == 7.5  # as stated
    assert single.frames_total == 2  # events carry no frames
    assert Study.objects.get().warnings == []


def test_it_sums_what_is_there_and_says_so_when_nothing_states_the_total():
    events = [projection_event(dose_rp=None), projection_event(dose_rp=3.0)]
    dose_record_store(record=projection_record(events=events, modality="DX"))

    assert _planes()["single"].dose_rp_total_mgy == 3.0
    assert any("Ka,r total" in w and "1 of 2 events" in w for w in Study.objects.get().warnings)


def test_it_totals_cumulative_biplane_objects_from_the_union_of_their_events():
    first = [projection_event(plane="A", dose_rp=10.0), projection_event(plane="B", dose_rp=20.0)]
    later = [*first, projection_event(plane="A", dose_rp=5.0)]
    study_uid = uid()
    for events in (first, later, first):
        dose_record_store(record=projection_record(events=events, study_uid=study_uid))

    assert _planes()["A"].dose_rp_total_mgy == pytest.approx(15.0)
    assert _planes()["B"].dose_rp_total_mgy == pytest.approx(20.0)


def test_it_sums_agd_per_breast():
    events = [
        projection_event(dap=None, dose_rp=None, agd_mgy=1.2, laterality="L"),
        projection_event(dap=None, dose_rp=None, agd_mgy=1.3, laterality="L"),
        projection_event(dap=None, dose_rp=None, agd_mgy=1.1, laterality="R"),
    ]
    mammo = MammoTotals(agd_accumulated_mgy={"left": 2.5, "right": 1.1})
    dose_record_store(record=projection_record(events=events, modality="MG", mammo_totals=mammo))

    study = Study.objects.get()
    assert (study.agd_left_mgy, study.agd_right_mgy) == (pytest.approx(2.5), pytest.approx(1.1))
    assert study.warnings == []


def test_it_warns_when_a_mammography_object_states_another_agd_than_its_events():
    events = [projection_event(dap=None, dose_rp=None, agd_mgy=1.0, laterality="R")]
    mammo = MammoTotals(agd_accumulated_mgy={"right": 2.0})
    dose_record_store(record=projection_record(events=events, modality="MG", mammo_totals=mammo))

    assert any("AGD right" in w for w in Study.objects.get().warnings)


ROUNDED_KAR_MGY = [0.14, 0.19, 0.14, 0.4, 0.59, 0.36, 0.61, 0.06]  # as Siemens Zee gives them; sum 2.49


def test_it_does_not_warn_when_rounding_the_event_values_explains_the_difference():
    events = [projection_event(dose_rp=v) for v in ROUNDED_KAR_MGY]
    planes = [Plane(plane="single", dose_rp_total_mgy=2.52)]
    dose_record_store(record=projection_record(events=events, planes=planes))

    assert Study.objects.get().warnings == []


def test_plane_totals_are_those_the_object_states_when_it_carried_every_event():
    events = [projection_event(dose_rp=v) for v in ROUNDED_KAR_MGY]
    planes = [Plane(plane="single", dose_rp_total_mgy=2.52)]
    dose_record_store(record=projection_record(events=events, planes=planes))

    assert _planes()["single"].dose_rp_total_mgy == 2.52


def test_plane_totals_come_from_the_events_when_no_object_carried_them_all():
    study_uid = uid()
    first = [projection_event(dose_rp=v) for v in ROUNDED_KAR_MGY[:4]]
    second = [projection_event(dose_rp=v) for v in ROUNDED_KAR_MGY[4:]]
    for events, stated in ((first, 0.88), (second, 1.63)):
        planes = [Plane(plane="single", dose_rp_total_mgy=stated)]
        dose_record_store(record=projection_record(events=events, planes=planes, study_uid=study_uid))

    assert _planes()["single"].dose_rp_total_mgy == pytest.approx(2.49)
    # Of equally complete objects, the latest one's statement is kept.
    assert Study.objects.get().stated_totals["planes"][0]["dose_rp_total_mgy"] == 1.63
