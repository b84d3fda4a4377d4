"""The HL7 MLLP listener: frames in, each message stored raw, then an ACK out.

A connection carries any number of messages (0x0B message 0x1C 0x0D), read
however TCP splits or joins them. Each message is written to the database
(`hl7_message_store`) before its ACK goes out; a task does the rest. Only
MSH is read here, to answer: AA stored and understood, AE not stored or cut
short (the sender may retry), AR never acceptable (broken MSH, a message type,
version or character set we do not take). Bytes outside frames are logged and
dropped; nothing a sender does closes the connection but the sender itself.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from .models import Hl7Message

logger = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
# A message larger than this is a sender gone wrong, not an order.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024

SUPPORTED_VERSIONS = {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}
# Every ADT event is taken (a HIS feed sends all of them; those we do not use
# are kept as ignored); orders only in these two structures.
SUPPORTED_ORDER_TYPES = {"ORM^O01", "OMI^O23"}
# MSH-18 values to Python codecs; "" is the HL7 default (ASCII), read leniently.
CHARSETS = {
    "": "",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "ISO IR100": "latin-1",
    "ISO_IR 100": "latin-1",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "WINDOWS-1252": "cp1252",
}


# --- reading frames (pure) ------------------------------------------------------


@dataclass
class Frame:
    """What the byte stream held: a message, a message cut short, or garbage."""

    kind: str  # "message" | "cut_short" | "garbage"
    data: bytes
    reason: str = ""


class FrameReader:
    """Splits an MLLP byte stream into frames, whatever the TCP reads look like."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_frame = False
        self._skip_cr = False

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while self._buffer:
            if self._skip_cr:
                # The CR after the end block; a sender that leaves it out loses nothing.
                if self._buffer[:1] == CARRIAGE_RETURN:
                    del self._buffer[:1]
                self._skip_cr = False
                continue
            if not self._in_frame:
                start = self._buffer.find(START_BLOCK)
                junk = bytes(self._buffer if start < 0 else self._buffer[:start])
                if junk.strip(b"\r\n\t \x00"):
                    frames.append(Frame("garbage", junk, "bytes outside a frame"))
                if start < 0:
                    self._buffer.clear()
                    break
                del self._buffer[: start + 1]
                self._in_frame = True
                continue
            end = self._buffer.find(END_BLOCK)
            restart = self._buffer.find(START_BLOCK)
            if restart >= 0 and (end < 0 or restart < end):
                # A new start block before the end block: the message before it was cut short.
                frames.append(Frame("cut_short", bytes(self._buffer[:restart]), "no end block before the next start block"))
                del self._buffer[: restart + 1]
                continue
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    frames.append(Frame("cut_short", bytes(self._buffer[:4096]), "message larger than the limit"))
                    self._buffer.clear()
                    self._in_frame = False
                break
            frames.append(Frame("message", bytes(self._buffer[:end])))
            del self._buffer[: end + 1]
            self._in_frame = False
            self._skip_cr = True
        return frames

    def close(self) -> list[Frame]:
        """The connection ended: an open frame is a message cut short."""
        if self._in_frame and self._buffer:
            frame = Frame("cut_short", bytes(self._buffer), "connection closed before the end block")
            self._buffer.clear()
            self._in_frame = False
            return [frame]
        return []


# --- MSH and ACK (pure) ------------------------------------------------------------


class MshError(ValueError):
    pass


@dataclass
class Msh:
    field_separator: str
    encoding_characters: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    message_type: str  # MSH-9.1^MSH-9.2, e.g. ADT^A01
    control_id: str
    processing_id: str
    version: str
    charset: str  # MSH-18 (first repetition), as sent


def msh_read(raw: bytes) -> Msh:
    """The MSH fields needed to store and answer, without decoding the rest."""
    first = raw.lstrip(b"\r\n").split(b"\r", 1)[0].split(b"\n", 1)[0]
    text = first.decode("latin-1")
    if not text.startswith("MSH") or len(text) < 8:
        raise MshError("the message does not start with an MSH segment")
    sep = text[3]
    if sep.isalnum() or sep in " \r\n":
        raise MshError(f"MSH has no valid field separator ({sep!r})")
    fields = text.split(sep)
    chars = fields[1] if len(fields) > 1 else ""
    if len(chars) < 2 or sep in chars:
        raise MshError("MSH-2 (encoding characters) is missing or broken")
    component, repetition = chars[0], chars[1]

    def field(number: int) -> str:
        # fields[0] is "MSH" and MSH-1 is the separator itself: MSH-n is fields[n - 1].
        return fields[number - 1].strip() if len(fields) >= number else ""

    def first_component(value: str) -> str:
        return value.split(repetition, 1)[0].split(component, 1)[0].strip()

    type_parts = field(9).split(component)
    if len(type_parts) < 2 or not type_parts[0].strip() or not type_parts[1].strip():
        raise MshError(f"MSH-9 (message type) {field(9)!r} is missing or incomplete")
    control_id = field(10)
    if not control_id:
        raise MshError("MSH-10 (message control ID) is empty")
    return Msh(
        field_separator=sep,
        encoding_characters=chars,
        sending_application=field(3)[:227],
        sending_facility=field(4)[:227],
        receiving_application=field(5),
        receiving_facility=field(6),
        message_type=f"{type_parts[0].strip().upper()}^{type_parts[1].strip().upper()}",
        control_id=control_id[:199],
        processing_id=first_component(field(11)),
        version=first_component(field(12)),
        charset=first_component(field(18)).upper(),
    )


