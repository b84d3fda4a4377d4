"""HL7 v2 messages (ADT, ORM^O01, OMI^O23) into plain dataclasses, with no database.

hl7apy splits the message (tolerant, without groups: with groups Z-segments
vanish); the fields we use are read from its segments here. Every field is
optional: what a sender leaves out becomes "" or None, never an error. Only a
message hl7apy cannot split at all, or one without MSH, raises Hl7ParseError.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

# PID-3 identifier types that name the hospital's own patient number.
_PATIENT_NUMBER_TYPES = ("MR", "PI", "PT")

# ORC-1 order control codes, grouped by what they do to our order.
ORDER_NEW = {"NW", "SN", "NA"}
ORDER_CHANGE = {"XO", "XX", "XR", "RP", "RU"}
ORDER_CANCEL = {"CA", "OC", "CR"}
ORDER_DISCONTINUE = {"DC", "OD", "DR"}
ORDER_STATUS = {"SC", "SS"}
ORDER_CONTROLS = ORDER_NEW | ORDER_CHANGE | ORDER_CANCEL | ORDER_DISCONTINUE | ORDER_STATUS


class Hl7ParseError(ValueError):
    """The message cannot be read at all; kept for review with this text."""


@dataclass(frozen=True)
class Identifier:
    id: str
    authority: str = ""  # CX-4 assigning authority (its namespace ID)
    type_code: str = ""  # CX-5: MR, PI, NN, ...


@dataclass
class PatientData:
    identifiers: list[Identifier]
    # DICOM-style person name "Family^Given^Middle", comparable with (0010,0010).
    name: str = ""
    birth_date: dt.date | None = None
    sex: str = ""  # M, F, O or ""
    patient_class: str = ""  # PV1-2: I, O, E, ...

    @property
    def primary(self) -> Identifier | None:
        """The hospital's patient number: the first MR/PI/PT identifier, else the first one."""
        for ident in self.identifiers:
            if ident.type_code.upper() in _PATIENT_NUMBER_TYPES:
                return ident
        return self.identifiers[0] if self.identifiers else None


@dataclass
class OrderData:
    control: str  # ORC-1
    order_status: str = ""  # ORC-5
    placer_number: str = ""  # ORC-2 / OBR-2
    filler_number: str = ""  # ORC-3 / OBR-3
    accession_number: str = ""  # OBR-18, else IPC-1
    requested_procedure_id: str = ""  # OBR-19, else IPC-2
    procedure_code: str = ""  # OBR-4.1
    procedure_text: str = ""  # OBR-4.2
    procedure_coding_system: str = ""  # OBR-4.3
    reason: str = ""  # OBR-31 reason for study (clinical indication)
    scheduled_at: dt.datetime | None = None  # naive when the sender gives no offset
    ordering_location: str = ""
    ordering_provider: str = ""
    modality: str = ""  # IPC-5, else OBR-24
    study_instance_uid: str = ""  # IPC-3, else ZDS-1


