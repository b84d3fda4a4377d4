"""Filtered lists of studies and events as CSV or XLSX, the unit in every header."""

from io import BytesIO

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from .conftest import csv_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _download(client, kind, fmt, **params):
    response = client.get(reverse("export-list", args=[kind, fmt]), params)
    assert response.status_code == 200, response.content[:500]
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_study_list_comes_filtered_with_units_in_the_headers(world, staff_client):
    rows = csv_rows(_download(staff_client, "studies", "csv", date_from="2024-03-01", date_to="2024-03-31",
                              modality="CT", device=world["rooms"][0].pk))
    header = rows[0]
    assert "DLP total (mGy·cm)" in header and "DAP total (Gy·cm²)" in header and "Age (a)" in header
    dlp = header.index("DLP total (mGy·cm)")
    # CT 1 in March: three patient exams and the phantom (the list shows what the study list shows).
    assert sorted(r[dlp] for r in rows[1:]) == ["1000.0", "5000.0", "800.0", "900.0"]
    assert {r[header.index("Room")] for r in rows[1:]} == {"CT 1"}


def test_patients_only_and_procedure_filters_apply(world, staff_client):
    rows = csv_rows(_download(staff_client, "studies", "csv", patients_only="1",
                              procedure=world["procedures"]["head"].pk))
    accession = rows[0].index("Accession number")
    assert sorted(r[accession] for r in rows[1:]) == ["ACC-1001", "ACC-1002", "ACC-1003", "ACC-1004", "ACC-1008"]


def test_the_event_list_names_values_in_review(world, staff_client):
    rows = csv_rows(_download(staff_client, "events", "csv", device=world["rooms"][0].pk,
                              date_from="2024-03-04", date_to="2024-03-04"))
    header = rows[0]
    assert "CTDIvol (mGy)" in header and "DLP (mGy·cm)" in header and "Tube voltage (kV)" in header
    review = header.index("Unconfirmed values (in review)")
    ctdivol = header.index("CTDIvol (mGy)")
    assert [(r[ctdivol], r[review]) for r in rows[1:]] == [("0.2", ""), ("50.0", ""), ("60.0", "ctdivol_mgy")]


def test_the_xlsx_opens_and_has_units_in_its_headers(world, staff_client):
    data = _download(staff_client, "events", "xlsx", modality="CT")
    sheet = load_workbook(BytesIO(data), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert "CTDIvol (mGy)" in rows[0] and "DAP (Gy·cm²)" in rows[0]
    assert len(rows) == 1 + 9  # CT events of the world
    ctdivol = rows[0].index("CTDIvol (mGy)")
    assert 50.0 in [r[ctdivol] for r in rows[1:]]


def test_a_bad_filter_is_reported_not_exported(world, staff_client):
    response = staff_client.get(reverse("export-list", args=["studies", "csv"]), {"date_from": "March"}, follow=True)
    assert "Export not made" in response.content.decode()
