"""One real browser pass over the reconciliation worklists and a reassignment (Debian's chromium)."""

import os

import pytest

from ris.models import Order
from tests.ris.hl7_messages import apply, dose_study, orm
from tests.web.factories import PASSWORD
from tests.web.test_browser_smoke import ARTIFACTS, browser_page  # noqa: F401 (fixture)

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.mark.django_db(transaction=True)
def test_an_mpe_finds_an_emergency_study_on_the_worklist_and_reassigns_it(
    live_server,
    browser_page,  # noqa: F811 (the fixture imported above)
    django_user_model,
):
    django_user_model.objects.create_superuser(username="boss", password=PASSWORD, email="boss@example.org")
    apply(orm("NW", "LATE-1", accession="L1", text="CT Head", scheduled="20250301090000"))
    apply(orm("NW", "RIGHT-1", accession="T1", text="CT Polytrauma", scheduled="20250301090000"))
    study = dose_study(study_uid="1.2.9.99", patient_id="TRAUMA-1", accession="")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser_page

    page.goto(f"{live_server.url}/reconciliation/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    page.wait_for_selector("table.orders-without-dose")
    orders = page.inner_text("table.orders-without-dose")
    assert "L1" in orders and "T1" in orders and "CT Head" in orders
    page.screenshot(path=str(ARTIFACTS / "reconciliation-orders.png"), full_page=True)

    page.click("nav.tabs >> text=Studies without an order")
    page.wait_for_selector("table.studies-without-order")
    assert "TRAUMA-1" in page.inner_text("table.studies-without-order")
    page.screenshot(path=str(ARTIFACTS / "reconciliation-studies.png"), full_page=True)

    page.click("table.studies-without-order >> text=Reassign…")
    page.wait_for_url(f"**/studies/{study.pk}/reassign/")
    page.fill("#order_q", "T1")
    page.click("form.filters button[type=submit]")
    order = Order.objects.get(accession_number="T1")
    page.check(f"#order-{order.pk}")
    page.fill("textarea[name=reason]", "polytrauma: entered at the modality as unknown")
    page.click("form.reassign button[type=submit]")
    page.wait_for_selector("section.confirm")
    assert "RIGHT-1" in page.inner_text("table.plan")
    page.screenshot(path=str(ARTIFACTS / "reassign-confirm.png"), full_page=True)

    page.click("text=Confirm reassignment")
    page.wait_for_url(f"**/studies/{study.pk}/")
    assert "The study was reassigned" in page.inner_text(".messages")
    assert "RIGHT-1" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "reassign-done.png"), full_page=True)

    page.goto(f"{live_server.url}/audit/?action=reassign")
    assert "reassigned from patient TRAUMA-1 to RIGHT-1" in page.inner_text("table.audit")

    page.goto(f"{live_server.url}/studies/{study.pk}/reassign/")
    page.fill("#reverse-reason", "wrong patient after all")
    page.click("form.reverse button[type=submit]")
    page.wait_for_url(f"**/studies/{study.pk}/")
    assert "reversed" in page.inner_text(".messages")
    assert "TRAUMA-1" in page.inner_text("main")
