"""The reconciliation page: three worklists with counts, the grace time, the order pages."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from rdsr.models import Patient
from ris.models import Order
from tests.ris.hl7_messages import apply, dose_study, orm
from tests.web.factories import make_study, page_text

pytestmark = pytest.mark.django_db

URL = reverse("reconciliation")


@pytest.fixture
def scenario():
    """An order whose exam never sent dose, one that did, and an emergency study without an order."""
    apply(orm("NW", "P1", accession="W1", text="CT Abdomen", scheduled="20250301090000"))
    apply(orm("NW", "P2", accession="W2", scheduled="20250301090000"))
    done = dose_study(study_uid="1.2.9.2", patient_id="P2", accession="W2")
    lonely = dose_study(study_uid="1.2.9.5", patient_id="EMERGENCY1", accession="")
    return {"done": done, "lonely": lonely}


def test_it_shows_an_order_without_dose_data_and_a_study_without_an_order(logged_in, scenario):
    orders = page_text(logged_in.get(URL))
    assert "W1" in orders and "CTABD CT Abdomen" in orders and "P1" in orders and "Doe, Jane" in orders
    assert "2025-03-01" in orders and "RAD" in orders and "Scheduled" in orders
    assert "W2" not in orders  # its dose data arrived

    studies = logged_in.get(URL, {"tab": "studies"})
    text = page_text(studies)
    assert "EMERGENCY1" in text and "P2" not in text
    assert scenario["lonely"].get_absolute_url() in studies.content.decode()


def test_it_shows_the_count_of_each_worklist(logged_in, scenario):
    text = page_text(logged_in.get(URL))
    assert "1 Orders without dose data" in text
    assert "1 Studies without an order" in text
    assert "0 Patient differs from the RIS" in text


def test_it_shows_the_grace_time_and_how_to_change_it(logged_in, settings):
    settings.HL7_ORDER_GRACE_HOURS = 36
    text = page_text(logged_in.get(URL))
    assert "36 h after its scheduled time" in text and "DOSEMGMT_ORDER_GRACE_HOURS" in text


def test_it_leaves_an_order_within_its_grace_time_off_the_list(logged_in, settings):
    apply(orm("NW", "P1", accession="W9", scheduled="20250301090000"))
    settings.HL7_ORDER_GRACE_HOURS = 24 * 365 * 100
    text = page_text(logged_in.get(URL))
    assert "W9" not in text and "Every order past its grace time has dose data." in text


def test_it_shows_what_differs_between_the_study_and_the_ris(logged_in):
    apply(orm("NW", "P1", accession="W6"))  # Doe^Jane, 1970-01-02, F
    study = dose_study(study_uid="1.2.9.6", patient_id="UNKNOWN-7", accession="W6")
    Patient.objects.filter(pk=study.patient_id).update(name="Unknown^Trauma", sex="M", birth_date=None)

    response = logged_in.get(URL, {"tab": "mismatch"})
    text = page_text(response)
    assert "Patient ID, Name, Birth date, Sex" in text
    assert "UNKNOWN-7" in text and "Unknown, Trauma" in text
    assert "P1" in text and "Doe, Jane" in text and "1970-01-02" in text
    assert response.content.decode().count('class="differs"') == 8  # four fields, both sides


def test_it_pages_a_long_worklist(logged_in):
    for _ in range(51):
        make_study(event_count=1, dlp_total_mgycm=10.0)
    first = page_text(logged_in.get(URL, {"tab": "studies"}))
    assert "Page 1 of 2" in first and "51 Studies without an order" in first
    second = logged_in.get(URL, {"tab": "studies", "page": 2})
    assert second.content.decode().count("Reassign…") == 0  # not staff
    assert "Page 2 of 2" in page_text(second)


def test_viewing_a_worklist_is_audited_once_per_page(logged_in, scenario):
    logged_in.get(URL, {"tab": "studies"})
    event = AuditEvent.objects.get(action="view", object_type="worklist")
    assert event.username == "mpe" and event.object_id == "studies"


def test_only_staff_see_the_reassign_button(client, user, staff, scenario):
    client.force_login(user)
    assert "Reassign…" not in client.get(URL, {"tab": "studies"}).content.decode()
    client.force_login(staff)
    assert reverse("study-reassign", args=[scenario["lonely"].pk]) in client.get(URL, {"tab": "studies"}).content.decode()


def test_the_worklists_need_a_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_order_page_shows_its_last_message_and_its_study(logged_in, scenario):
    order = Order.objects.get(accession_number="W2")
    text = page_text(logged_in.get(reverse("order-detail", args=[order.pk])))
    assert "ORM^O01" in text and "OBR|1|PLW2" in text
    assert "matched by accession number" in text and "100 mGy·cm" in text
    assert AuditEvent.objects.filter(object_type="order", object_id=str(order.pk), patient_pk=order.patient_id).exists()


def test_the_order_list_finds_an_order_by_accession_number(logged_in, scenario):
    text = page_text(logged_in.get(reverse("order-list"), {"q": "W1"}))
    assert "1 order from the RIS match" in text and "W2" not in text


def test_a_worklist_page_takes_the_same_queries_for_many_rows(logged_in, django_assert_max_num_queries):
    for n in range(3):
        apply(orm("NW", "P1", accession=f"M{n}"))
        dose_study(study_uid=f"1.2.9.8{n}", patient_id=f"OTHER-{n}", accession=f"M{n}")
    with django_assert_max_num_queries(12) as few:
        logged_in.get(URL, {"tab": "mismatch"})
    for n in range(3, 20):
        apply(orm("NW", "P1", accession=f"M{n}"))
        dose_study(study_uid=f"1.2.9.8{n}", patient_id=f"OTHER-{n}", accession=f"M{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        logged_in.get(URL, {"tab": "mismatch"})
