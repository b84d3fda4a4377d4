"""Generated dose reports for what the corpus lacks: other units, biplane, odd and broken content."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from rdsr.parse import UnreadableObject, parse_bytes, parse_dataset
from tests.rdsr.fixtures_sr import (
    COMPREHENSIVE_SR,
    CT_IMAGE,
    ENHANCED_XRAY_RDSR,
    RADIOPHARMACEUTICAL_RDSR,
    accumulated_plane,
    code,
    container,
    ct_accumulated,
    ct_event,
    ct_procedure,
    dose_report,
    num,
    projection_event,
    projection_procedure,
    text,
    to_bytes,
)


def parse(ds: Dataset):
    return parse_bytes(to_bytes(ds), path="generated.dcm")


# --- units other than the usual ones ------------------------------------------------


def test_it_reads_dose_at_reference_point_stated_in_mgy_without_scaling_it_again():
    record = parse(
        dose_report(
            [
                projection_procedure(),
                accumulated_plane("single", dap=(0.0012, "Gy.m2"), dose_rp=(3.5, "mGy")),
                projection_event(dap=(0.0012, "Gy.m2"), dose_rp=(3.5, "mGy")),
            ]
        )
    )
    assert record.planes[0].dose_rp_total_mgy == 3.5
    assert record.events[0].dose_rp_mgy == 3.5
    assert record.planes[0].dap_total_gycm2 == pytest.approx(12.0, rel=1e-12)


def test_it_converts_dap_stated_in_dgy_cm2_to_gy_cm2():
    record = parse(
        dose_report(
            [
                projection_procedure(),
                accumulated_plane("single", dap=(25.0, "dGy.cm2"), dose_rp=(0.002, "Gy")),
                projection_event(dap=(25.0, "dGy.cm2"), dose_rp=(0.002, "Gy")),
            ]
        )
    )
    assert record.events[0].dap_gycm2 == pytest.approx(2.5, rel=1e-12)
    assert record.planes[0].dap_total_gycm2 == pytest.approx(2.5, rel=1e-12)
    assert record.events[0].dose_rp_mgy == pytest.approx(2.0, rel=1e-12)
    assert record.events[0].review == []


def test_a_dap_in_a_unit_it_does_not_know_is_kept_raw_and_sent_to_review():
    record = parse(
        dose_report([projection_procedure(), projection_event(dap=(4.0, "R.cm2"), dose_rp=(1.0, "mGy"))])
    )
    event = record.events[0]
    assert event.dap_gycm2 == 4.0
    assert event.review == ["dap_gycm2"]
    assert any("R.cm2" in w and "dap_gycm2" in w for w in record.warnings)


# --- biplane ------------------------------------------------------------------------


def test_a_biplane_report_keeps_ka_r_per_plane_and_never_adds_the_planes():
    record = parse(
        dose_report(
            [
                projection_procedure(),
                accumulated_plane("A", dap=(0.004, "Gy.m2"), dose_rp=(0.8, "Gy"), fluoro_time_s=300.0),
                accumulated_plane("B", dap=(0.002, "Gy.m2"), dose_rp=(0.5, "Gy"), fluoro_time_s=200.0),
                projection_event("A", dap=(0.004, "Gy.m2"), dose_rp=(0.8, "Gy"), fluoro=True),
                projection_event("B", dap=(0.002, "Gy.m2"), dose_rp=(0.5, "Gy"), fluoro=True),
            ]
        )
    )
    by_plane = {p.plane: p for p in record.planes}
    assert sorted(by_plane) == ["A", "B"]
    assert by_plane["A"].dose_rp_total_mgy == 800.0
    assert by_plane["B"].dose_rp_total_mgy == 500.0
    assert [e.plane for e in record.events] == ["A", "B"]
    assert record.study.modality == "XA"
    assert not any(p.dose_rp_total_mgy == 1300.0 for p in record.planes)


def test_a_single_plane_fluoroscopy_report_is_rf_and_radiography_is_dx():
    fluoro = parse(
        dose_report(
            [
                projection_procedure(),
                accumulated_plane("single", dap=(1e-4, "Gy.m2"), fluoro_time_s=12.0),
                projection_event(dap=(1e-4, "Gy.m2"), fluoro=True),
            ]
        )
    )
    radiography = parse(dose_report([projection_procedure(), projection_event(dap=(1e-5, "Gy.m2"))]))
    assert fluoro.study.modality == "RF"
    assert radiography.study.modality == "DX"


# --- template identifier, SOP classes ---------------------------------------------


def test_a_ct_report_without_template_identifier_is_read_by_its_codes():
    record = parse(dose_report([ct_procedure(), ct_accumulated(200.0, 1), ct_event()], template=None))
    assert record.source.kind == "rdsr"
    assert record.study.modality == "CT"
    assert record.ct_totals.dlp_total_mgycm == 200.0
    [event] = record.events
    assert (event.ctdivol_mgy, event.dlp_mgycm, event.phantom) == (10.0, 200.0, "body32")
    assert event.event_type == "Spiral Acquisition"


def test_an_enhanced_xray_rdsr_is_an_enhanced_rdsr():
    record = parse(
        dose_report(
            [ct_procedure(), ct_accumulated(200.0, 1), ct_event()],
            sop_class=ENHANCED_XRAY_RDSR,
            template="10011",
        )
    )
    assert record.source.kind == "enhanced-rdsr"
    assert record.events[0].ctdivol_mgy == 10.0


def test_a_comprehensive_sr_carrying_a_dose_report_is_an_esr():
    record = parse(
        dose_report([ct_procedure(), ct_accumulated(200.0, 1), ct_event()], sop_class=COMPREHENSIVE_SR)
    )
    assert record.source.kind == "esr"
    assert record.events[0].dlp_mgycm == 200.0


def test_a_radiopharmaceutical_dose_report_is_not_an_xray_dose_record():
    record = parse(
        dose_report([text("121106", "NM")], sop_class=RADIOPHARMACEUTICAL_RDSR, title=("113500", "DCM"))
    )
    assert record.source.kind == "not-dose"
    assert record.warnings


def test_a_ct_image_without_ctdivol_is_not_dose_and_says_why():
    ds = dose_report([], sop_class=CT_IMAGE, modality="CT")
    del (
        ds.ContentSequence,
        ds.ConceptNameCodeSequence,
        ds.ValueType,
        ds.ContinuityOfContent,
        ds.ContentTemplateSequence,
    )
    ds.Rows, ds.Columns = 1, 1
    record = parse(ds)
    assert record.source.kind == "not-dose"
    assert any("CT image header without CTDIvol" in w for w in record.warnings), record.warnings
    assert record.study.study_instance_uid == ds.StudyInstanceUID


# --- CT details -------------------------------------------------------------------


def test_a_second_ct_xray_source_goes_in_sources():
    record = parse(dose_report([ct_procedure(), ct_event(sources=[(100.0, 400.0), (140.0, 310.0)])]))
    [event] = record.events
    assert (event.kvp, event.tube_current_ma) == (100.0, 400.0)
    assert [(s.kvp, s.tube_current_ma) for s in event.sources] == [(100.0, 400.0), (140.0, 310.0)]


def test_the_head_phantom_is_head16_and_an_unknown_phantom_code_goes_to_review():
    head = parse(dose_report([ct_procedure(), ct_event(phantom=("113690", "DCM"))]))
    odd = parse(dose_report([ct_procedure(), ct_event(phantom=("PH-32", "99ACME"))]))
    assert head.events[0].phantom == "head16"
    assert odd.events[0].phantom is None
    assert "phantom" in odd.events[0].review
    assert any("PH-32" in w for w in odd.warnings)


def test_it_reads_dose_check_alerts_with_the_reason_for_proceeding():
    alert = container(
        "113900",
        [
            code("113902", "R-0038D", "Yes", value_scheme="SRT"),
            num("113904", 50.0, "mGy", "CTDIvol Alert Value"),
            text("113907", "Obese patient"),
        ],
    )
    record = parse(dose_report([ct_procedure(), ct_event(dose_items=[alert])]))
    check = record.events[0].dose_check
    assert check.ctdivol_alert_mgy == 50.0
    assert check.ctdivol_alert_configured is True
    assert check.reason_for_proceeding == "Obese patient"


def test_an_implausible_ctdivol_is_kept_flagged_and_warned():
    record = parse(dose_report([ct_procedure(), ct_event(ctdivol=(1500.0, "mGy"))]))
    assert record.events[0].ctdivol_mgy == 1500.0
    assert "ctdivol_mgy" in record.events[0].review
    assert any("implausible" in w for w in record.warnings)


# --- broken content ---------------------------------------------------------------


def test_a_number_sent_as_text_is_kept_for_review():
    record = parse(dose_report([ct_procedure(), ct_event(ctdivol_item=text("113830", "12.5"))]))
    event = record.events[0]
    assert event.ctdivol_mgy == 12.5
    assert "ctdivol_mgy" in event.review
    assert any("TEXT" in w for w in record.warnings)


def test_an_empty_measured_value_is_absent_not_zero():
    record = parse(dose_report([ct_procedure(), ct_event(ctdivol=(None, "mGy"))]))
    assert record.events[0].ctdivol_mgy is None
    assert record.events[0].dlp_mgycm == 200.0


def test_a_dose_without_unit_is_kept_raw_for_review():
    record = parse(
        dose_report([projection_procedure(), projection_event(dap=(0.001, None), dose_rp=(2.0, "mGy"))])
    )
    event = record.events[0]
    assert event.dap_gycm2 == 0.001
    assert event.review == ["dap_gycm2"]
    assert any("no unit" in w for w in record.warnings)


def test_a_garbage_decimal_string_is_ignored_with_a_warning():
    record = parse(dose_report([ct_procedure(), ct_event(ctdivol=("12,5 mGy", "mGy"))]))
    assert record.events[0].ctdivol_mgy is None
    assert record.events[0].dlp_mgycm == 200.0
    assert any("12,5 mGy" in w for w in record.warnings)


def test_an_event_with_empty_content_does_not_lose_the_others():
    empty_event = container("113819", [])
    record = parse(dose_report([ct_procedure(), empty_event, ct_event()]))
    assert [e.ctdivol_mgy for e in record.events] == [None, 10.0]


def test_a_dose_report_with_no_dose_value_at_all_is_unreadable():
    with pytest.raises(UnreadableObject, match="no readable dose value"):
        parse(dose_report([ct_procedure()]))
    with pytest.raises(UnreadableObject, match="no readable dose value"):
        parse(dose_report([]))


def test_a_truncated_file_is_unreadable_with_a_clear_message():
    data = to_bytes(dose_report([ct_procedure(), ct_accumulated(200.0, 1), ct_event()]))
    for cut in (len(data) - 7, len(data) // 2, 200):
        with pytest.raises(UnreadableObject) as raised:
            parse_bytes(data[:cut], path="cut.dcm")
        assert "cut.dcm" in str(raised.value)


def test_bytes_that_are_not_dicom_are_unreadable():
    with pytest.raises(UnreadableObject, match="not a"):
        parse_bytes(b"%PDF-1.4 this is not DICOM at all" * 10, path="x.pdf")
    with pytest.raises(UnreadableObject):
        parse_bytes(b"", path="empty")


def test_a_dataset_parses_without_going_through_bytes():
    record = parse_dataset(dose_report([ct_procedure(), ct_event()]), path="in-memory")
    assert record.source.path == "in-memory"
    assert record.events[0].ctdivol_mgy == 10.0


# --- a vendor we never saw ------------------------------------------------------------


def test_a_never_seen_vendor_with_private_schemes_and_no_template_still_yields_its_doses():
    # DCM codes under a private scheme, odd meanings, no relationship types, no
    # template, no procedure reported, an unknown extra container in the middle.
    vendor = "99NEWVENDOR"
    report = dose_report(
        [
            container(
                "113702",
                [
                    code("113764", "113622", "single", scheme=vendor, rel=None),
                    num("113722", 0.00031, "Gy.m2", "DAP TOT", scheme=vendor, rel=None),
                    num("113725", 1.9, "mGy", "KAR TOT", scheme=vendor, rel=None),
                ],
                scheme=vendor,
                rel=None,
            ),
            container("X-1", [text("X-2", "vendor blob", scheme=vendor)], scheme=vendor),
            container(
                "113706",
                [
                    num("122130", 0.00031, "Gy.m2", "dap", scheme=vendor, rel=None),
                    num("113738", 1.9, "mGy", "kar", scheme=vendor, rel=None),
                    num("113733", "81\\0\\79", "kV", "kv per pulse", scheme=vendor, rel=None),
                ],
                scheme=vendor,
                rel=None,
            ),
        ],
        template=None,
        manufacturer="NewVendor",
    )
    record = parse(report)
    assert record.source.kind == "rdsr"
    assert record.planes[0].dap_total_gycm2 == pytest.approx(3.1, rel=1e-12)
    assert record.planes[0].dose_rp_total_mgy == 1.9
    [event] = record.events
    assert event.dap_gycm2 == pytest.approx(3.1, rel=1e-12)
    assert event.kvp == 80.0  # per-pulse values: mean of the pulses that carry one
    assert record.study.modality == "DX"
    assert record.device.manufacturer == "NewVendor"


def test_several_values_for_one_dose_are_not_averaged_but_sent_to_review():
    record = parse(dose_report([projection_procedure(),
                                projection_event(dap=("0.001\\0.002", "Gy.m2"), dose_rp=(1.0, "mGy"))]))
    event = record.events[0]
    assert event.dap_gycm2 == pytest.approx(10.0, rel=1e-12)
    assert event.review == ["dap_gycm2"]
    assert any("2 values for one dose" in w for w in record.warnings)


def test_events_wrapped_in_an_extra_container_are_still_read_in_order():
    wrapper = container("99X-1", [ct_event(ctdivol=(1.0, "mGy")), ct_event(ctdivol=(2.0, "mGy"))], scheme="99ACME")
    record = parse(dose_report([ct_procedure(), wrapper, ct_event(ctdivol=(3.0, "mGy"))], template=None))
    assert [e.ctdivol_mgy for e in record.events] == [1.0, 2.0, 3.0]
    assert any("nested" in w for w in record.warnings)
