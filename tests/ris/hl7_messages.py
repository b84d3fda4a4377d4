"""HL7 v2 messages as a RIS/HIS sends them, built per test (segments end in CR)."""

from __future__ import annotations

import itertools

_ids = itertools.count(1)


def control_id() -> str:
    return f"T{next(_ids):08d}"


def msh(message_type: str, *, control: str | None = None, version: str = "2.5", charset: str = "",
        sender: str = "HIS") -> str:
    fields = ["MSH", "^~\\&", sender, "HOSP", "DOSEMGMT", "HOSP", "20250301101500", "", message_type,
              control or control_id(), "P", version]
    if charset:
        fields += ["", "", "", "", "", charset]
    return "|".join(fields)


def pid(patient_id: str, *, name: str = "Doe^Jane", birth: str = "19700102", sex: str = "F",
        authority: str = "HOSP") -> str:
    return f"PID|1||{patient_id}^^^{authority}^MR||{name}||{birth}|{sex}"


def adt(event: str, patient_id: str, *, prior: str | None = None, control: str | None = None,
        version: str = "2.5", charset: str = "", **patient) -> str:
    segments = [msh(f"ADT^{event}^ADT_A01", control=control, version=version, charset=charset),
                f"EVN|{event}|20250301101500", pid(patient_id, **patient), "PV1|1|O|RAD^1^1"]
    if prior:
        segments.append(f"MRG|{prior}^^^HOSP^MR")
    return "\r".join(segments) + "\r"


def orm(control_code: str, patient_id: str, *, accession: str, placer: str = "", study_uid: str = "",
        code: str = "CTABD", text: str = "CT Abdomen", reason: str = "Suspected appendicitis",
        scheduled: str = "20250301090000", control: str | None = None, order_status: str = "") -> str:
    placer = placer or f"PL{accession}"
    obr = ["OBR", "1", placer, f"FI{accession}", f"{code}^{text}^LOCAL"] + [""] * 13
    obr += [accession, f"RP{accession}"] + [""] * 4 + ["CT", "", "", f"^^^{scheduled}"] + [""] * 3
    obr += [f"^{reason}"]
    segments = [
        msh("ORM^O01", control=control, version="2.3"),
        pid(patient_id),
        "PV1|1|O|CT^1^1",
        f"ORC|{control_code}|{placer}|FI{accession}||{order_status}||^^^{scheduled}|||||DRX^Doe^John|RAD",
        "|".join(obr),
    ]
    if study_uid:
        segments.append(f"ZDS|{study_uid}^RIS^Application^DICOM")
    return "\r".join(segments) + "\r"


def omi(control_code: str, patient_id: str, *, accession: str, study_uid: str = "", code: str = "XRCHEST",
        text: str = "Chest PA", scheduled: str = "20250301090000", control: str | None = None) -> str:
    segments = [
        msh("OMI^O23^OMI_O23", control=control, version="2.5.1"),
        pid(patient_id),
        "PV1|1|I|WARD3^12^2",
        f"ORC|{control_code}|PL{accession}|FI{accession}",
        f"TQ1|1||||||{scheduled}",
        f"OBR|1|PL{accession}|FI{accession}|{code}^{text}^LOCAL",
        f"IPC|{accession}|RP{accession}|{study_uid}|SPS{accession}|DX",
    ]
    return "\r".join(segments) + "\r"


def frame(message: str, encoding: str = "latin-1") -> bytes:
    return b"\x0b" + message.encode(encoding) + b"\x1c\x0d"


# --- a real listener and senders ------------------------------------------------

import socket  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(name="hl7_listener")
def hl7_listener_fixture(transactional_db, settings):
    """A real MLLP listener on a free port; messages applied in this process (no broker)."""
    from ingest.mllp import Hl7ListenerConfig, hl7_listener_start, hl7_listener_stop

    settings.CELERY_BROKER_URL = None
    listener = hl7_listener_start(config=Hl7ListenerConfig(bind_address="127.0.0.1", port=0))
    yield listener
    hl7_listener_stop(listener)


def send_with_mllp_client(port: int, message: str) -> str:
    """python-hl7's MLLP client (what `mllp_send` uses): one message, its ACK as text."""
    from hl7.client import MLLPClient

    with MLLPClient("127.0.0.1", port) as client:
        return client.send_message(message).decode("latin-1")


def read_acks(sock: socket.socket, count: int) -> list[str]:
    """Read `count` framed ACKs from a raw socket."""
    buffer = b""
    acks: list[str] = []
    sock.settimeout(60)
    while len(acks) < count:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {len(acks)} of {count} ACKs")
        buffer += chunk
        while b"\x1c\x0d" in buffer:
            one, buffer = buffer.split(b"\x1c\x0d", 1)
            acks.append(one.lstrip(b"\x0b").decode("latin-1"))
    return acks


def msa(ack: str) -> list[str]:
    """The MSA fields of an ACK: ["MSA", code, control id, text]."""
    for segment in ack.split("\r"):
        if segment.startswith("MSA|"):
            return segment.split("|")
    raise AssertionError(f"no MSA in {ack!r}")


def wait_processed(control_id: str, *, timeout: float = 60):
    """The stored message once its processing finished (done, ignored or failed)."""
    from ingest.models import Hl7Message
    from tests.ingest.conftest import wait_until

    finished = [Hl7Message.Status.DONE, Hl7Message.Status.IGNORED, Hl7Message.Status.FAILED]
    return wait_until(
        lambda: Hl7Message.objects.filter(control_id=control_id, status__in=finished).first(),
        timeout=timeout,
        what=f"HL7 message {control_id} to be processed",
    )


def apply(message: str, encoding: str = "latin-1"):
    """Store a message as the listener does and apply it as the task does."""
    from ingest.mllp import hl7_message_store
    from ris.services import hl7_message_process

    receipt = hl7_message_store(raw=message.encode(encoding), peer="test")
    assert receipt.ack_code == "AA", receipt.text
    return hl7_message_process(message_id=receipt.message_id)


def dose_study(*, study_uid: str, patient_id: str, accession: str = "", study_date: str = "2025-03-01"):
    """A CT study with dose data, stored through the DICOM store."""
    from rdsr.services import dose_record_store
    from tests.rdsr.factories import ct_event, ct_record, uid

    record = ct_record(events=[ct_event(dlp=100.0)], study_uid=study_uid, patient_id=patient_id, sop_uid=uid())
    record.study.accession_number = accession
    record.study.study_date = study_date
    return dose_record_store(record=record).study
