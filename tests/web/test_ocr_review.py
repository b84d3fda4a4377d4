"""The OCR review pages: the queue, one screen beside its values, decisions by POST, the image."""

from __future__ import annotations

import os

import pytest

from audit.models import AuditEvent
from ingest.models import ReceivedObject
from ingest.services import received_object_process
from rdsr.models import Device, DoseObject, IrradiationEvent, Study
from tests.ingest import conftest as ingest_fixtures
from tests.ingest.conftest import receive
from tests.ocr.screens import one
from tests.rdsr.test_ocr_review import row, stored_screen
from tests.web.factories import PASSWORD

# The ingest tests' private spool (and dispatch without a broker), as fixtures of this module.
no_broker = ingest_fixtures.no_broker
spool = ingest_fixtures.spool

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.django_db
def test_the_queue_lists_a_screen_with_values_in_review(logged_in, spool):
    obj = stored_screen()

    page = logged_in.get("/ocr/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f"/ocr/objects/{obj.pk}/" in html
    assert f"/studies/{obj.study_id}/" in html
    assert "4 values in review" in html  # two CTDIvol, one DLP, the total


@pytest.mark.django_db
def test_the_queue_is_empty_when_nothing_is_in_review(logged_in, spool):
    assert "value is waiting for review" in logged_in.get("/ocr/").content.decode()


@pytest.mark.django_db
def test_the_object_page_shows_values_confidences_and_the_screen(logged_in, spool):
    obj = stored_screen()

    html = logged_in.get(f"/ocr/objects/{obj.pk}/").content.decode()
    image = logged_in.get(f"/ocr/objects/{obj.pk}/screen.png")

    assert "15.11" in html and "33 %" in html and "264.11" in html and "48 %" in html
    assert "62 %" in html and "1532.56" in html  # the total in review, with its confidence
    assert html.count('value="confirm"') == 4  # three event values and the total
    assert f'src="/ocr/objects/{obj.pk}/screen.png"' in html
    assert "Automatic: try every template" in html
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image.content.startswith(PNG_SIGNATURE)


@pytest.mark.django_db
def test_confirming_every_doubt_by_post_clears_the_screen_from_the_queue(logged_in, spool):
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
def test_correcting_by_post_updates_the_study_total(logged_in, spool):
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
def test_an_implausible_correction_is_refused_with_a_message(logged_in, spool):
    obj = stored_screen()

    answer = logged_in.post(
        f"/ocr/objects/{obj.pk}/",
        {"action": "correct", "event_id": row(obj, 4).pk, "field": "ctdivol_mgy", "value": "11890"},
        follow=True,
    )

    assert "not plausible" in answer.content.decode()
    assert IrradiationEvent.objects.get(pk=row(obj, 4).pk).ctdivol_mgy == 11.89


@pytest.mark.django_db
def test_the_device_template_is_chosen_on_the_page(logged_in, spool):
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
def test_a_missing_spool_file_gives_a_clear_message_not_an_error(logged_in, spool):
    obj = stored_screen()
    os.remove(ReceivedObject.objects.get(sop_instance_uid=obj.sop_instance_uid).spool_path)

    page = logged_in.get(f"/ocr/objects/{obj.pk}/")
    image = logged_in.get(f"/ocr/objects/{obj.pk}/screen.png")

    assert page.status_code == 200
    assert "missing from the spool" in page.content.decode()
    assert image.status_code == 404
    assert "missing from the spool" in image.content.decode()


@pytest.mark.django_db
def test_an_unreadable_spool_file_gives_a_clear_message_not_an_error(logged_in, spool):
    obj = stored_screen()
    path = ReceivedObject.objects.get(sop_instance_uid=obj.sop_instance_uid).spool_path
    with open(path, "r+b") as f:
        f.truncate(600)

    image = logged_in.get(f"/ocr/objects/{obj.pk}/screen.png")

    assert image.status_code == 404
    assert "cannot be read as an image" in image.content.decode()


@pytest.mark.django_db
def test_an_object_not_read_by_ocr_is_not_found(logged_in, spool):
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
def test_a_decision_requires_login(client, spool):
    obj = stored_screen()

    client.post(
        f"/ocr/objects/{obj.pk}/", {"action": "confirm", "event_id": row(obj, 4).pk, "field": "dlp_mgycm"}
    )

    assert "review" in IrradiationEvent.objects.get(pk=row(obj, 4).pk).details
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_screen_read_by_ocr_through_ingest_opens_with_its_image(
    logged_in,
    spool,
    no_broker,
    django_capture_on_commit_callbacks,
):
    received = receive(one("ge-dose-report", seed=8).data)
    with django_capture_on_commit_callbacks(execute=True):
        received_object_process(received_object_id=received.pk)
    obj = DoseObject.objects.get(sop_instance_uid=received.sop_instance_uid)

    page = logged_in.get(f"/ocr/objects/{obj.pk}/")
    image = logged_in.get(f"/ocr/objects/{obj.pk}/screen.png")

    assert obj.kind == "ocr"
    assert page.status_code == 200 and "Total DLP stated on the screen" in page.content.decode()
    assert image.content.startswith(PNG_SIGNATURE)


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_the_mpe_sees_the_screen_beside_its_values_and_confirms_one(
    live_server,
    django_user_model,
    spool,
):
    # Playwright's sync API runs an event loop in this thread; the ORM calls here stay synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from tests.web.test_browser_smoke import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, sync_api

    django_user_model.objects.create_user(username="mpe", password=PASSWORD)
    obj = stored_screen()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{live_server.url}/ocr/")
            page.fill("input[name=username]", "mpe")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("table.ocrqueue")
            page.click("table.ocrqueue a.button")
            page.wait_for_selector("table.ocrtable")
            # The PNG was served and decoded by the browser.
            page.wait_for_function("() => document.querySelector('.ocrscreen img').complete")
            assert page.eval_on_selector(".ocrscreen img", "img => img.naturalWidth") > 100
            page.screenshot(path=str(ARTIFACTS / "ocr-review-object.png"), full_page=True)

            page.locator("table.ocrtable tbody tr").nth(2).locator("button[value=confirm]").first.click()
            page.wait_for_selector(".message.success")
            assert "CTDIvol confirmed: 15.11 mGy" in page.inner_text(".messages")
        finally:
            browser.close()
    assert "review" not in row(obj, 3).details
