import pytest
from django.urls import reverse

from tests.web.factories import PASSWORD, make_received, make_study

pytestmark = pytest.mark.django_db


def _pages():
    study = make_study()
    received = make_received()
    return [
        reverse("study-list"),
        reverse("study-detail", args=[study.pk]),
        reverse("review-list"),
        reverse("review-reprocess", args=[received.pk]),
        reverse("review-reprocess-failed"),
    ]


def test_it_sends_anonymous_visitors_to_the_login_page_from_every_page(client):
    for url in _pages():
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, url
            assert response.url.startswith(reverse("login") + "?next="), url


def test_it_does_not_reprocess_for_anonymous_visitors(client):
    received = make_received(status="failed", error="boom")
    client.post(reverse("review-reprocess", args=[received.pk]))
    received.refresh_from_db()
    assert received.status == "failed"
    assert received.error == "boom"


def test_it_sends_anonymous_visitors_of_the_admin_to_a_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "login" in response.url


def test_it_logs_in_with_the_right_password_and_lands_on_the_study_list(client, user):
    response = client.post(reverse("login"), {"username": "mpe", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("study-list")
    assert response.status_code == 200
    assert b"Studies" in response.content
    assert b"Marie" in response.content


def test_it_refuses_a_wrong_password(client, user):
    response = client.post(reverse("login"), {"username": "mpe", "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert b"Please enter a correct username and password" in response.content


def test_it_logs_out_with_a_post(logged_in):
    response = logged_in.post(reverse("logout"))
    assert response.status_code == 302
    assert logged_in.get(reverse("study-list")).status_code == 302


def test_it_shows_the_admin_link_to_staff_only(client, user, staff):
    client.force_login(user)
    assert b'href="/admin/"' not in client.get(reverse("study-list")).content
    client.force_login(staff)
    assert b'href="/admin/"' in client.get(reverse("study-list")).content
