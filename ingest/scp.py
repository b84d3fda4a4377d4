"""The DICOM Storage SCP: accept every storage object, keep its bytes, answer.

The C-STORE handler never decodes the dataset: it hands the bytes as received
to `received_object_store` (spool file + row) and answers. Parsing happens
later, in a task. A modality whose C-STORE fails retries or stops sending, so
we refuse nothing we can store, and answer "out of resources" (0xA700) only
when we could not store durably, so that it retries.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from pydicom import uid
from pynetdicom import AE, AllStoragePresentationContexts, build_context, evt
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from ingest.services import received_object_store

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
    contexts = [build_context(Verification, TRANSFER_SYNTAXES[:2])]
    contexts.extend(build_context(sop, TRANSFER_SYNTAXES) for sop in storage_sop_classes())
    return contexts


def handle_store(event: Event, enqueue: bool = True) -> int:
    """Store the object as received; 0x0000 once durable, 0xA700 otherwise."""
    request = event.request
    assoc = event.assoc
    sop_instance_uid = str(request.AffectedSOPInstanceUID or "")
    store = functools.partial(
        received_object_store,
        data=event.encoded_dataset(),
        sop_instance_uid=sop_instance_uid,
        sop_class_uid=str(request.AffectedSOPClassUID or ""),
        transfer_syntax_uid=str(event.context.transfer_syntax),
        origin="scp",
        calling_ae=assoc.requestor.ae_title,
        # The title the sender called us by: a modality set up with a wrong
        # one still gets in, and the row shows what it uses.
        called_ae=getattr(assoc.requestor.primitive, "called_ae_title", "") or assoc.acceptor.ae_title,
        peer_address=assoc.requestor.address,
        enqueue=enqueue,
    )
    try:
        _drop_broken_connections()
        try:
            store()
        except (OperationalError, InterfaceError):
            # Most often a connection the database closed while the association
            # idled (restart, failover): one retry on a new connection. Storing
            # is idempotent, so a retry after a lost commit reply is harmless.
            logger.warning("database error storing %s; retrying on a new connection", sop_instance_uid)
            connections.close_all()
            store()
    except Exception:
        logger.exception(
            "could not store %s from %s (%s); answering 0xA700 so the sender retries",
            sop_instance_uid,
            assoc.requestor.ae_title,
            assoc.requestor.address,
        )
        return STATUS_OUT_OF_RESOURCES
    return STATUS_SUCCESS


def _drop_broken_connections() -> None:
    """Before each object: keep the association's connection unless it broke.

    One association is one unit of work for the database connection:
    `close_old_connections()` with CONN_MAX_AGE=0 would reconnect for every
    object, which doubled the time per object. A connection that raised is
    checked and dropped if unusable.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred:
            if conn.is_usable() and not conn.in_atomic_block:
                conn.errors_occurred = False
            else:
                conn.close()


def _close_association_connections(event: Event) -> None:
    # pynetdicom runs each association in its own thread: its database
    # connection would otherwise stay open until garbage collection. An abort
    # can also be triggered from another thread, whose connections are not ours.
    if threading.current_thread() is event.assoc:
        connections.close_all()


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


def scp_start(*, config: ScpConfig | None = None) -> ThreadedAssociationServer:
    """Start listening in a background thread; return the server.

    `server.server_address` gives the bound address (port 0 picks a free one);
    stop it with `scp_stop(server)`.
    """
    config = config or ScpConfig()
    ae = scp_build_ae(config=config)
    server = ae.make_server(
        (config.bind_address, config.port),
        evt_handlers=[
            (evt.EVT_C_STORE, handle_store, [config.enqueue]),
            (evt.EVT_RELEASED, _close_association_connections),
            (evt.EVT_ABORTED, _close_association_connections),
        ],
        server_class=_NoDelayServer,
    )
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


def scp_stop(server: ThreadedAssociationServer, *, grace_seconds: float = 5.0) -> None:
    """Stop accepting; give running associations a moment, then abort them.

    Aborting loses nothing: an object is answered only once it is durable, so
    the sender re-sends whatever was not yet answered.
    """
    server.shutdown()
    deadline = time.monotonic() + grace_seconds
    while server.active_associations and time.monotonic() < deadline:
        time.sleep(0.05)
    for assoc in server.active_associations:
        assoc.abort()
