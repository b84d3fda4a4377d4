"""The web tests' users and logged-in client, for the reconciliation pages."""

from tests.web.conftest import logged_in, staff, user  # noqa: F401
