"""MPPS attribute lists become dose records: generated XA/RF, DX and CT steps.

The builders at the top make the N-CREATE and N-SET attribute lists a
modality sends; the ingest tests send the same datasets over a real
association.
"""

from __future__ import annotations

import io
import struct

import pytest
from pydicom import Dataset
from pydicom.dataelem import RawDataElement
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from rdsr.mpps import (
    MPPS_SOP_CLASS_UID,
    MppsNotReadable,
    mpps_merge,
    mpps_read,
    mpps_record,
    mpps_references,
    mpps_status,
)

RDSR_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"
XA_IMAGE_CLASS = "1.2.840.10008.5.1.4.1.1.12.1"


def mpps_create(*, study_uid: str | None, modality: str = "XA", patient_id: str = "MPPS-PAT-1") -> Dataset:
    """An N-CREATE attribute list: IN PROGRESS, no dose yet (as modalities send it)."""
    ds = Dataset()
    scheduled = Dataset()
    if study_uid is not None:
        scheduled.StudyInstanceUID = study_uid
    scheduled.AccessionNumber = "ACC-4711"
    scheduled.RequestedProcedureDescription = "Coronary angiography"
    scheduled.ScheduledProcedureStepID = "SPS1"
    ds.ScheduledStepAttributesSequence = Sequence([scheduled])
    ds.PatientName = "Doe^Jane"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19600203"
    ds.PatientSex = "F"
    ds.PerformedStationAETitle = "ANGIO2"
    ds.PerformedStationName = "Angio room 2"
    ds.PerformedLocation = "Cath lab"
    ds.PerformedProcedureStepStartDate = "20240305"
    ds.PerformedProcedureStepStartTime = "101500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepID = "PPS-1"
    ds.PerformedProcedureStepDescription = "Coronary angiography"
    ds.Modality = modality
    ds.StudyID = "77"
    ds.PerformedSeriesSequence = Sequence([])
    return ds


