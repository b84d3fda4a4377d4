"""With a broker, a real Celery worker applies the messages the listener stored."""

from ingest.mllp import Hl7ListenerConfig, hl7_listener_start, hl7_listener_stop
from ingest.models import Hl7Message
from ris.models import Order
from tests.conftest import broker
from tests.ingest.conftest import wait_until
from tests.ris.hl7_messages import adt, msa, orm, send_with_mllp_client


@broker
def test_a_celery_worker_applies_adt_and_orders_sent_over_mllp(celery_worker):
    celery_worker()
    listener = hl7_listener_start(config=Hl7ListenerConfig(bind_address="127.0.0.1", port=0))
    try:
        port = listener.server_address[1]
        assert msa(send_with_mllp_client(port, adt("A01", "W1", control="WK-1")))[1] == "AA"
        assert msa(send_with_mllp_client(port, orm("NW", "W1", accession="WK-ACC", control="WK-2")))[1] == "AA"
    finally:
        hl7_listener_stop(listener)
    wait_until(
        lambda: Hl7Message.objects.filter(control_id__startswith="WK-", status=Hl7Message.Status.DONE).count() == 2,
        timeout=120,
        what="the worker to apply both messages",
    )
    assert Order.objects.get(accession_number="WK-ACC").patient.patient_id == "W1"
