"""The "Patient size" page: upload a CSV, read what was filled, kept, overwritten, unmatched or invalid."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rdsr.models import Study
from tests.web.factories import make_study, page_text

pytestmark = pytest.mark.django_db

CSV = b"Acc num,height(cm),weight(kg)\nACC1,170,90\nACC2,165,80.6\nNOPE,180,80\nACC3,1.7,70\n"


def _upload(client, data=CSV, *, overwrite=False, name="sizes.csv"):
    form = {"file": SimpleUploadedFile(name, data, content_type="text/csv")}
    if overwrite:
        form["overwrite"] = "on"
    return client.post(reverse("patient-size"), form)


def test_it_asks_for_a_login():
    from django.test import Client

    response = Client().get(reverse("patient-size"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_explains_the_file_and_offers_the_overwrite_choice(logged_in):
    response = logged_in.get(reverse("patient-size"))

    text = page_text(response)
    assert response.status_code == 200
    assert "Overwrite existing values" in text
    assert "above 3.0 as centimetres" in text or "above 3 as centimetres" in text


def test_an_upload_shows_what_was_filled_kept_matched_nothing_and_was_invalid(logged_in):
    first = make_study(accession_number="ACC1", height_m=1.86, weight_kg=87.0, patient_size_source="header")
    second = make_study(accession_number="ACC2", weight_kg=75.0, patient_size_source="header")
    make_study(accession_number="ACC3")

    response = _upload(logged_in)

    text = page_text(response)
    assert "Filled (the study had no value) (1)" in text
    assert "3 ACC2 2024-03-01 CT Height 1.65 m" in text
    assert "Kept (the study's value stays; tick overwrite to replace it) (3)" in text
    assert "Height 1.86 m 1.7 m" in text and "Weight 87 kg 90 kg" in text and "Weight 75 kg 80.6 kg" in text
    assert "Rows that matched no study (1)" in text and "4 NOPE 1.8 m 80 kg" in text
    assert "Invalid rows, not used (1)" in text and "outside 0.2–2.6 m" in text
    assert f'href="/studies/{second.pk}/"' in response.content.decode()
    first.refresh_from_db()
    assert (first.height_m, first.weight_kg) == (1.86, 87.0)
    assert Study.objects.get(pk=second.pk).height_m == 1.65


def test_with_overwrite_ticked_existing_values_are_replaced_and_listed_as_overwritten(logged_in):
    study = make_study(accession_number="ACC1", height_m=1.86, weight_kg=87.0, patient_size_source="header")

    text = page_text(_upload(logged_in, overwrite=True))

    assert "Overwritten (2)" in text
    study.refresh_from_db()
    assert (study.height_m, study.weight_kg, study.patient_size_source) == (1.7, 90.0, "csv")


def test_a_file_that_cannot_be_read_is_refused_with_the_reason_and_nothing_changes(logged_in):
    study = make_study(accession_number="ACC1")

    response = _upload(logged_in, b"\x89PNG\r\n\x1a\n\x00\x00binary", name="photo.png")

    assert response.status_code == 200
    assert "This file cannot be read: this is not a text file (CSV expected)." in page_text(response)
    study.refresh_from_db()
    assert study.height_m is None


def test_posting_without_a_file_says_so(logged_in):
    response = logged_in.post(reverse("patient-size"), {})

    assert response.status_code == 200
    assert "This field is required." in page_text(response)
