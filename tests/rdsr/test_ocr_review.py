"""The MPE's decisions on OCR'd values: confirm, correct, the screen's total DLP, the device's template."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from rdsr.models import Device, DoseObject, IrradiationEvent, Study
from rdsr.ocr.templates import LOCALIZER, SPIRAL, TEMPLATES
from rdsr.ocr_review import (
    ReviewRefused,
    device_ocr_template_set,
    ocr_total_confirm,
    ocr_total_correct,
    ocr_value_confirm,
    ocr_value_correct,
)
from rdsr.parse import parse_dataset
from rdsr.record import CtTotals, Event
from rdsr.services import dose_record_store
from tests.ingest import conftest as ingest_fixtures
from tests.ingest.conftest import receive
from tests.ocr.screens import one

# The ingest tests' private spool (and dispatch without a broker), as fixtures of this module.
spool = ingest_fixtures.spool


def stored_screen(*, total_in_review: bool = True, seed: int = 8) -> DoseObject:
    """A dose screen received into the spool and stored as OCR would read it, with known doubts.

    The values are set here rather than read by tesseract, so the review
    flags are the same on every run; the screen itself is a real rendered one,
    for the image. Rows: a scout drawn without dose, one row read well, one
    with a doubtful CTDIvol, one with both values doubtful; total 1532.56.
    """
    g = one("ge-dose-report", seed=seed)
    received = receive(g.data)
    record = parse_dataset(g.dataset, path=received.spool_path)
    record.source.kind = "ocr"
    record.source.ocr_pending = False
    record.study.modality = "CT"
    record.events = [
        Event(event_type=LOCALIZER, protocol="Scout"),
        Event(
            event_type=SPIRAL,
            protocol="Helical",
            ctdivol_mgy=11.62,
            dlp_mgycm=658.68,
            phantom="body32",
            confidence={"ctdivol_mgy": 0.92, "dlp_mgycm": 0.9},
        ),
        Event(
            event_type=SPIRAL,
            protocol="Helical",
            ctdivol_mgy=15.11,
            dlp_mgycm=609.77,
            phantom="body32",
            confidence={"ctdivol_mgy": 0.33, "dlp_mgycm": 0.86},
            review=["ctdivol_mgy"],
        ),
        Event(
            event_type=SPIRAL,
            protocol="Helical",
            ctdivol_mgy=11.89,
            dlp_mgycm=264.11,
            phantom="body32",
            confidence={"ctdivol_mgy": 0.51, "dlp_mgycm": 0.48},
            review=["ctdivol_mgy", "dlp_mgycm"],
        ),
    ]
    record.ct_totals = CtTotals(
        event_count=4,
        dlp_total_mgycm=1532.56,
        confidence={"dlp_total_mgycm": 0.62 if total_in_review else 0.95},
        review=["dlp_total_mgycm"] if total_in_review else [],
    )
    study = dose_record_store(record=record).study
    return DoseObject.objects.get(study=study, sop_instance_uid=g.dataset.SOPInstanceUID)


def row(obj: DoseObject, position: int) -> IrradiationEvent:
    return IrradiationEvent.objects.get(
        study=obj.study, source_sop_instance_uid=obj.sop_instance_uid, position=position
    )


@pytest.mark.django_db
def test_values_in_review_are_left_out_of_the_study_total_until_decided(spool):
    obj = stored_screen()

    study = Study.objects.get(pk=obj.study_id)
    assert study.source_kind == "ocr"
    assert study.dlp_total_mgycm == pytest.approx(658.68 + 609.77)


@pytest.mark.django_db
def test_confirming_a_value_brings_it_into_the_study_totals(spool):
    obj = stored_screen()
    event = row(obj, 4)

    decision = ocr_value_confirm(event_id=event.pk, field="dlp_mgycm", user="mpe")

    event.refresh_from_db()
    assert decision.action == "confirmed"
    assert event.details["review"] == ["ctdivol_mgy"]
    review = event.details["ocr_review"]["dlp_mgycm"]
    assert review["ocr_value"] == review["decided_value"] == 264.11
    assert review["ocr_confidence"] == 0.48
    assert (review["action"], review["by"]) == ("confirmed", "mpe")
    assert review["at"]
    assert Study.objects.get(pk=obj.study_id).dlp_total_mgycm == pytest.approx(1532.56)


@pytest.mark.django_db
def test_the_last_decision_on_an_event_removes_its_review_list(spool):
    obj = stored_screen()
    event = row(obj, 3)

    ocr_value_confirm(event_id=event.pk, field="ctdivol_mgy", user="mpe")

    event.refresh_from_db()
    assert "review" not in event.details
    assert event.ctdivol_mgy == 15.11


@pytest.mark.django_db
def test_correcting_a_value_changes_it_and_keeps_what_ocr_read(spool):
    obj = stored_screen()
    event = row(obj, 4)

    ocr_value_correct(event_id=event.pk, field="dlp_mgycm", value=364.11, user="mpe")
    ocr_value_correct(event_id=event.pk, field="dlp_mgycm", value="364,12", user="boss")

    event.refresh_from_db()
    assert event.dlp_mgycm == 364.12
    review = event.details["ocr_review"]["dlp_mgycm"]
    assert (review["ocr_value"], review["decided_value"], review["action"], review["by"]) == (
        264.11,
        364.12,
        "corrected",
        "boss",
    )
    assert Study.objects.get(pk=obj.study_id).dlp_total_mgycm == pytest.approx(658.68 + 609.77 + 364.12)


@pytest.mark.django_db
def test_a_value_not_in_review_can_be_corrected_but_not_confirmed(spool):
    obj = stored_screen()
    event = row(obj, 2)

    with pytest.raises(ReviewRefused, match="not in review"):
        ocr_value_confirm(event_id=event.pk, field="dlp_mgycm", user="mpe")
    ocr_value_correct(event_id=event.pk, field="phantom", value="head16", user="mpe")

    event.refresh_from_db()
    assert event.phantom == "head16"
    assert event.details["ocr_review"]["phantom"]["ocr_value"] == "body32"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("ctdivol_mgy", 5000.0, "not plausible"),
        ("dlp_mgycm", -3.0, "not plausible"),
        ("dlp_mgycm", "12a", "not a number"),
        ("phantom", "body40", "head16, body32"),
        ("kvp", 120.0, "not a value to review"),
    ],
)
def test_an_implausible_or_malformed_correction_is_refused_and_changes_nothing(spool, field, value, why):
    obj = stored_screen()
    event = row(obj, 4)
    before = Study.objects.get(pk=obj.study_id).dlp_total_mgycm

    with pytest.raises(ReviewRefused, match=why):
        ocr_value_correct(event_id=event.pk, field=field, value=value, user="mpe")

    event.refresh_from_db()
    assert event.details["review"] == ["ctdivol_mgy", "dlp_mgycm"]
    assert Study.objects.get(pk=obj.study_id).dlp_total_mgycm == before
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_total_dlp_in_review_is_kept_aside_out_of_the_totals_and_can_be_confirmed(spool):
    obj = stored_screen()
    ct = obj.stated_totals["ct_totals"]
    assert ct["dlp_total_mgycm"] is None  # never fills or checks a study total while in doubt
    assert ct["in_review"]["dlp_total_mgycm"] == pytest.approx(1532.56)

    ocr_total_confirm(dose_object_id=obj.pk, user="mpe")

    obj.refresh_from_db()
    ct = obj.stated_totals["ct_totals"]
    assert (ct["dlp_total_mgycm"], ct["review"], ct["in_review"]) == (pytest.approx(1532.56), [], {})
    assert ct["ocr_review"]["dlp_total_mgycm"]["action"] == "confirmed"


@pytest.mark.django_db
def test_a_corrected_total_dlp_comes_back_into_the_study_total(spool):
    obj = stored_screen()
    for position, name in ((3, "ctdivol_mgy"), (4, "ctdivol_mgy"), (4, "dlp_mgycm")):
        ocr_value_confirm(event_id=row(obj, position).pk, field=name, user="mpe")
    # The scout row carries no DLP, so the study takes the total the screen states once it is trusted.
    assert Study.objects.get(pk=obj.study_id).dlp_total_mgycm == pytest.approx(1532.56)

    ocr_total_correct(dose_object_id=obj.pk, value=1533.0, user="mpe")

    obj.refresh_from_db()
    ct = obj.stated_totals["ct_totals"]
    assert (ct["dlp_total_mgycm"], ct["review"]) == (1533.0, [])
    assert ct["ocr_review"]["dlp_total_mgycm"]["ocr_value"] == pytest.approx(1532.56)
    assert ct["ocr_review"]["dlp_total_mgycm"]["ocr_confidence"] == 0.62
    study = Study.objects.get(pk=obj.study_id)
    assert study.dlp_total_mgycm == 1533.0
    assert study.stated_totals["ct_totals"]["dlp_total_mgycm"] == 1533.0
    assert not any("need review" in w for w in study.warnings)


@pytest.mark.django_db
def test_an_implausible_total_is_refused(spool):
    obj = stored_screen()

    with pytest.raises(ReviewRefused, match="not plausible"):
        ocr_total_correct(dose_object_id=obj.pk, value=1e7, user="mpe")


@pytest.mark.django_db
def test_every_decision_is_audited_with_the_patient(spool):
    obj = stored_screen()
    event = row(obj, 4)

    ocr_value_confirm(event_id=event.pk, field="ctdivol_mgy", user="mpe")
    ocr_value_correct(event_id=event.pk, field="dlp_mgycm", value=270.0, user="mpe")
    ocr_total_correct(dose_object_id=obj.pk, value=1538.45, user="mpe")

    events = list(AuditEvent.objects.order_by("id"))
    assert [(e.action, e.object_type, e.username) for e in events] == [
        ("change", "irradiation_event", "mpe"),
        ("change", "irradiation_event", "mpe"),
        ("change", "dose_object", "mpe"),
    ]
    assert {e.patient_pk for e in events} == {obj.study.patient_id}
    assert events[1].details["ocr_value"] == 264.11 and events[1].details["decided_value"] == 270.0
    assert "read 264.11" in events[1].summary


@pytest.mark.django_db
def test_only_values_read_by_ocr_are_reviewed_here(spool):
    obj = stored_screen()
    event = row(obj, 4)
    IrradiationEvent.objects.filter(pk=event.pk).update(source_kind="rdsr")

    with pytest.raises(ReviewRefused, match="OCR"):
        ocr_value_confirm(event_id=event.pk, field="dlp_mgycm", user="mpe")


@pytest.mark.django_db
def test_the_device_template_is_validated_against_the_registry_and_audited():
    device = Device.objects.create(identity_key="ct-1", station_name="CT1")
    name = next(iter(TEMPLATES))

    device_ocr_template_set(device_id=device.pk, template=name, user="mpe")
    with pytest.raises(ReviewRefused, match="Unknown OCR template"):
        device_ocr_template_set(device_id=device.pk, template="agfa-magic", user="mpe")
    device.refresh_from_db()
    assert device.ocr_template == name

    device_ocr_template_set(device_id=device.pk, template="", user="mpe")
    device.refresh_from_db()
    assert device.ocr_template == ""
    assert [e.details["after"] for e in AuditEvent.objects.filter(object_type="device").order_by("id")] == [
        name,
        "",
    ]
