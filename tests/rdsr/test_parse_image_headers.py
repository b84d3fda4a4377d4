"""Image headers and dose-info captures the corpus lacks: CT series, copies, odd values."""

from __future__ import annotations

import pytest

from rdsr.parse import UnreadableObject, parse_bytes, parse_dataset
from tests.rdsr.image_headers import (
    DX_FOR_PRESENTATION,
    MG_FOR_PRESENTATION,
    SECONDARY_CAPTURE,
    XA_IMAGE,
    ct_slice,
    dx_image,
    image,
    to_bytes,
    uid,
    with_raw_value,
)


def test_a_ct_image_gives_one_event_with_ctdivol_technique_and_phantom():
    from pydicom.dataset import Dataset

    phantom = Dataset()
    phantom.CodeValue, phantom.CodingSchemeDesignator, phantom.CodeMeaning = "113691", "DCM", "IEC Body Dosimetry Phantom"
    ds = ct_slice(study_uid=uid(), CTDIPhantomTypeCodeSequence=[phantom], TotalCollimationWidth=40.0,
                  SingleCollimationWidth=0.625, RevolutionTime=0.5)
    record = parse_dataset(ds)
    assert (record.source.kind, record.study.modality) == ("image-header", "CT")
    [event] = record.events
    assert event.ctdivol_mgy == 12.5 and event.phantom == "body32"
    assert (event.kvp, event.tube_current_ma, event.exposure_time_s) == (120.0, 250.0, 1.0)
    assert (event.pitch, event.total_collimation_mm, event.single_collimation_mm) == (0.984, 40.0, 0.625)
    assert event.exposure_time_per_rotation_s == 0.5
    assert event.event_type == "Spiral Acquisition"
    assert event.dlp_mgycm is None  # CT image headers do not state DLP: never invented


def test_reconstructions_of_one_ct_acquisition_share_one_event_key():
    study = uid()
    thin = parse_dataset(ct_slice(study_uid=study, series_uid=uid(), InstanceNumber=1))
    thick = parse_dataset(ct_slice(study_uid=study, series_uid=uid(), InstanceNumber=7,
                                   ImageType=["DERIVED", "PRIMARY", "AXIAL"]))
    other_scan = parse_dataset(ct_slice(study_uid=study, acquisition=2, ctdivol=4.1))
    assert thin.events[0].irradiation_event_uid == thick.events[0].irradiation_event_uid
    assert thin.events[0].irradiation_event_uid != other_scan.events[0].irradiation_event_uid
    assert thin.events[0].irradiation_event_uid_derived is True


def test_a_stated_irradiation_event_uid_is_used_as_it_is():
    stated = uid()
    record = parse_dataset(ct_slice(study_uid=uid(), IrradiationEventUID=stated))
    assert record.events[0].irradiation_event_uid == stated
    assert record.events[0].irradiation_event_uid_derived is False


def test_a_localizer_image_is_a_constant_angle_acquisition():
    record = parse_dataset(ct_slice(study_uid=uid(), AcquisitionType="", ImageType=["ORIGINAL", "PRIMARY",
                                                                                      "LOCALIZER"]))
    assert record.events[0].event_type == "Constant Angle Acquisition"


def test_secondary_images_yield_no_dose():
    reformat = ct_slice(study_uid=uid(), ImageType=["DERIVED", "SECONDARY", "REFORMATTED"])
    record = parse_dataset(reformat)
    assert record.source.kind == "not-dose" and record.events == []
    assert any("secondary image" in w and "not counted" in w for w in record.warnings)


def test_for_processing_and_for_presentation_copies_of_one_exposure_share_one_event_key():
    study = uid()
    processing = parse_dataset(dx_image(study_uid=study))
    presentation = parse_dataset(dx_image(study_uid=study, sop_class=DX_FOR_PRESENTATION,
                                          ContentTime="101745"))
    second_view = parse_dataset(dx_image(study_uid=study, time="101812", ViewPosition="LL", dap="2.9"))
    assert processing.events[0].irradiation_event_uid == presentation.events[0].irradiation_event_uid
    assert processing.events[0].irradiation_event_uid != second_view.events[0].irradiation_event_uid