def msh_refusal(msh: Msh) -> str:
    """Why a well-formed MSH names something we never accept, or ""."""
    if msh.version not in SUPPORTED_VERSIONS:
        return f"HL7 version {msh.version or '(none)'} is not supported (2.3 to 2.8.2 are)"
    kind = msh.message_type.split("^")[0]
    if kind != "ADT" and msh.message_type not in SUPPORTED_ORDER_TYPES:
        return f"message type {msh.message_type} is not supported (ADT, ORM^O01, OMI^O23 are)"
    if msh.charset not in CHARSETS:
        return f"character set {msh.charset} (MSH-18) is not supported"
    return ""


_ack_counter = itertools.count(1)


def ack_build(*, code: str, msh: Msh | None, text: str = "") -> bytes:
    """An ACK echoing MSH-10 in MSA-2, addressed back to the sender, framed for MLLP."""
    now = timezone.localtime().strftime("%Y%m%d%H%M%S")
    ours = f"DM{timezone.now():%Y%m%d%H%M%S}{next(_ack_counter):06d}"
    version = msh.version if msh and msh.version in SUPPORTED_VERSIONS else "2.5"
    trigger = msh.message_type.split("^")[1] if msh else ""
    header = [
        "MSH",
        "^~\\&",
        _escape(msh.receiving_application) if msh and msh.receiving_application else "DOSEMGMT",
        _escape(msh.receiving_facility) if msh else "",
        msh.sending_application if msh else "",
        msh.sending_facility if msh else "",
        now,
        "",
        f"ACK^{trigger}^ACK" if trigger else "ACK",
        ours,
        (msh.processing_id if msh else "") or "P",
        version,
    ]
    if msh and msh.charset:
        header += ["", "", "", "", "", msh.charset]
    msa = ["MSA", code, _escape(msh.control_id) if msh else "", _escape(text)[:80]]
    body = "\r".join(["|".join(header), "|".join(msa)]) + "\r"
    codec = CHARSETS.get(msh.charset, "") if msh else ""
    return START_BLOCK + body.encode(codec or "latin-1", errors="replace") + END_BLOCK + CARRIAGE_RETURN


def _escape(value: str) -> str:
    return (
        value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\")
        .replace("~", "\\R\\").replace("\r", " ").replace("\n", " ")
    )


# --- storing (the service the connection calls) -----------------------------------


@dataclass
class Hl7Receipt:
    message_id: int | None
    ack_code: str
    text: str
    msh: Msh | None
    enqueue: bool


def hl7_message_store(*, raw: bytes, peer: str = "", cut_short: str = "") -> Hl7Receipt:
    """Store one received message and decide its answer; never raises.

    `cut_short` says why the frame ended without its end block: such a message
    is kept for review and answered AE, so the sender sends it again whole.
    """
    try:
        msh = msh_read(raw)
    except MshError as exc:
        error = f"broken MSH: {exc}"
        return _store(raw=raw, peer=peer, msh=None, ack_code="AR", error=error)
    if cut_short:
        return _store(raw=raw, peer=peer, msh=msh, ack_code="AE", error=f"message cut short: {cut_short}")
    refusal = msh_refusal(msh)
    if refusal:
        return _store(raw=raw, peer=peer, msh=msh, ack_code="AR", error=refusal)
    return _store(raw=raw, peer=peer, msh=msh, ack_code="AA", error="")


def _store(*, raw: bytes, peer: str, msh: Msh | None, ack_code: str, error: str) -> Hl7Receipt:
    try:
        return _store_unguarded(raw=raw, peer=peer, msh=msh, ack_code=ack_code, error=error)
    except DatabaseError as exc:
        # Not stored: the sender must keep the message and send it again.
        logger.warning("HL7 message from %s not stored: %s", peer, exc)
        connection.close()
        return Hl7Receipt(None, "AE", "could not store the message; send it again", msh, False)


