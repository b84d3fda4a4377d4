"""Real vendor objects through the parser and the store (../shared/corpus, EXPECTED.json).

EXPECTED.json gives OpenREM's units: DAP Gy·m² (×10 000 → Gy·cm²), Ka,r Gy
(×1000 → mGy); the values below are converted.
"""

import threading
from collections import Counter

import pytest
from django.db import connection

from rdsr.models import Device, IrradiationEvent, Study
from rdsr.parse import parse_file
from rdsr.services import dose_record_store


def _store(corpus_file, name: str):
    return dose_record_store(record=parse_file(corpus_file(name)))


def _disagreements(study: Study) -> list[str]:
    return [w for w in study.warnings if "differs by more than 1 %" in w]


@pytest.mark.django_db
def test_it_keeps_one_study_for_cumulative_ct_rdsrs(corpus_file):
    after = []
    for name in ("Multi-1", "Multi-2", "Multi-3", "Multi-1"):
        _store(corpus_file, f"CT-RDSR-Siemens-{name}.dcm")
        study = Study.objects.get()
        types = Counter(study.events.values_list("event_type", flat=True))
        after.append(
            (
                Study.objects.count(),
                study.event_count,
                round(study.dlp_total_mgycm, 2),
                types["Axial Acquisition"],
                types["Spiral Acquisition"],
                types["Stationary Acquisition"],
                types["Constant Angle Acquisition"],
            )
        )

    assert after == [
        (1, 1, 7.46, 0, 0, 0, 1),
        (1, 2, 77.27, 0, 1, 0, 1),
        (1, 3, 236.09, 0, 2, 0, 1),
        (1, 3, 236.09, 0, 2, 0, 1),
    ]
    study = Study.objects.get()
    assert study.source_kind == "rdsr"
    assert study.stated_totals["ct_totals"]["dlp_total_mgycm"] == pytest.approx(236.09, abs=0.01)
    assert study.dose_objects.count() == 3
    assert _disagreements(study) == []


@pytest.mark.django_db
def test_it_keeps_one_study_when_the_same_dx_rdsr_arrives_twice(corpus_file):
    first = _store(corpus_file, "DX-RDSR-Canon_CXDI.dcm")
    second = _store(corpus_file, "DX-RDSR-Canon_CXDI.dcm")

    assert (first.created_study, second.created_study) == (True, False)
    assert (second.events_added, second.events_existing) == (0, first.events_added)
    assert Study.objects.count() == 1
    assert IrradiationEvent.objects.count() == first.events_added


@pytest.mark.django_db
def test_it_keeps_one_device_for_a_dual_mode_room(corpus_file):
    _store(corpus_file, "Dual-RDSR-DX.dcm")
    _store(corpus_file, "Dual-RDSR-RF.dcm")

    device = Device.objects.get()
    assert device.identity_key == "1.3.6.1.4.1.5962.99.1.2930476852.1535886921.1523348932404.2.0"
    assert sorted(Study.objects.values_list("modality", flat=True)) == ["DX", "RF"]
    assert set(Study.objects.values_list("device", flat=True)) == {device.pk}


# file, events, study totals (canonical units), plane "single" totals
STUDY_TOTALS = [
    ("CT-ESR-GE_Optima.dcm", 6, {"dlp_total_mgycm": 415.82}, {}),
    ("CT-RDSR-GEPixelMed.dcm", 2, {"dlp_total_mgycm": 586.34}, {}),
    ("CT-RDSR-Siemens_Flash-TAP-SS.dcm", 4, {"dlp_total_mgycm": 724.52}, {}),
    ("CT-RDSR-ToshibaPixelMed.dcm", 3, {"dlp_total_mgycm": 349.7}, {}),
    (
        "DX-RDSR-Canon_CXDI.dcm",
        1,
        {"dap_total_gycm2": 0.107},
        {"acquisition_dap_total_gycm2": 0.107, "acquisition_time_total_s": 0.005},
    ),
    (
        "DX-RDSR-Carestream_DRXEvolution.dcm",
        5,
        {"dap_total_gycm2": 0.058099997},
        {"dose_rp_total_mgy": 0.29927175492, "frames_total": 5},
    ),
    ("MG-RDSR-Hologic_2D.dcm", 2, {"agd_left_mgy": 1.3, "agd_right_mgy": 1.28}, {}),
    (
        "RF-RDSR-GE.dcm",
        8,
        {"dap_total_gycm2": 2.4126},
        {
            "dose_rp_total_mgy": 11.7317,
            "fluoro_dap_total_gycm2": 2.4126,
            "fluoro_dose_rp_total_mgy": 11.7317,
            "acquisition_dap_total_gycm2": 0.0,
            "acquisition_dose_rp_total_mgy": 0.0,
        },
    ),
    (
        "RF-RDSR-Philips_Allura.dcm",
        None,
        # The object states 13.0 s of fluoroscopy, rounded; its event lasted 13.066 s.
        {"dap_total_gycm2": 1.5356864, "fluoro_time_total_s": 13.066},
        {
            "dose_rp_total_mgy": 4.271280351,
            "fluoro_dap_total_gycm2": 0.10558274,
            "acquisition_dap_total_gycm2": 1.43010366,
            "fluoro_dose_rp_total_mgy": 0.293081169,
            "acquisition_dose_rp_total_mgy": 3.978199182,
            "acquisition_time_total_s": 14.75,
        },
    ),
    (
        "RF-RDSR-Siemens-Zee.dcm",
        8,
        {"dap_total_gycm2": 0.16, "fluoro_time_total_s": 28.0},
        {"dose_rp_total_mgy": 2.52},
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "events", "totals", "plane"), STUDY_TOTALS, ids=[t[0] for t in STUDY_TOTALS]
)
def test_it_recomputes_the_study_totals_a_physicist_expects(corpus_file, name, events, totals, plane):
    study = _store(corpus_file, name).study
    study.refresh_from_db()

    if events is not None:
        assert study.event_count == events
    for field, expected in totals.items():
        assert getattr(study, field) == pytest.approx(expected, rel=1e-4), field
    if plane:
        single = study.planes.get(plane="single")
        for field, expected in plane.items():
            assert getattr(single, field) == pytest.approx(expected, rel=1e-4, abs=1e-9), field
    assert _disagreements(study) == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_storing_two_cumulative_ct_rdsrs_at_once_make_one_study(corpus_file):
    records = [parse_file(corpus_file(f"CT-RDSR-Siemens-Multi-{n}.dcm")) for n in (2, 3)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(record):
        try:
            barrier.wait(timeout=30)
            dose_record_store(record=record)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(r,)) for r in records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    study = Study.objects.get()
    assert study.event_count == 3
    assert study.dlp_total_mgycm == pytest.approx(236.09, abs=0.01)
    assert IrradiationEvent.objects.count() == 3