@dataclass
class Hl7Parsed:
    message_type: str  # MSH-9.1: ADT, ORM, OMI
    trigger: str  # MSH-9.2: A01, O01, ...
    control_id: str
    version: str
    sent_at: dt.datetime | None
    patient: PatientData | None = None
    prior: list[Identifier] = field(default_factory=list)  # MRG-1 (A40, A34, A47)
    orders: list[OrderData] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def hl7_parse(text: str) -> Hl7Parsed:
    text = _segments_text(text)
    if not text.startswith("MSH"):
        raise Hl7ParseError("the message does not start with an MSH segment")
    try:
        message = parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT)
    except Exception as exc:
        raise Hl7ParseError(f"hl7apy cannot read the message: {exc} [{type(exc).__name__}]") from exc
    reader = _Reader(message.encoding_chars)
    segments = [(seg.name, reader.fields(seg)) for seg in message.children]

    msh = segments[0][1]
    msg_type = reader.components(reader.first(msh, 9))
    warnings: list[str] = []
    parsed = Hl7Parsed(
        message_type=_at(msg_type, 1).upper(),
        trigger=_at(msg_type, 2).upper(),
        control_id=reader.value(msh, 10),
        version=_at(reader.components(reader.first(msh, 12)), 1),
        sent_at=_timestamp(reader.value(msh, 7), warnings),
        warnings=warnings,
    )

    pv1_location = ""
    for name, fields in segments:
        if name == "PID" and parsed.patient is None:
            parsed.patient = _patient(reader, fields, parsed.warnings)
        elif name == "PV1":
            if parsed.patient is not None and not parsed.patient.patient_class:
                parsed.patient.patient_class = _at(reader.components(reader.first(fields, 2)), 1)
            pv1_location = _location(reader.components(reader.first(fields, 3)))
        elif name == "MRG":
            parsed.prior += _identifiers(reader, fields.get(1, []))
        elif name == "ORC":
            parsed.orders.append(_order_control(reader, fields, parsed.warnings))
        elif name == "TQ1" and parsed.orders:
            start = _timestamp(_at(reader.components(reader.first(fields, 7)), 1), parsed.warnings)
            parsed.orders[-1].scheduled_at = start or parsed.orders[-1].scheduled_at
        elif name == "OBR":
            if not parsed.orders:
                # An OBR without ORC: an order all the same, its control code unknown.
                parsed.orders.append(OrderData(control=""))
            _order_request(reader, fields, parsed.orders[-1], parsed.warnings)
        elif name == "IPC" and parsed.orders:
            _order_imaging(reader, fields, parsed.orders[-1])
        elif name == "ZDS" and parsed.orders:
            uid = _at(reader.components(reader.first(fields, 1)), 1)
            if uid and not parsed.orders[-1].study_instance_uid:
                parsed.orders[-1].study_instance_uid = uid
    for order in parsed.orders:
        if not order.ordering_location:
            order.ordering_location = pv1_location
    return parsed


# --- segments -----------------------------------------------------------------


def _patient(reader: _Reader, fields: dict[int, list[str]], warnings: list[str]) -> PatientData:
    identifiers = _identifiers(reader, fields.get(3, []))
    if not identifiers:
        # v2.3 senders sometimes put the number in PID-2 (external ID) only.
        identifiers = _identifiers(reader, fields.get(2, []))
    name = reader.components(reader.first(fields, 5))
    family = reader.subcomponents(_at(name, 1))[0] if _at(name, 1) else ""
    parts = [family, _at(name, 2), _at(name, 3)]
    sex = reader.value(fields, 8).upper()[:1]
    return PatientData(
        identifiers=identifiers,
        name="^".join(parts).rstrip("^"),
        birth_date=_date(reader.value(fields, 7), warnings),
        sex=sex if sex in ("M", "F", "O") else "",
    )


def _identifiers(reader: _Reader, repetitions: list[str]) -> list[Identifier]:
    result = []
    for rep in repetitions:
        cx = reader.components(rep)
        if not _at(cx, 1):
            continue
        authority = reader.subcomponents(_at(cx, 4))[0]
        result.append(Identifier(id=_at(cx, 1), authority=authority, type_code=_at(cx, 5)))
    return result


def _order_control(reader: _Reader, fields: dict[int, list[str]], warnings: list[str]) -> OrderData:
    control = reader.value(fields, 1).upper()
    if control not in ORDER_CONTROLS:
        warnings.append(f"order control code {control!r} is not one we act on; taken as a change")
    return OrderData(
        control=control,
        placer_number=_at(reader.components(reader.first(fields, 2)), 1),
        filler_number=_at(reader.components(reader.first(fields, 3)), 1),
        order_status=reader.value(fields, 5).upper(),
        scheduled_at=_timestamp(_at(reader.components(reader.first(fields, 7)), 4), warnings),
        ordering_provider=_person(reader.components(reader.first(fields, 12))),
        ordering_location=_location(reader.components(reader.first(fields, 13)))
        or _at(reader.components(reader.first(fields, 21)), 1),
    )


def _order_request(reader: _Reader, fields: dict[int, list[str]], order: OrderData, warnings: list[str]) -> None:
    order.placer_number = order.placer_number or _at(reader.components(reader.first(fields, 2)), 1)
    order.filler_number = order.filler_number or _at(reader.components(reader.first(fields, 3)), 1)
    code = reader.components(reader.first(fields, 4))
    order.procedure_code = _at(code, 1)
    order.procedure_text = _at(code, 2)
    order.procedure_coding_system = _at(code, 3)
    order.accession_number = reader.value(fields, 18) or order.accession_number
    order.requested_procedure_id = reader.value(fields, 19) or order.requested_procedure_id
    order.modality = order.modality or reader.value(fields, 24)
    reason = reader.components(reader.first(fields, 31))
    # CE: a coded reason has its text in the second component.
    order.reason = _at(reason, 2) or _at(reason, 1)
    order.ordering_provider = order.ordering_provider or _person(reader.components(reader.first(fields, 16)))
    if order.scheduled_at is None:
        for number, component in ((27, 4), (36, 1), (6, 1), (7, 1)):
            value = _at(reader.components(reader.first(fields, number)), component)
            if value:
                order.scheduled_at = _timestamp(value, warnings)
                break