def test_dap_is_converted_from_dgy_cm2_and_exposure_from_uas():
    [event] = parse_dataset(dx_image(study_uid=uid(), dap="12.34")).events
    assert event.dap_gycm2 == pytest.approx(1.234)
    assert event.exposure_mas == pytest.approx(3.2)
    assert event.exposure_time_s == pytest.approx(0.016)


def test_integer_strings_holding_decimals_are_read_not_rejected():
    data = to_bytes(dx_image(study_uid=uid(), ExposureTime="165", XRayTubeCurrent="777"))
    data = with_raw_value(data, b"165 ", b"16.5")  # IS (integer string) holding a decimal, as sent
    data = with_raw_value(data, b"777 ", b"77.5")
    [event] = parse_bytes(data).events
    assert event.exposure_time_s == pytest.approx(0.0165)
    assert event.tube_current_ma == pytest.approx(77.5)


def test_a_mammography_image_gives_agd_from_organ_dose_in_dgy_and_its_breast():
    ds = image(sop_class=MG_FOR_PRESENTATION, modality="MG", OrganDose="0.0123", OrganExposed="BREAST",
               ImageLaterality="R", BodyPartThickness="48", EntranceDoseInmGy="4.2", KVP="29",
               ExposureInuAs="60000", AcquisitionDate="20260301", AcquisitionTime="101900",
               AnodeTargetMaterial="TUNGSTEN", FilterMaterial="SILVER", CompressionForce="95")
    record = parse_dataset(ds)
    [event] = record.events
    assert event.agd_mgy == pytest.approx(1.23)
    assert (event.laterality, event.compression_thickness_mm, event.entrance_exposure_mgy) == ("R", 48.0, 4.2)
    assert event.anode_target == "Tungsten or Tungsten compound"
    assert event.filters[0]["material"] == "Silver or Silver compound"
    assert record.mammo_totals.agd_accumulated_mgy == {"right": pytest.approx(1.23)}


def test_an_xa_run_gives_dap_frames_and_angles():
    ds = image(sop_class=XA_IMAGE, modality="XA", ImageAndFluoroscopyAreaDoseProduct="254.0",
               NumberOfFrames="48", PositionerPrimaryAngle="-30", PositionerSecondaryAngle="20",
               AcquisitionDate="20260301", AcquisitionTime="102000", KVP="78")
    [event] = parse_dataset(ds).events
    assert event.dap_gycm2 == pytest.approx(25.4)
    assert (event.frames, event.primary_angle_deg, event.secondary_angle_deg) == (48, -30.0, 20.0)


def test_an_implausible_header_dose_is_kept_for_review():
    [event] = parse_dataset(dx_image(study_uid=uid(), dap="99999999")).events
    assert "dap_gycm2" in event.review


def test_a_non_numeric_dose_attribute_is_a_warning_not_a_crash():
    data = to_bytes(dx_image(study_uid=uid(), dap="1.5", KVP="81"))
    data = with_raw_value(data, b"1.5 ", b"n/a ")
    record = parse_bytes(data)
    assert record.source.kind == "image-header"  # kVp and mAs remain: the exposure counts, dose unknown
    assert record.events[0].dap_gycm2 is None
    assert any("is not a number" in w for w in record.warnings)
    assert any("no dose value" in w for w in record.warnings)


def test_an_image_with_neither_dose_nor_technique_is_not_dose_and_says_why():
    record = parse_dataset(image(sop_class=DX_FOR_PRESENTATION, modality="DX"))
    assert record.source.kind == "not-dose"
    assert any("without dose" in w for w in record.warnings)


def test_an_image_of_a_modality_without_x_rays_is_not_dose():
    record = parse_dataset(image(sop_class="1.2.840.10008.5.1.4.1.1.4", modality="MR"))
    assert record.source.kind == "not-dose"