def mpps_complete_xa(*, rdsr_uid: str | None = None, status: str = "COMPLETED") -> Dataset:
    """An N-SET closing an XA step: DAP 123.4 dGy·cm², 305 s fluoroscopy, two exposure items."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = "20240305"
    ds.PerformedProcedureStepEndTime = "110000"
    ds.ImageAndFluoroscopyAreaDoseProduct = "123.4"
    ds.TotalTimeOfFluoroscopy = 305
    ds.TotalNumberOfExposures = 12
    ds.EntranceDose = 7  # dGy
    ds.EntranceDoseInmGy = "712.5"
    ds.DistanceSourceToDetector = "1050"
    ds.DistanceSourceToEntrance = "700"
    ds.CommentsOnRadiationDose = "two runs"
    items = []
    for kvp, micro_amps, ms, mode in ((78, "450000", 6000, "PULSED"), (82, "12000", 295000, "CONTINUOUS")):
        item = Dataset()
        item.RadiationMode = mode
        item.KVP = kvp
        item.XRayTubeCurrentInuA = micro_amps
        item.ExposureTime = ms
        item.FilterType = "WEDGE"
        item.FilterMaterial = "COPPER"
        items.append(item)
    ds.ExposureDoseSequence = Sequence(items)
    series = Dataset()
    series.SeriesInstanceUID = "1.2.826.0.1.3680043.10.543.1.1"
    series.ProtocolName = "Coro left"
    series.OperatorsName = "Tech^Tom"
    series.PerformingPhysicianName = "Doc^Dora"
    image = Dataset()
    image.ReferencedSOPClassUID = XA_IMAGE_CLASS
    image.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.10.543.1.2"
    series.ReferencedImageSequence = Sequence([image])
    report = []
    if rdsr_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RDSR_CLASS
        ref.ReferencedSOPInstanceUID = rdsr_uid
        report.append(ref)
    series.ReferencedNonImageCompositeSOPInstanceSequence = Sequence(report)
    ds.PerformedSeriesSequence = Sequence([series])
    return ds


def mpps_complete_dx() -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.ImageAndFluoroscopyAreaDoseProduct = "1.75"
    ds.TotalNumberOfExposures = 1
    ds.EntranceDose = 3
    item = Dataset()
    item.KVP = "125"
    item.XRayTubeCurrentInuA = "250000"
    item.ExposureTime = 12
    ds.ExposureDoseSequence = Sequence([item])
    return ds


def mpps_complete_ct() -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    items = []
    for ctdi, phantom in ((12.5, "113690"), (8.25, "113691")):
        item = Dataset()
        item.CTDIvol = ctdi
        item.XRayTubeCurrentInmA = 200.0
        item.ExposureTimeInms = 750.0
        code = Dataset()
        code.CodeValue = phantom
        code.CodingSchemeDesignator = "DCM"
        code.CodeMeaning = "phantom"
        item.CTDIPhantomTypeCodeSequence = Sequence([code])
        items.append(item)
    ds.CTExposureSequence = Sequence(items)
    return ds


def as_file(ds: Dataset, *, sop_instance_uid: str = "1.2.3") -> bytes:
    """An attribute list as the spool keeps it: a DICOM file."""
    ds = Dataset(ds)
    ds.file_meta = Dataset()
    ds.file_meta.MediaStorageSOPClassUID = MPPS_SOP_CLASS_UID
    ds.file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


# A sequence of undefined length whose item claims 500 bytes and ends after 10:
# pydicom (lenient about almost anything else) cannot decode it.
TRUNCATED_SEQUENCE = (
    struct.pack("<HH2sHI", 0x0040, 0x0341, b"SQ", 0, 0xFFFFFFFF)
    + struct.pack("<HHI", 0xFFFE, 0xE000, 500)
    + b"x" * 10
)


def record_of(*parts: Dataset, uid: str = "1.2.3.4"):
    return mpps_record(mpps_merge(parts), sop_instance_uid=uid)


# --- projection X-ray --------------------------------------------------------------


def test_it_reads_the_dap_and_fluoro_time_of_an_xa_step_in_canonical_units():
    record = record_of(mpps_create(study_uid="1.2.826.0.1.3680043.10.543.9"), mpps_complete_xa())

    assert record.source.kind == "mpps"
    assert record.source.sop_instance_uid == "1.2.3.4"
    assert record.source.sop_class_uid == MPPS_SOP_CLASS_UID
    assert record.study.study_instance_uid == "1.2.826.0.1.3680043.10.543.9"
    assert record.study.modality == "XA"
    assert record.study.accession_number == "ACC-4711"
    [plane] = record.planes
    assert plane.plane == "single"
    assert plane.dap_total_gycm2 == pytest.approx(12.34)  # 123.4 dGy·cm²
    assert plane.fluoro_time_total_s == 305
    [event] = record.events
    assert event.dap_gycm2 == pytest.approx(12.34)
    assert event.entrance_dose_mgy == pytest.approx(712.5)  # the mGy attribute wins over 7 dGy
    assert event.exposures_total == 12
    assert event.fluoro_time_s == 305
    assert event.source_to_detector_mm == 1050
    assert event.source_to_entrance_mm == 700
    assert event.event_type is None  # MPPS does not say fluoroscopy or acquisition
    assert [(x["kvp"], x["tube_current_ma"], x["exposure_time_s"], x["radiation_mode"]) for x in event.exposures] == [
        (78, pytest.approx(450.0), pytest.approx(6.0), "PULSED"),
        (82, pytest.approx(12.0), pytest.approx(295.0), "CONTINUOUS"),
    ]
    assert event.exposures[0]["filters"] == [{"type": "WEDGE", "material": "COPPER"}]
    assert record.patient.patient_id == "MPPS-PAT-1" and record.patient.birth_date == "1960-02-03"
    assert record.device.station_name == "Angio room 2"
    assert record.study.study_date == "2024-03-05" and record.study.study_time == "10:15:00"
    assert record.warnings == []


def test_it_reads_entrance_dose_in_dgy_when_no_mgy_value_is_sent():
    record = record_of(mpps_create(study_uid="1.2.5", modality="DX"), mpps_complete_dx())

    [event] = record.events
    assert event.entrance_dose_mgy == pytest.approx(300.0)  # 3 dGy
    assert event.dap_gycm2 == pytest.approx(0.175)
    # One exposure item: its technique is the event's own.
    assert (event.kvp, event.tube_current_ma, event.exposure_time_s) == (
        125,
        pytest.approx(250.0),
        pytest.approx(0.012),
    )
    assert record.planes[0].fluoro_time_total_s is None


def test_an_n_set_replaces_the_attributes_it_carries_and_keeps_the_others():
    first = mpps_complete_xa()
    second = Dataset()
    second.ImageAndFluoroscopyAreaDoseProduct = "200"
    merged = mpps_merge([mpps_create(study_uid="1.2.6"), first, second])

    assert merged.ImageAndFluoroscopyAreaDoseProduct == 200
    assert merged.TotalTimeOfFluoroscopy == 305
    assert merged.PatientID == "MPPS-PAT-1"
    assert mpps_status(merged) == "COMPLETED"


def test_it_lists_the_referenced_rdsr_and_images():
    refs = mpps_references(mpps_complete_xa(rdsr_uid="1.2.826.0.1.3680043.10.543.1.9"))

    assert [(r.sop_class_uid, r.sop_instance_uid) for r in refs] == [
        (RDSR_CLASS, "1.2.826.0.1.3680043.10.543.1.9"),
        (XA_IMAGE_CLASS, "1.2.826.0.1.3680043.10.543.1.2"),
    ]


# --- CT ------------------------------------------------------------------------------


def test_a_ct_step_gives_one_event_per_ct_exposure_with_ctdivol():
    record = record_of(mpps_create(study_uid="1.2.7", modality="CT"), mpps_complete_ct())

    assert [(e.ctdivol_mgy, e.phantom) for e in record.events] == [(12.5, "head16"), (8.25, "body32")]
    assert record.events[0].tube_current_ma == 200
    assert record.events[0].exposure_time_s == pytest.approx(0.75)
    assert record.ct_totals.event_count == 2
    assert record.ct_totals.dlp_total_mgycm is None  # MPPS carries no DLP
    assert record.planes == []


# --- what is not a dose, or not right -----------------------------------------------------


def test_a_step_without_dose_attributes_is_not_a_dose_record():
    done = Dataset()
    done.PerformedProcedureStepStatus = "COMPLETED"
    record = record_of(mpps_create(study_uid="1.2.8", modality="MR"), done)

    assert record.source.kind == "not-dose"
    assert "no dose attribute" in record.warnings[0]


def test_a_step_without_study_uid_says_so():
    record = record_of(mpps_create(study_uid=None), mpps_complete_xa())

    assert record.study.study_instance_uid is None
    assert any("no Study Instance UID in Scheduled Step Attributes Sequence" in w for w in record.warnings)


def test_a_value_that_is_not_a_number_is_left_out_with_a_warning():
    step = mpps_complete_xa()
    step[0x0018115E] = RawDataElement(Tag(0x0018115E), "DS", 4, b"n/a ", 0, False, True)
    record = record_of(mpps_create(study_uid="1.2.9"), step)

    assert record.events[0].dap_gycm2 is None
    assert record.planes[0].fluoro_time_total_s == 305
    assert any("ImageAndFluoroscopyAreaDoseProduct" in w and "not a number" in w for w in record.warnings)


def test_an_implausible_dap_is_kept_for_review():
    step = mpps_complete_dx()
    step.ImageAndFluoroscopyAreaDoseProduct = "990000"  # 99 000 Gy·cm²: a unit error
    record = record_of(mpps_create(study_uid="1.2.10", modality="DX"), step)

    assert record.events[0].dap_gycm2 == pytest.approx(99_000)
    assert "dap_gycm2" in record.events[0].review
    assert "dap_total_gycm2" in record.planes[0].review


def test_a_stored_attribute_list_is_read_back_and_garbage_is_refused_clearly():
    uid = generate_uid()
    ds = mpps_read(as_file(mpps_create(study_uid="1.2.11"), sop_instance_uid=uid))
    assert ds.PatientID == "MPPS-PAT-1"

    with pytest.raises(MppsNotReadable, match="attribute list cannot be decoded"):
        mpps_read(as_file(mpps_create(study_uid="1.2.12")) + TRUNCATED_SEQUENCE)