def _order_imaging(reader: _Reader, fields: dict[int, list[str]], order: OrderData) -> None:
    order.accession_number = order.accession_number or _at(reader.components(reader.first(fields, 1)), 1)
    order.requested_procedure_id = order.requested_procedure_id or reader.value(fields, 2)
    order.study_instance_uid = _at(reader.components(reader.first(fields, 3)), 1) or order.study_instance_uid
    modality = _at(reader.components(reader.first(fields, 5)), 1)
    order.modality = modality or order.modality


def _location(pl: list[str]) -> str:
    return " ".join(part for part in pl[:3] if part)


def _person(xcn: list[str]) -> str:
    return "^".join([_at(xcn, 2), _at(xcn, 3)]).strip("^") or _at(xcn, 1)


# --- values -------------------------------------------------------------------


_TIMESTAMP = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$")


def _date(value: str, warnings: list[str]) -> dt.date | None:
    stamp = _timestamp(value, warnings)
    return stamp.date() if stamp else None


def _timestamp(value: str, warnings: list[str]) -> dt.datetime | None:
    """HL7 TS/DTM to a datetime: naive without an offset (local time of the sender)."""
    value = value.strip()
    if not value:
        return None
    match = _TIMESTAMP.match(value)
    if match is None:
        warnings.append(f"date/time {value!r} is not HL7 YYYYMMDD[HHMM[SS]]; ignored")
        return None
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        stamp = dt.datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        warnings.append(f"date/time {value!r} is not a valid date; ignored")
        return None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        delta = dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        stamp = stamp.replace(tzinfo=dt.timezone(sign * delta))
    return stamp


def _at(values: list[str], position: int) -> str:
    return values[position - 1] if len(values) >= position else ""


def _segments_text(text: str) -> str:
    # Segments end in CR; files and some senders use LF or CRLF instead.
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return "\r".join(seg for seg in text.split("\r") if seg.strip())


class _Reader:
    """Fields of hl7apy segments as ER7 text, split and unescaped with the message's own separators."""

    def __init__(self, chars: dict[str, str]) -> None:
        self.field = chars["FIELD"]
        self.component = chars["COMPONENT"]
        self.repetition = chars["REPETITION"]
        self.escape = chars["ESCAPE"]
        self.subcomponent = chars["SUBCOMPONENT"]

    def fields(self, segment) -> dict[int, list[str]]:
        """{field number: [repetitions as ER7]} of one segment."""
        result: dict[int, list[str]] = {}
        for child in segment.children:
            number = int(child.name.rsplit("_", 1)[1])
            result.setdefault(number, []).append(child.to_er7())
        return result

    def first(self, fields: dict[int, list[str]], number: int) -> str:
        reps = fields.get(number)
        if not reps:
            return ""
        return reps[0]

    def value(self, fields: dict[int, list[str]], number: int) -> str:
        """A simple field: its first component, unescaped."""
        return _at(self.components(self.first(fields, number)), 1)

    def components(self, value: str) -> list[str]:
        return [self.unescape(c) for c in value.split(self.component)] if value else []

    def subcomponents(self, value: str) -> list[str]:
        return value.split(self.subcomponent) if value else [""]

    def unescape(self, value: str) -> str:
        if self.escape not in value:
            return value.strip()
        e = self.escape
        for code, char in (
            ("F", self.field),
            ("S", self.component),
            ("T", self.subcomponent),
            ("R", self.repetition),
            (".br", "\n"),
        ):
            value = value.replace(f"{e}{code}{e}", char)
        value = re.sub(re.escape(e) + r"X([0-9A-Fa-f]+)" + re.escape(e), _hex, value)
        return value.replace(f"{e}E{e}", e).strip()


def _hex(match: re.Match) -> str:
    try:
        return bytes.fromhex(match.group(1)).decode("latin-1")
    except ValueError:
        return ""
