"""Exports of patient data are for staff users only, and never for someone not logged in."""

import pytest
from django.urls import reverse

from exports.models import ExportJob

pytestmark = pytest.mark.django_db


def _urls(job):
    return [
        reverse("export-index"),
        reverse("export-list", args=["studies", "csv"]),
        reverse("export-list", args=["events", "xlsx"]),
        reverse("export-jobs"),
        reverse("export-download", args=[job.pk]),
    ]


@pytest.fixture
def job(user):
    return ExportJob.objects.create(user=user, username="someone", kind="studies", status="done", file_name="x.csv")


def test_a_user_who_is_not_staff_is_refused(logged_in, job):
    for url in _urls(job):
        assert logged_in.get(url).status_code == 403, url
    assert logged_in.post(reverse("export-national"), {}).status_code == 403


def test_someone_not_logged_in_is_sent_to_the_login(client, job):
    for url in _urls(job):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
