"""Image headers through the store: one study per study, one event per exposure, never added to an RDSR."""

from __future__ import annotations

import pytest

from rdsr.models import DoseObject, IrradiationEvent, PlaneAccumulation, Study
from rdsr.parse import parse_bytes, parse_file
from rdsr.services import dose_record_store
from tests.rdsr.image_headers import DX_FOR_PRESENTATION, ct_slice, dx_image, to_bytes, uid

GE = ["DX-Im-GE_XR220-1.dcm", "DX-Im-GE_XR220-2.dcm", "DX-Im-GE_XR220-3.dcm"]
KODAK = ["DX-Im-Carestream_DR7500-1.dcm", "DX-Im-Carestream_DR7500-2.dcm"]


def _store_file(corpus_file, name: str):
    return dose_record_store(record=parse_file(corpus_file(name)))


def _store(ds):
    return dose_record_store(record=parse_bytes(to_bytes(ds)))


@pytest.mark.django_db
def test_the_corpus_dx_images_form_two_studies_with_summed_dap_and_a_resend_changes_nothing(corpus_file):
    for name in [*GE, *KODAK]:
        _store_file(corpus_file, name)
    before = {s.pk: (s.event_count, s.dap_total_gycm2, s.updated_at) for s in Study.objects.all()}
    _store_file(corpus_file, "DX-Im-GE_XR220-2.dcm")  # the duplicate of the scenario

    assert Study.objects.count() == 2
    ge = Study.objects.get(device__model="Optima XR220")
    kodak = Study.objects.get(device__model="DR 7500")
    # EXPECTED.json: 3.28e-05 Gy·m² = (0.41+0.82+2.05) dGy·cm² -> 0.328 Gy·cm²; 2.117e-04 Gy·m² -> 2.117 Gy·cm².
    assert (ge.event_count, ge.dap_total_gycm2) == (3, pytest.approx(0.328))
    assert (kodak.event_count, kodak.dap_total_gycm2) == (2, pytest.approx(2.117))
    assert PlaneAccumulation.objects.filter(study=ge).count() == 1
    assert ge.source_kind == "image-header" and ge.modality == "DX"
    assert DoseObject.objects.filter(study=ge).count() == 3
    after = {s.pk: (s.event_count, s.dap_total_gycm2, s.updated_at) for s in Study.objects.all()}
    assert after == before


@pytest.mark.django_db
def test_the_same_exposure_as_for_processing_and_for_presentation_counts_once():
    study = uid()
    _store(dx_image(study_uid=study))
    _store(dx_image(study_uid=study, sop_class=DX_FOR_PRESENTATION))
    _store(dx_image(study_uid=study, time="101812", dap="2.5"))
    stored = Study.objects.get()
    assert stored.event_count == 2
    assert stored.dap_total_gycm2 == pytest.approx(0.15 + 0.25)
    assert DoseObject.objects.filter(study=stored).count() == 3


@pytest.mark.django_db
def test_ct_reconstructions_and_reformats_never_add_an_acquisition_twice():
    study = uid()
    thin, thick = uid(), uid()
    for number in range(3):
        _store(ct_slice(study_uid=study, series_uid=thin, InstanceNumber=number + 1))
        _store(ct_slice(study_uid=study, series_uid=thick, InstanceNumber=number + 1))
    reformat = parse_bytes(to_bytes(ct_slice(study_uid=study, ImageType=["DERIVED", "SECONDARY", "REFORMATTED"])))
    assert reformat.source.kind == "not-dose"
    _store(ct_slice(study_uid=study, acquisition=2, ctdivol=3.0, AcquisitionType="CONSTANT_ANGLE"))
    stored = Study.objects.get()
    assert stored.event_count == 2
    assert sorted(IrradiationEvent.objects.filter(study=stored).values_list("ctdivol_mgy", flat=True)) == [3.0, 12.5]
    assert stored.dlp_total_mgycm is None  # no image states DLP


@pytest.mark.django_db
def test_an_rdsr_takes_over_from_the_image_headers_of_its_study_and_they_are_never_added(corpus_file):
    import pydicom

    from tests.rdsr.image_headers import image

    rdsr = parse_file(corpus_file("DX-RDSR-Canon_CXDI.dcm"))
    ds = pydicom.dcmread(corpus_file("DX-RDSR-Canon_CXDI.dcm"))
    header = image(sop_class=DX_FOR_PRESENTATION, modality="DX", study_uid=ds.StudyInstanceUID,
                   ImageAndFluoroscopyAreaDoseProduct="500", KVP="70", ExposureInuAs="2000",
                   AcquisitionDate="20260301", AcquisitionTime="090000")
    dose_record_store(record=parse_bytes(to_bytes(header)))
    assert Study.objects.get().source_kind == "image-header"
    dose_record_store(record=rdsr)
    study = Study.objects.get()
    assert study.source_kind == "rdsr"
    rdsr_dap = sum(e.dap_gycm2 for e in rdsr.events)
    assert study.dap_total_gycm2 == pytest.approx(rdsr_dap)
    assert set(study.dose_objects.values_list("kind", flat=True)) == {"rdsr", "image-header"}


@pytest.mark.django_db
def test_the_philips_dose_info_capture_stores_its_four_events_and_total(corpus_file):
    _store_file(corpus_file, "CT-SC-Philips_Brilliance16P.dcm")
    study = Study.objects.get()
    assert (study.event_count, study.source_kind) == (4, "dose-info-sc")
    assert study.dlp_total_mgycm == pytest.approx(1102.44609, rel=1e-6)


@pytest.mark.django_db
def test_mammography_images_give_the_agd_of_each_breast(corpus_file):
    _store_file(corpus_file, "MG-Im-Hologic-PropProj.dcm")
    _store_file(corpus_file, "MG-Im-GE_Seno_1_ForPresentation.dcm")
    hologic = Study.objects.get(device__manufacturer="HOLOGIC, Inc.")
    ge = Study.objects.exclude(pk=hologic.pk).get()
    assert (hologic.agd_right_mgy, hologic.agd_left_mgy, hologic.event_count) == (pytest.approx(0.26), None, 1)
    assert (ge.agd_left_mgy, ge.event_count) == (pytest.approx(0.547), 1)


@pytest.mark.django_db
def test_an_rdsr_after_a_lower_source_sets_the_study_modality_and_device(corpus_file):
    import pydicom

    from tests.rdsr.image_headers import image

    ds = pydicom.dcmread(corpus_file("RF-RDSR-Philips_Allura.dcm"))
    header = image(sop_class="1.2.840.10008.5.1.4.1.1.12.1", modality="XA", study_uid=ds.StudyInstanceUID,
                   ImageAndFluoroscopyAreaDoseProduct="500", KVP="70", AcquisitionDate="20260301",
                   AcquisitionTime="090000", Manufacturer="Other", StationName="ELSEWHERE")
    dose_record_store(record=parse_bytes(to_bytes(header)))
    assert Study.objects.get().modality == "XA"
    dose_record_store(record=parse_file(corpus_file("RF-RDSR-Philips_Allura.dcm")))
    study = Study.objects.get()
    assert (study.source_kind, study.modality) == ("rdsr", "RF")
    assert study.device.manufacturer.startswith("Philips")
