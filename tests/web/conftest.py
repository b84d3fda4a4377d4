"""Users and a logged-in client for the web tests."""

import pytest

from tests.web.factories import PASSWORD


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="mpe", password=PASSWORD, first_name="Marie")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser(
        username="boss", password=PASSWORD, email="boss@example.org"
    )


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client
