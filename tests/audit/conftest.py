from tests.web.conftest import staff, user  # noqa: F401 - the same users as the web tests
