"""The DICOM Storage SCP: accept every storage object, keep its bytes, answer.

The C-STORE handler never decodes the dataset and never waits for the
database: it writes the bytes as received durably to the spool's incoming area
(`spool_write_incoming`), hands a receipt to the process's `ReceiptWriter`
(which registers rows in batches and enqueues processing, see
`ingest.receipts`) and answers. A modality whose C-STORE fails retries or
stops sending, so we refuse nothing we can store, and answer "out of
resources" (0xA700) only when we could not write the file durably, so that
it retries. A database outage therefore does not fail C-STOREs: files wait in
incoming until the writer gets through.

The same AE is the MPPS SCP (Modality Performed Procedure Step, N-CREATE and
N-SET): each message is kept in the spool and recorded by
`ingest.mpps.mpps_message_receive` before the answer, and processed by a task.
Unlike a C-STORE this waits for the database, because the answer depends on
the step's state (duplicate, unknown, already completed); MPPS comes twice
per examination, so that costs nothing worth measuring."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection, connections
from pydicom import Dataset, uid
from pynetdicom import AE, AllStoragePresentationContexts, build_context, evt
from pynetdicom.dsutils import encode
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification
from pynetdicom.transport import ThreadedAssociationServer

from ingest import dispatch
from ingest.mpps import STATUS_PROCESSING_FAILURE, mpps_message_receive
from ingest.receipts import Receipt, ReceiptWriter, receipts_recover
from ingest.spool import incoming_name, spool_write_incoming

logger = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700

# Explicit VR Little Endian first: pynetdicom accepts the first of our syntaxes
# the sender proposes, and with Implicit first senders drop the VRs of private
# tags. Compressed syntaxes are accepted so compressed images are not refused.
TRANSFER_SYNTAXES: list[str] = [
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.JPEG2000MCLossless,
    uid.JPEG2000MC,
    uid.HTJ2KLossless,
    uid.HTJ2KLosslessRPCL,
    uid.HTJ2K,
    uid.RLELossless,
]

# The dose SR classes we exist for; added if a pynetdicom release ever drops them.
DOSE_SR_SOP_CLASSES: list[str] = [
    "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.68",  # Radiopharmaceutical Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.73",  # Patient Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.76",  # Enhanced X-Ray Radiation Dose SR
]

MAX_ASSOCIATIONS = 32


def storage_sop_classes() -> list[str]:
    classes = [str(cx.abstract_syntax) for cx in AllStoragePresentationContexts]
    classes.extend(sop for sop in DOSE_SR_SOP_CLASSES if sop not in classes)
    return classes


def supported_contexts() -> list[PresentationContext]:
    contexts = [
        build_context(Verification, TRANSFER_SYNTAXES[:2]),
        # MPPS attribute lists are small and never compressed.
        build_context(ModalityPerformedProcedureStep, TRANSFER_SYNTAXES[:4]),
    ]
    contexts.extend(build_context(sop, TRANSFER_SYNTAXES) for sop in storage_sop_classes())
    return contexts


def handle_store(event: Event, writer: ReceiptWriter) -> int:
    """Write the object durably to incoming, hand its receipt on; 0x0000 once durable, 0xA700 otherwise."""
    request = event.request
    assoc = event.assoc
    sop_instance_uid = str(request.AffectedSOPInstanceUID or "")
    received_ns = time.time_ns()
    calling_ae = assoc.requestor.ae_title
    # The title the sender called us by: a modality set up with a wrong one
    # still gets in, and the row shows what it uses.
    called_ae = getattr(assoc.requestor.primitive, "called_ae_title", "") or assoc.acceptor.ae_title
    peer = assoc.requestor.address
    try:
        if not sop_instance_uid:
            raise ValueError("a received object needs a SOP Instance UID")
        data = event.encoded_dataset()
        path = spool_write_incoming(
            data=data,
            name=incoming_name(
                received_ns=received_ns,
                sop_instance_uid=sop_instance_uid,
                calling_ae=calling_ae,
                called_ae=called_ae,
                peer=peer,
            ),
        )
    except Exception:
        logger.exception(
            "could not store %s from %s (%s); answering 0xA700 so the sender retries",
            sop_instance_uid,
            calling_ae,
            peer,
        )
        return STATUS_OUT_OF_RESOURCES
    writer.submit(
        Receipt(
            path=path,
            sop_instance_uid=sop_instance_uid,
            sop_class_uid=str(request.AffectedSOPClassUID or ""),
            transfer_syntax_uid=str(event.context.transfer_syntax),
            calling_ae=calling_ae,
            called_ae=called_ae,
            peer_address=peer,
            received_at=dt.datetime.fromtimestamp(received_ns / 1e9, tz=dt.UTC),
            size_bytes=len(data),
        )
    )
    return STATUS_SUCCESS


def handle_n_create(event: Event) -> tuple[Dataset, Dataset | None]:
    """MPPS N-CREATE: keep and record the attribute list, answer per PS3.4 F.7."""
    request = event.request
    sop_instance_uid = str(request.AffectedSOPInstanceUID or "")
    # The SCU may leave the UID to us (PS3.7 10.1.5.1.4); it then comes back
    # in the response.
    generated = "" if sop_instance_uid else uid.generate_uid()
    status, dataset = _mpps_receive(
        event, action="create", sop_instance_uid=sop_instance_uid or generated, data=request.AttributeList
    )
    if dataset is not None:
        syntax = uid.UID(str(event.context.transfer_syntax))
        if encode(dataset, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated) is None:
            # The message is kept already: a list we cannot echo back (an odd
            # value decoded leniently) must not become a failure the sender
            # retries, which would then be a duplicate.
            dataset = Dataset()
        if generated:
            dataset.AffectedSOPInstanceUID = generated
    return status, dataset


def handle_n_set(event: Event) -> tuple[Dataset, None]:
    """MPPS N-SET: keep and record the modification list, answer per PS3.4 F.7.

    The response's attribute list is optional and left out, for the reason
    given in `handle_n_create`.
    """
    request = event.request
    status, _ = _mpps_receive(
        event,
        action="set",
        sop_instance_uid=str(request.RequestedSOPInstanceUID or ""),
        data=request.ModificationList,
    )
    return status, None


def _mpps_receive(event: Event, *, action: str, sop_instance_uid: str, data) -> tuple[Dataset, Dataset | None]:
    assoc = event.assoc
    calling_ae = assoc.requestor.ae_title
    # Handler threads live as long as their association: a connection the
    # database dropped meanwhile must not fail the message.
    close_old_connections()
    try:
        answer = mpps_message_receive(
            action=action,
            sop_instance_uid=sop_instance_uid,
            data=data.getvalue() if data is not None else b"",
            transfer_syntax_uid=str(event.context.transfer_syntax),
            calling_ae=calling_ae,
            peer_address=assoc.requestor.address,
        )
    except Exception:
        logger.exception(
            "could not keep MPPS N-%s %s from %s; answering 0x0110 so the sender retries",
            action.upper(),
            sop_instance_uid,
            calling_ae,
        )
        return _dimse_status(STATUS_PROCESSING_FAILURE, "could not store the message; send it again"), None
    finally:
        # One connection per association thread would otherwise stay open
        # until the thread ends; MPPS messages are rare.
        connection.close()
    return _dimse_status(answer.status, answer.comment), answer.dataset


def _dimse_status(code: int, comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment[:64]
    return status


class _NoDelayServer(ThreadedAssociationServer):
    def get_request(self):
        client_socket, address = super().get_request()
        # Without TCP_NODELAY each small PDU waits for the peer's delayed ACK:
        # loopback transfers crawl at 10-20 objects/s.
        client_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client_socket, address


@dataclass
class ScpConfig:
    ae_title: str = field(default_factory=lambda: settings.DICOM_AE_TITLE)
    bind_address: str = field(default_factory=lambda: settings.DICOM_BIND_ADDRESS)
    port: int = field(default_factory=lambda: settings.DICOM_PORT)
    # Empty: any calling AE title may associate.
    allowed_calling_aes: list[str] = field(default_factory=lambda: list(settings.DICOM_ALLOWED_CALLING_AES))
    # False: only store (the sweeper or a later run processes); for measuring the edge alone.
    enqueue: bool = True


def scp_build_ae(*, config: ScpConfig) -> AE:
    ae = AE(ae_title=config.ae_title)
    ae.supported_contexts = supported_contexts()
    ae.maximum_associations = MAX_ASSOCIATIONS
    # Unlimited receive PDU: fewer, larger reads per object.
    ae.maximum_pdu_size = 0
    if config.allowed_calling_aes:
        ae.require_calling_aet = config.allowed_calling_aes
    return ae


def scp_start(*, config: ScpConfig | None = None, recover: bool = True) -> ThreadedAssociationServer:
    """Start listening in a background thread; return the server.

    First registers what an earlier run answered but left in incoming (unless
    `recover` is False: the caller did it). `server.server_address` gives the
    bound address (port 0 picks a free one); `server.receipts` is the writer
    (`scp_wait_registered(server)` waits for it); stop with `scp_stop(server)`.
    """
    config = config or ScpConfig()
    if recover:
        receipts_recover(enqueue=config.enqueue)
        connections.close_all()
    writer = ReceiptWriter(enqueue=config.enqueue).start()
    ae = scp_build_ae(config=config)
    try:
        server = ae.make_server(
            (config.bind_address, config.port),
            evt_handlers=[
                (evt.EVT_C_STORE, handle_store, [writer]),
                (evt.EVT_N_CREATE, handle_n_create),
                (evt.EVT_N_SET, handle_n_set),
            ],
            server_class=_NoDelayServer,
        )
    except BaseException:
        writer.stop()
        raise
    server.receipts = writer
    ae._servers.append(server)
    thread = threading.Thread(target=server.serve_forever, name="dicom-scp", daemon=True)
    thread.start()
    logger.info(
        "DICOM SCP %s listening on %s:%s%s",
        config.ae_title,
        server.server_address[0],
        server.server_address[1],
        f" (calling AEs allowed: {', '.join(config.allowed_calling_aes)})"
        if config.allowed_calling_aes
        else "",
    )
    return server


def scp_wait_registered(server: ThreadedAssociationServer, *, timeout: float | None = None) -> bool:
    """Wait until every object answered so far is registered (without a broker: processed too)."""
    return server.receipts.wait_idle(timeout)


def scp_stop(server: ThreadedAssociationServer, *, grace_seconds: float = 5.0) -> None:
    """Stop accepting; give running associations a moment, then abort them; register what was answered.

    Aborting loses nothing: an object is answered only once it is durable, so
    the sender re-sends whatever was not yet answered. What the writer cannot
    register now (database down) waits in incoming for the next start.
    """
    server.shutdown()
    deadline = time.monotonic() + grace_seconds
    while server.active_associations and time.monotonic() < deadline:
        time.sleep(0.05)
    for assoc in server.active_associations:
        assoc.abort()
    server.receipts.stop()
    # Ids gathered for one batch task would otherwise wait for the sweeper.
    dispatch.flush_pending()
