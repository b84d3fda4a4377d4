"""A national export is validated before anything is written, with clear errors."""

import pytest
from django.urls import reverse

from exports.models import ExportJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _post(client, **data):
    return client.post(reverse("export-national"), {"template": "survey-exam@1", "format": "csv", **data})


def test_the_period_is_required(world, staff_client):
    response = _post(staff_client)
    text = response.content.decode()
    assert response.status_code == 400
    assert "the start of the period is required" in text and "the end of the period is required" in text
    assert not ExportJob.objects.exists()


def test_a_period_that_ends_before_it_starts_is_refused(world, staff_client):
    response = _post(staff_client, date_from="2024-03-31", date_to="2024-03-01")
    assert "the period ends before it starts" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_an_empty_period_is_refused(world, staff_client):
    response = _post(staff_client, date_from="2023-01-01", date_to="2023-12-31")
    assert "the export would be empty" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_a_period_with_only_phantoms_is_empty(world, staff_client):
    response = _post(staff_client, date_from="2024-03-06", date_to="2024-03-06")
    assert "no patient exam from 2024-03-06 to 2024-03-06 matches" in response.content.decode()


def test_an_unknown_template_version_is_refused(world, staff_client):
    response = _post(staff_client, template="survey-exam@9", date_from="2024-03-01", date_to="2024-03-31")
    assert response.status_code == 400 and not ExportJob.objects.exists()


def test_the_page_lists_the_templates_with_their_versions_and_columns(world, staff_client):
    text = staff_client.get(reverse("export-index")).content.decode()
    assert "survey-exam</code> version 1" in text and "summary-procedure-room</code> version 1" in text
    assert "DLP, 75th percentile (mGy·cm)" in text and "linear interpolation" in text
