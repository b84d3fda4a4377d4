"""A burst of 1 000 messages over several connections: each stored once and acknowledged once."""

import socket
import threading

from ingest.models import Hl7Message
from tests.ingest.conftest import wait_until
from tests.ris.hl7_messages import (
    adt,
    frame,
    hl7_listener_fixture,  # noqa: F401 (the hl7_listener fixture)
    msa,
    read_acks,
)

CONNECTIONS = 5
PER_CONNECTION = 200


def test_it_stores_and_acknowledges_a_burst_without_losing_or_doubling(hl7_listener):
    acks: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def sender(n: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", hl7_listener.server_address[1])) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                payload = b"".join(
                    frame(adt("A01", f"B{n}-{i}", control=f"BURST-{n}-{i}")) for i in range(PER_CONNECTION)
                )
                sock.sendall(payload)
                acks[n] = read_acks(sock, PER_CONNECTION)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    for n in range(CONNECTIONS):
        assert [msa(a)[1:3] for a in acks[n]] == [["AA", f"BURST-{n}-{i}"] for i in range(PER_CONNECTION)]
    total = CONNECTIONS * PER_CONNECTION
    assert Hl7Message.objects.filter(control_id__startswith="BURST-").count() == total
    wait_until(
        lambda: Hl7Message.objects.filter(status=Hl7Message.Status.DONE).count() == total,
        timeout=300,
        what="every burst message to be applied",
    )
    from rdsr.models import Patient

    assert Patient.objects.filter(patient_id__startswith="B").count() == total
