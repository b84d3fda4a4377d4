"""The OCR review pages: the queue, one screen beside its values, decisions by POST, the image."""

from __future__ import annotations

import os

import pytest

from audit.models import AuditEvent
from ingest.models import ReceivedObject
from rdsr.models import Device, IrradiationEvent, Study
from tests.ingest.conftest import spool  # noqa: F401
from tests.rdsr.test_ocr_review import row, stored_screen

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.django_db
def test_the_queue_lists_a_screen_with_values_in_review(logged_in, spool):  # noqa: F811
    obj = stored_screen()

    page = logged_in.get("/ocr/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f"/ocr/objects/{obj.pk}/" in html
    assert f"/studies/{obj.study_id}/" in html
    assert "4 values in review" in html  # two CTDIvol, one DLP, the total


@pytest.mark.django_db
def test_the_queue_is_empty_when_nothing_is_in_review(logged_in, spool):  # noqa: F811
    assert "value is waiting for review" in logged_in.get("/ocr/").content.decode()


@pytest.mark.django_db
def test_the_object_page_shows_values_confidences_and_the_screen(logged_in, spool):  # noqa: F811
    obj = stored_screen()

    html = logged_in.get(f"/ocr/objects/{obj.pk}/").content.decode()
    image = logged_in.get(f"/ocr/objects/{obj.pk}/screen.png")

    assert "15.11" in html and "33 %" in html and "264.11" in html and "48 %" in html
    assert "62 %" in html  # the total's confidence, its value not kept
    assert html.count('value="confirm"') == 3
    assert f'src="/ocr/objects/{obj.pk}/screen.png"' in html
    assert "Automatic: try every template" in html
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image.content.startswith(PNG_SIGNATURE)


@pytest.mark.django_db
def test_confirming_every_doubt_by_post_clears_the_screen_from_the_queue(logged_in, spool):  # noqa: F811
    obj = stored_screen()
    url = f"/ocr/objects/{obj.pk}/"

    for position, name in ((3, "ctdivol_mgy"), (4, "ctdivol_mgy"), (4, "dlp_mgycm")):
        answer = logged_in.post(url, {"action": "confirm", "event_id": row(obj, position).pk, "field": name})
        assert answer.status_code == 302
    logged_in.post(url, {"action": "correct", "field": "dlp_total_mgycm", "value": "1532.56"})

    assert f"/ocr/objects/{obj.pk}/" not in logged_in.get("/ocr/").content.decode()
    html = logged_in.get(url).content.decode()
    assert "nothing in review" in html and "confirmed by mpe" in html


@pytest.mark.django_db
def test_correcting_by_post_updates_the_study_total(logged_in, spool):  # noqa: F811
    obj = stored_screen()

    answer = logged_in.post(
        f"/ocr/objects/{obj.pk}/",
        {"action": "correct", "event_id": row(obj, 4).pk, "field": "dlp_mgycm", "value": "364.11"},
        follow=True,
    )

    assert "DLP corrected: 364.11 mGy·cm" in answer.content.decode()
    assert Study.objects.get(pk=obj.study_id).dlp_total_mgycm == pytest.approx(658.68 + 609.77 + 364.11)
    assert "corrected by mpe (read 264.11)" in answer.content.decode()
    assert AuditEvent.objects.filter(object_type="irradiation_event", username="mpe").count() == 1


@pytest.mark.django_db
def test_an_implausible_correction_is_refused_with_a_message(logged_in, spool):  # noqa: F811
    obj = stored_screen()

    answer = logged_in.post(
        f"/ocr/objects/{obj.pk}/",
        {"action": "correct", "event_id": row(obj, 4).pk, "field": "ctdivol_mgy", "value": "11890"},
        follow=True,
    )

    assert "not plausible" in answer.content.decode()
    assert IrradiationEvent.objects.get(pk=row(obj, 4).pk).ctdivol_mgy == 11.89


@pytest.mark.django_db
def test_the_device_template_is_chosen_on_the_page(logged_in, spool):  # noqa: F811
    obj = stored_screen()
    device = obj.study.device

    logged_in.post(
        f"/ocr/objects/{obj.pk}/",
        {"action": "template", "device_id": device.pk, "template": "ge-dose-report"},
    )
    answer = logged_in.post(
        f"/ocr/objects/{obj.pk}/",
        {"action": "template", "device_id": device.pk, "template": "nope"},
        follow=True,
    )

    assert Device.objects.get(pk=device.pk).ocr_template == "ge-dose-report"
    assert "Unknown OCR template" in answer.content.decode()


@pytest.mark.django_db
def test_a_missing_spool_file_gives_a_clear_message_not_an_error(logged_in, spool):  # noqa: F811
    obj = stored_screen()
    os.remove(ReceivedObject.objects.get(sop_instance_uid=obj.sop_instance_uid).spool_path)

    page = logged_in.get(f"/ocr/objects/{obj.pk}/")
    image = logged_in.get(f"/ocr/objects/{obj.pk}/screen.png")

    assert page.status_code == 200
    assert "missing from the spool" in page.content.decode()
    assert image.status_code == 404
    assert "missing from the spool" in image.content.decode()


@pytest.mark.django_db
def test_an_unreadable_spool_file_gives_a_clear_message_not_an_error(logged_in, spool):  # noqa: F811
    obj = stored_screen()
    path = ReceivedObject.objects.get(sop_instance_uid=obj.sop_instance_uid).spool_path
    with open(path, "r+b") as f:
        f.truncate(600)

    image = logged_in.get(f"/ocr/objects/{obj.pk}/screen.png")

    assert image.status_code == 404
    assert "cannot be read as an image" in image.content.decode()


@pytest.mark.django_db
def test_an_object_not_read_by_ocr_is_not_found(logged_in, spool):  # noqa: F811
    obj = stored_screen()
    type(obj).objects.filter(pk=obj.pk).update(kind="rdsr")

    assert logged_in.get(f"/ocr/objects/{obj.pk}/").status_code == 404
    assert logged_in.get(f"/ocr/objects/{obj.pk}/screen.png").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/ocr/", "/ocr/objects/1/", "/ocr/objects/1/screen.png"])
def test_every_page_requires_login(client, path):
    answer = client.get(path)

    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_decision_requires_login(client, spool):  # noqa: F811
    obj = stored_screen()

    client.post(
        f"/ocr/objects/{obj.pk}/", {"action": "confirm", "event_id": row(obj, 4).pk, "field": "dlp_mgycm"}
    )

    assert "review" in IrradiationEvent.objects.get(pk=row(obj, 4).pk).details
    assert not AuditEvent.objects.exists()