def _store_unguarded(*, raw: bytes, peer: str, msh: Msh | None, ack_code: str, error: str) -> Hl7Receipt:
    now = timezone.now()
    status = Hl7Message.Status.RECEIVED if ack_code == "AA" else Hl7Message.Status.REJECTED
    values = {
        "raw": raw,
        "sending_application": msh.sending_application if msh else "",
        "sending_facility": msh.sending_facility if msh else "",
        "control_id": msh.control_id if msh else "",
        "message_type": msh.message_type[:20] if msh else "",
        "version": msh.version[:10] if msh else "",
        "charset": msh.charset[:20] if msh else "",
        "peer": peer[:64],
        "status": status,
        "ack_code": ack_code,
        "error": error,
    }
    with transaction.atomic():
        existing = None
        if msh is not None:
            existing = (
                Hl7Message.objects.select_for_update()
                .filter(
                    sending_application=values["sending_application"],
                    sending_facility=values["sending_facility"],
                    control_id=values["control_id"],
                )
                .first()
            )
        if existing is not None and existing.ack_code == "AA":
            # A resend of what we accepted: the same answer, no second processing.
            Hl7Message.objects.filter(pk=existing.pk).update(
                last_received_at=now, times_received=existing.times_received + 1
            )
            return Hl7Receipt(existing.pk, "AA", "already received", msh, False)
        if existing is not None:
            # We answered AE or AR before: this copy replaces that one.
            for name, value in values.items():
                setattr(existing, name, value)
            existing.last_received_at = now
            existing.times_received += 1
            existing.attempts = 0
            existing.warnings = []
            existing.processed_at = None
            existing.save()
            row = existing
        else:
            row = Hl7Message.objects.create(received_at=now, last_received_at=now, **values)
    return Hl7Receipt(row.pk, ack_code, error, msh, ack_code == "AA")


def hl7_message_enqueue(message_id: int) -> None:
    """Hand a stored message to processing (broker, in-process pool, or here)."""
    from ingest.dispatch import enqueue_call
    from ingest.tasks import process_hl7_message
    from ris.services import hl7_message_process

    enqueue_call(
        task=process_hl7_message,
        args=[message_id],
        run_here=lambda: _process_here(hl7_message_process, message_id),
    )


def _process_here(process, message_id: int) -> None:
    try:
        process(message_id=message_id)
    except Exception:
        # It stays RECEIVED and the sweeper tries again.
        logger.exception("processing HL7 message %s failed; left for the sweeper", message_id)


# --- the listener -------------------------------------------------------------------


@dataclass
class Hl7ListenerConfig:
    bind_address: str | None = None
    port: int | None = None  # 0: any free port (tests)
    # Threads writing messages to the database (one per connection at most is busy).
    writers: int = 4

    def __post_init__(self) -> None:
        if self.bind_address is None:
            self.bind_address = settings.HL7_BIND_ADDRESS
        if self.port is None:
            self.port = settings.HL7_PORT


class Hl7Listener:
    """An asyncio MLLP server on a thread of its own; DB writes on a small pool."""

    def __init__(self, config: Hl7ListenerConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._executor = ThreadPoolExecutor(max_workers=config.writers, thread_name_prefix="hl7-writer")
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="hl7-listener", daemon=True)
        self._connections: set[asyncio.Task] = set()
        self.server_address: tuple[str, int] = ("", 0)

    def start(self) -> Hl7Listener:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=30)  # raises OSError when the port is taken
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, host=self.config.bind_address or None, port=self.config.port, reuse_address=True
        )
        self.server_address = self._server.sockets[0].getsockname()[:2]

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        # Each writer thread holds a database connection of its own: close them there.
        barrier = threading.Barrier(self.config.writers)

        def close_connection() -> None:
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
            connection.close()

        for _ in range(self.config.writers):
            self._executor.submit(close_connection)
        self._executor.shutdown(wait=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        peer_info = writer.get_extra_info("peername") or ("?", 0)
        peer = f"{peer_info[0]}:{peer_info[1]}"
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # ACKs are small: Nagle would hold each one back for the next.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        frames = FrameReader()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for frame in frames.feed(data):
                    await self._answer(frame, writer, peer)
            for frame in frames.close():
                await self._answer(frame, writer, peer, closed=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _answer(self, frame: Frame, writer: asyncio.StreamWriter, peer: str, *, closed: bool = False) -> None:
        if frame.kind == "garbage":
            logger.warning("HL7 from %s: %d bytes outside a frame dropped", peer, len(frame.data))
            return
        loop = asyncio.get_running_loop()
        cut_short = frame.reason if frame.kind == "cut_short" else ""
        receipt = await loop.run_in_executor(
            self._executor, lambda: hl7_message_store(raw=frame.data, peer=peer, cut_short=cut_short)
        )
        if not closed:
            writer.write(ack_build(code=receipt.ack_code, msh=receipt.msh, text=receipt.text))
            await writer.drain()
        if receipt.enqueue and receipt.message_id is not None:
            message_id = receipt.message_id
            await loop.run_in_executor(self._executor, lambda: hl7_message_enqueue(message_id))


def hl7_listener_start(*, config: Hl7ListenerConfig | None = None) -> Hl7Listener:
    return Hl7Listener(config or Hl7ListenerConfig()).start()


def hl7_listener_stop(listener: Hl7Listener) -> None:
    listener.stop()
