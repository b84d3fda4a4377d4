"""The ingest fixtures (private spool, dispatch without a broker, child environment) for the OCR tests."""

from tests.ingest.conftest import child_env, no_broker, spool  # noqa: F401
