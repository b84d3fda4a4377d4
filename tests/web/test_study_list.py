import datetime

import pytest
from django.urls import reverse

from tests.web.factories import make_device, make_patient, make_study, page_text

pytestmark = pytest.mark.django_db


def _accessions(response) -> list[str]:
    return [row["study"].accession_number for row in response.context["rows"]]


def test_it_lists_studies_with_their_totals_and_units(logged_in):
    device = make_device(display_name="CT Room 2")
    make_study(
        accession_number="ACC1",
        study_description="Thorax^TAP",
        patient=make_patient(patient_id="P-77"),
        device=device,
        event_count=3,
        dlp_total_mgycm=523.17,
    )
    make_study(
        modality="RF",
        accession_number="ACC2",
        dap_total_gycm2=0.000016,
        fluoro_time_total_s=28.0,
        event_count=8,
    )
    make_study(modality="MG", accession_number="ACC3", agd_left_mgy=1.234, agd_right_mgy=2.5)
    response = logged_in.get(reverse("study-list"))
    html = response.content.decode()
    for header in ('Total DLP<br><span class="unit">mGy·cm', 'Total DAP<br><span class="unit">Gy·cm²'):
        assert header in html
    text = page_text(response)
    assert "AGD L / R mGy Fluoro time s" in text
    assert "09:30 CT CT Room 2 ACC1 Thorax^TAP P-77 3 523.2 rdsr" in text
    assert "ACC2 (no description) PID" in text and " 8 0.000016 28 rdsr" in text
    assert " 0 1.234 / 2.5 rdsr" in text


def test_it_lists_newest_first(logged_in):
    make_study(accession_number="OLD", study_date=datetime.date(2023, 1, 1))
    make_study(
        accession_number="NEW-LATE", study_date=datetime.date(2024, 6, 1), study_time=datetime.time(15, 0)
    )
    make_study(
        accession_number="NEW-EARLY", study_date=datetime.date(2024, 6, 1), study_time=datetime.time(8, 0)
    )
    make_study(accession_number="UNDATED", study_date=None, study_time=None)
    response = logged_in.get(reverse("study-list"))
    assert _accessions(response) == ["NEW-LATE", "NEW-EARLY", "OLD", "UNDATED"]


def test_it_filters_by_date_range(logged_in):
    for day in (1, 10, 20):
        make_study(accession_number=f"D{day}", study_date=datetime.date(2024, 5, day))
    response = logged_in.get(reverse("study-list"), {"date_from": "2024-05-05", "date_to": "2024-05-20"})
    assert _accessions(response) == ["D20", "D10"]


def test_it_filters_by_modality_and_device(logged_in):
    room = make_device(display_name="Room A")
    make_study(accession_number="CT-A", modality="CT", device=room)
    make_study(accession_number="RF-A", modality="RF", device=room)
    make_study(accession_number="CT-B", modality="CT")
    assert _accessions(logged_in.get(reverse("study-list"), {"modality": "RF"})) == ["RF-A"]
    assert sorted(_accessions(logged_in.get(reverse("study-list"), {"device": room.pk}))) == ["CT-A", "RF-A"]
    both = logged_in.get(reverse("study-list"), {"device": room.pk, "modality": "CT"})
    assert _accessions(both) == ["CT-A"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("acc-42", "ACC-42"), ("abdomen", "ABD"), ("px-9", "PAT")],
)
def test_it_finds_studies_by_accession_description_or_patient_id(logged_in, text, expected):
    make_study(accession_number="ACC-42")
    make_study(accession_number="ABD", study_description="Abdomen^Routine")
    make_study(accession_number="PAT", patient=make_patient(patient_id="PX-9"))
    assert _accessions(logged_in.get(reverse("study-list"), {"q": text})) == [expected]


def test_it_reports_an_invalid_date_and_ignores_it(logged_in):
    make_study(accession_number="ANY")
    response = logged_in.get(reverse("study-list"), {"date_from": "not-a-date"})
    assert response.status_code == 200
    assert _accessions(response) == ["ANY"]
    assert "Enter a valid date" in response.content.decode()


def test_it_pages_fifty_studies_at_a_time_keeping_the_filter(logged_in):
    for i in range(55):
        make_study(
            accession_number=f"A{i:02}",
            modality="DX",
            study_date=datetime.date(2024, 1, 1) + datetime.timedelta(days=i),
        )
    make_study(accession_number="OTHER", modality="CT")
    first = logged_in.get(reverse("study-list"), {"modality": "DX"})
    assert len(first.context["rows"]) == 50
    assert "?modality=DX&amp;page=2" in first.content.decode()
    second = logged_in.get(reverse("study-list"), {"modality": "DX", "page": 2})
    assert _accessions(second) == ["A04", "A03", "A02", "A01", "A00"]


def test_it_reads_the_list_in_a_fixed_number_of_queries(logged_in, django_assert_max_num_queries):
    for i in range(30):
        make_study(accession_number=f"Q{i}", patient=make_patient(), device=make_device())
    # session, user, modalities, devices (filter form), count, page
    with django_assert_max_num_queries(7):
        response = logged_in.get(reverse("study-list"))
    assert len(response.context["rows"]) == 30
