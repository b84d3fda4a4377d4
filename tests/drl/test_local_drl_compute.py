"""drl_local_compute on a small hand-computed data set."""

import datetime

import pytest

from drl.models import DrlSet, DrlValue
from drl.services import NothingToCompute, drl_local_compute, mapping_refresh, mapping_rule_add
from tests.drl.conftest import cond
from tests.web.factories import make_device, make_event, make_study

pytestmark = pytest.mark.django_db
DAY = datetime.date(2024, 3, 1)


@pytest.fixture
def world(procedure):
    mapping_rule_add(
        procedure_id=procedure("Chest PA").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "exact", "Thorax pa")],
    )
    mapping_rule_add(
        procedure_id=procedure("CT head").pk,
        level="study",
        username="boss",
        conditions=[cond("study_description", "contains", "head")],
    )
    rooms = [make_device(station_name=f"ROOM{i}") for i in range(4)]
    # Room medians of DAP: 0.10, 0.20, 0.30, 0.40 Gy·cm² (three exams each).
    for room, centre in zip(rooms, (0.10, 0.20, 0.30, 0.40), strict=True):
        for delta in (-0.01, 0.0, 0.02):
            make_study(
                device=room, modality="DX", study_description="Thorax pa", dap_total_gycm2=centre + delta
            )
    # Left out: a non-patient study, a child, an overweight adult, a study outside the period, a room of 2.
    make_study(
        device=rooms[0], modality="DX", study_description="Thorax pa", dap_total_gycm2=9, non_patient=True
    )
    make_study(device=rooms[0], modality="DX", study_description="Thorax pa", dap_total_gycm2=9, age_years=8)
    make_study(
        device=rooms[0], modality="DX", study_description="Thorax pa", dap_total_gycm2=9, weight_kg=120
    )
    make_study(
        device=rooms[0],
        modality="DX",
        study_description="Thorax pa",
        dap_total_gycm2=9,
        study_date=datetime.date(2023, 1, 1),
    )
    small = make_device(station_name="SMALL")
    for _ in range(2):
        make_study(device=small, modality="DX", study_description="Thorax pa", dap_total_gycm2=5)
    # CT head in one room: DLP 800, 900, 1000; CTDIvol 40, 50 and one in review, scouts left out.
    for dlp, ctdi in ((800, 40), (900, 50), (1000, 60)):
        study = make_study(device=rooms[0], study_description="CT Head", dlp_total_mgycm=dlp)
        make_event(study, protocol="Topogram", event_type="Constant Angle Acquisition", ctdivol_mgy=0.1)
        details = {"review": ["ctdivol_mgy"]} if ctdi == 60 else {}
        make_event(
            study,
            protocol="Head",
            event_type="Spiral Acquisition",
            ctdivol_mgy=ctdi,
            phantom="head16",
            details=details,
        )
    mapping_refresh()
    return rooms


def test_it_saves_the_75th_percentile_and_median_of_room_medians_as_a_local_set(world, procedure):
    computed = drl_local_compute(
        name="Local 2024", date_from=DAY, date_to=DAY, min_per_room=3, username="boss"
    )
    drl_set = computed.drl_set
    assert drl_set.kind == DrlSet.Kind.LOCAL and drl_set.valid_from
    chest = drl_set.values.get(procedure=procedure("Chest PA"), quantity="dap")
    # Room medians 0.10, 0.20, 0.30, 0.40: 75th percentile 0.325, median 0.25.
    assert chest.value == pytest.approx(0.325)
    assert chest.typical_value == pytest.approx(0.25)
    assert (chest.rooms, chest.exams, chest.unit, chest.level) == (4, 12, "Gy·cm²", "exam")
    dlp = drl_set.values.get(procedure=procedure("CT head"), quantity="dlp")
    assert (dlp.value, dlp.typical_value, dlp.rooms) == (900, 900, 1)


def test_ct_sequences_give_ctdivol_per_phantom_without_scouts_or_values_in_review(world, procedure):
    drl_set = drl_local_compute(name="L", date_from=DAY, date_to=DAY, min_per_room=2, username="boss").drl_set
    ctdi = drl_set.values.get(procedure=procedure("CT head"), quantity="ctdivol")
    assert (ctdi.value, ctdi.exams, ctdi.phantom, ctdi.level, ctdi.unit) == (
        45,
        2,
        "head16",
        "sequence",
        "mGy",
    )


def test_the_minimum_sample_size_leaves_rooms_and_procedures_out(world, procedure):
    computed = drl_local_compute(name="L", date_from=DAY, date_to=DAY, min_per_room=3, username="boss")
    assert not computed.drl_set.values.filter(quantity="ctdivol").exists()
    assert any("CTDIvol" in s for s in computed.skipped)
    with pytest.raises(NothingToCompute):
        drl_local_compute(name="L", date_from=DAY, date_to=DAY, min_per_room=20, username="boss")
    assert DrlValue.objects.filter(drl_set__kind="local").count() == computed.drl_set.values.count()