def test_an_image_without_acquisition_time_counts_alone_and_says_so():
    ds = dx_image(study_uid=uid())
    del ds.AcquisitionTime, ds.AcquisitionDate
    record = parse_dataset(ds)
    assert any("cannot be recognised" in w for w in record.warnings)


def test_a_dose_info_capture_without_any_dose_value_is_unreadable():
    from pydicom.dataset import Dataset

    item = Dataset()
    item.AcquisitionType = "SPIRAL"
    ds = image(sop_class=SECONDARY_CAPTURE, modality="CT", ExposureDoseSequence=[item])
    with pytest.raises(UnreadableObject, match="without any readable dose value"):
        parse_dataset(ds)


def test_a_dose_info_capture_from_an_implicit_vr_sender_still_gives_the_private_dlp(corpus_file):
    import io

    import pydicom
    from pydicom.uid import ImplicitVRLittleEndian

    ds = pydicom.dcmread(corpus_file("CT-SC-Philips_Brilliance16P.dcm"))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, implicit_vr=True, little_endian=True)
    record = parse_bytes(out.getvalue())
    assert record.ct_totals.dlp_total_mgycm == pytest.approx(1102.44609)
    assert [round(e.dlp_mgycm or 0, 2) for e in record.events] == [0, 196.01, 248.59, 657.85]


def _item(**attributes):
    from pydicom.dataset import Dataset

    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def test_an_enhanced_ct_image_gives_ctdivol_from_its_functional_groups():
    shared = _item(CTExposureSequence=[_item(CTDIvol=8.25, ExposureInmAs=120.0, ExposureTimeInms=500.0)],
                   CTXRayDetailsSequence=[_item(KVP="100")],
                   CTAcquisitionTypeSequence=[_item(AcquisitionType="SPIRAL")])
    event_uid = uid()
    frame = _item(IrradiationEventIdentificationSequence=[_item(IrradiationEventUID=event_uid)])
    ds = image(sop_class="1.2.840.10008.5.1.4.1.1.2.1", modality="CT", SharedFunctionalGroupsSequence=[shared],
               PerFrameFunctionalGroupsSequence=[frame, frame], AcquisitionDateTime="20260301101600")
    [event] = parse_dataset(ds).events
    assert (event.ctdivol_mgy, event.kvp, event.event_type) == (8.25, 100.0, "Spiral Acquisition")
    assert event.exposure_time_s == pytest.approx(0.5)
    assert event.irradiation_event_uid == event_uid


def test_a_breast_tomosynthesis_object_gives_agd_from_its_acquisition_macro():
    acquisition = _item(KVP="31", ExposureInmAs=55.0, OrganDose="0.0152", OrganExposed="BREAST",
                        BodyPartThickness="52", CompressionForce="110", EntranceDoseInmGy="5.5")
    ds = image(sop_class="1.2.840.10008.5.1.4.1.1.13.1.3", modality="MG", ImageLaterality="L",
               SharedFunctionalGroupsSequence=[_item(XRay3DAcquisitionSequence=[acquisition])],
               AcquisitionDateTime="20260301102000")
    record = parse_dataset(ds)
    [event] = record.events
    assert event.agd_mgy == pytest.approx(1.52)
    assert (event.compression_thickness_mm, event.exposure_mas, event.laterality) == (52.0, 55.0, "L")
    assert record.mammo_totals.agd_accumulated_mgy == {"left": pytest.approx(1.52)}


def test_an_enhanced_object_with_several_irradiation_events_says_it_reads_the_first():
    frames = [_item(IrradiationEventIdentificationSequence=[_item(IrradiationEventUID=uid())]) for _ in range(2)]
    ds = image(sop_class="1.2.840.10008.5.1.4.1.1.2.1", modality="CT", PerFrameFunctionalGroupsSequence=frames,
               SharedFunctionalGroupsSequence=[_item(CTExposureSequence=[_item(CTDIvol=3.0)])])
    record = parse_dataset(ds)
    assert any("2 irradiation events" in w for w in record.warnings)
