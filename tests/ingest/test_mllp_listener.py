"""The MLLP listener over real sockets: stored before answered, the right ACK, the connection survives."""

import socket

from ingest.models import Hl7Message
from rdsr.models import Patient
from tests.ris.hl7_messages import (
    adt,
    frame,
    hl7_listener_fixture,  # noqa: F401 (the hl7_listener fixture)
    msa,
    msh,
    read_acks,
    send_with_mllp_client,
    wait_processed,
)


def _connect(listener) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", listener.server_address[1]))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def test_it_stores_and_acknowledges_an_adt_a01_sent_with_python_hl7(hl7_listener):
    ack = send_with_mllp_client(hl7_listener.server_address[1], adt("A01", "P100", control="CTRL-1"))

    assert msa(ack)[1:3] == ["AA", "CTRL-1"]
    message = Hl7Message.objects.get(control_id="CTRL-1")
    assert message.ack_code == "AA"
    assert bytes(message.raw).startswith(b"MSH|")
    assert wait_processed("CTRL-1").status == Hl7Message.Status.DONE
    assert Patient.objects.get(patient_id="P100").name == "Doe^Jane"


def test_it_answers_many_messages_on_one_connection(hl7_listener):
    with _connect(hl7_listener) as sock:
        sock.sendall(b"".join(frame(adt("A01", f"P2{i:02d}", control=f"MANY-{i}")) for i in range(20)))
        acks = read_acks(sock, 20)
    assert [msa(a)[2] for a in acks] == [f"MANY-{i}" for i in range(20)]
    assert Hl7Message.objects.filter(control_id__startswith="MANY-").count() == 20


def test_it_reads_a_message_written_one_byte_at_a_time(hl7_listener):
    with _connect(hl7_listener) as sock:
        for byte in frame(adt("A01", "P300", control="BYTES-1")):
            sock.send(bytes([byte]))
        [ack] = read_acks(sock, 1)
    assert msa(ack)[1:3] == ["AA", "BYTES-1"]


def test_it_ignores_garbage_between_frames_and_answers_the_next_message(hl7_listener):
    with _connect(hl7_listener) as sock:
        sock.sendall(frame(adt("A01", "P400", control="G-1")) + b"noise\r\n\x00junk" + frame(adt("A01", "P401", control="G-2")))
        acks = read_acks(sock, 2)
    assert [msa(a)[1:3] for a in acks] == [["AA", "G-1"], ["AA", "G-2"]]


def test_it_answers_ae_to_a_message_without_end_block_and_takes_the_resend(hl7_listener):
    cut = b"\x0b" + adt("A01", "P500", control="CUT-1").encode()
    with _connect(hl7_listener) as sock:
        sock.sendall(cut + frame(adt("A01", "P501", control="CUT-2")))
        acks = read_acks(sock, 2)
        assert [msa(a)[1:3] for a in acks] == [["AE", "CUT-1"], ["AA", "CUT-2"]]
        assert Hl7Message.objects.get(control_id="CUT-1").status == Hl7Message.Status.REJECTED

        sock.sendall(frame(adt("A01", "P500", control="CUT-1")))
        [again] = read_acks(sock, 1)
    assert msa(again)[1:3] == ["AA", "CUT-1"]
    assert wait_processed("CUT-1").status == Hl7Message.Status.DONE
    assert Patient.objects.filter(patient_id="P500").exists()


def test_it_rejects_a_wrong_version_and_goes_on(hl7_listener):
    with _connect(hl7_listener) as sock:
        sock.sendall(frame(adt("A01", "P600", control="V-1", version="3.0")) + frame(adt("A01", "P601", control="V-2")))
        acks = read_acks(sock, 2)
    assert [msa(a)[1:3] for a in acks] == [["AR", "V-1"], ["AA", "V-2"]]
    rejected = Hl7Message.objects.get(control_id="V-1")
    assert rejected.status == Hl7Message.Status.REJECTED
    assert "version 3.0" in rejected.error
    wait_processed("V-2")
    assert not Patient.objects.filter(patient_id="P600").exists()


def test_it_rejects_a_broken_msh_and_keeps_it_for_review(hl7_listener):
    with _connect(hl7_listener) as sock:
        sock.sendall(frame("MSH|^~\\&|HIS|HOSP\rPID|1||P700\r") + frame(adt("A01", "P701", control="B-2")))
        acks = read_acks(sock, 2)
    assert msa(acks[0])[1] == "AR"
    assert msa(acks[1])[1:3] == ["AA", "B-2"]
    broken = Hl7Message.objects.get(status=Hl7Message.Status.REJECTED, control_id="")
    assert "MSH-9" in broken.error


def test_it_rejects_an_unsupported_message_type(hl7_listener):
    message = msh("ORU^R01", control="U-1") + "\rPID|1||P800\r"
    assert msa(send_with_mllp_client(hl7_listener.server_address[1], message))[1:3] == ["AR", "U-1"]


def test_it_answers_a_resend_aa_without_processing_it_twice(hl7_listener):
    port = hl7_listener.server_address[1]
    send_with_mllp_client(port, adt("A01", "P900", control="R-1", name="First^Name"))
    wait_processed("R-1")
    ack = send_with_mllp_client(port, adt("A01", "P900", control="R-1", name="Second^Name"))

    assert msa(ack)[1:3] == ["AA", "R-1"]
    message = Hl7Message.objects.get(control_id="R-1")
    assert message.times_received == 2
    assert Patient.objects.get(patient_id="P900").name == "First^Name"


def test_it_honours_the_character_set_of_msh_18(hl7_listener):
    message = adt("A01", "P950", control="CS-1", charset="8859/1", name="Müller^Jürgen")
    with _connect(hl7_listener) as sock:
        sock.sendall(frame(message, encoding="latin-1"))
        [ack] = read_acks(sock, 1)
    assert msa(ack)[1] == "AA"
    wait_processed("CS-1")
    assert Patient.objects.get(patient_id="P950").name == "Müller^Jürgen"


def test_it_reads_utf8_when_msh_18_says_so(hl7_listener):
    message = adt("A01", "P951", control="CS-2", charset="UNICODE UTF-8", name="Łukasiewicz^Zoë")
    with _connect(hl7_listener) as sock:
        sock.sendall(frame(message, encoding="utf-8"))
        read_acks(sock, 1)
    wait_processed("CS-2")
    assert Patient.objects.get(patient_id="P951").name == "Łukasiewicz^Zoë"
