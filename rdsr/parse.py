"""From a DICOM object to one normalised dose record (RECORD.md), with no database.

    parse_file(path) / parse_bytes(data, path=...) / parse_dataset(ds, path=...)

X-ray radiation dose SRs (CT: TID 10011, projection X-ray: TID 10001), enhanced
RDSRs and the Enhanced/Comprehensive SRs older GE and Philips systems send are
read by concept code. Anything else becomes a "not-dose" record with the reason
in its warnings. Oddities in the content never raise: they become warnings, and
values we cannot trust go to the owner's `review` list. `UnreadableObject` is
raised only when the bytes are not a decodable DICOM object, or when a dose
report yields no dose value at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import TypeVar

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_partial
from pydicom.tag import Tag

from rdsr import codes
from rdsr.ct_report import read_ct_event, read_ct_totals
from rdsr.dicom_header import read_device, read_patient, read_study, text
from rdsr.dose_info_sc import has_ct_dose_sequence, read_dose_info_sc
from rdsr.image_header import read_image_header
from rdsr.ocr.screen import looks_like_dose_screen
from rdsr.projection_report import read_mammo_totals, read_planes, read_projection_event
from rdsr.reading import Reader, iso_datetime
from rdsr.record import DoseRecord, Event, Source
from rdsr.sr_context import apply_observer_context
from rdsr.sr_raw import read_undefined_length_sequence
from rdsr.sr_tree import CONTENT_SEQUENCE, RAW_CONTENT_ATTRIBUTE, Node, build_tree, template_identifier

XRAY_RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
ENHANCED_XRAY_RDSR = "1.2.840.10008.5.1.4.1.1.88.76"
RADIOPHARMACEUTICAL_RDSR = "1.2.840.10008.5.1.4.1.1.88.68"
SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"

_UNDEFINED_LENGTH = 0xFFFFFFFF
_PROJECTION_MODALITIES = {"DX": "DX", "CR": "DX", "MG": "MG", "RF": "RF", "XA": "XA", "PX": "PX"}

T = TypeVar("T")


class UnreadableObject(Exception):
    """The bytes are not a decodable DICOM object, or a dose report holds no dose value."""


def parse_file(path: str | os.PathLike[str]) -> DoseRecord:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableObject(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_bytes(data, path=str(path))


def parse_bytes(data: bytes, *, path: str | None = None) -> DoseRecord:
    where = path or "object"
    try:
        ds = _read_fast(data) or pydicom.dcmread(BytesIO(data))
    except InvalidDicomError:
        # No preamble: many archives and some senders store the bare dataset.
        ds = _read_forced(data, where)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means unreadable
        raise UnreadableObject(f"{where} is not a decodable DICOM object: {exc}") from exc
    _check_complete(ds, where)
    if "SOPClassUID" not in ds:
        # Every stored object names its class; without it the dataset ended early.
        raise UnreadableObject(f"{where} has no SOP Class UID in its dataset: truncated or not a stored DICOM object")
    return parse_dataset(ds, path=path)


def parse_dataset(ds: Dataset, *, path: str | None = None) -> DoseRecord:
    record = DoseRecord()
    reader = Reader(record.warnings)
    sop_class = text(ds, "SOPClassUID") or ""
    record.source = Source(path=path, sop_class_uid=sop_class or None, sop_instance_uid=text(ds, "SOPInstanceUID"))
    record.study = read_study(ds)
    record.patient = read_patient(ds, record.study.study_date, reader)
    record.device = read_device(ds)

    if not sop_class.startswith(SR_CLASS_PREFIX) and "ContentSequence" not in ds:
        _read_image(ds, record, reader, sop_class)
        return record
    root = build_tree(ds)
    _hoist_nested_dose_containers(root, reader)
    if root.key != codes.XRAY_RADIATION_DOSE_REPORT and not _has_xray_dose_content(root):
        title = f"{root.meaning or 'untitled'} ({root.key or 'no concept name'})"
        if sop_class in (XRAY_RDSR, ENHANCED_XRAY_RDSR) and not root.key:
            # An X-ray dose SR class without even a document title: the object was
            # cut short or emptied, not a different kind of report.
            raise UnreadableObject(f"{path or 'object'}: X-ray radiation dose SR without title or dose content "
                                   "(truncated or empty)")
        record.warnings.append(f"SR document {title} is not an X-ray radiation dose report")
        return record
    if root.key != codes.XRAY_RADIATION_DOSE_REPORT:
        reader.warn(f"document title {root.key or 'missing'} is not 113701 X-Ray Radiation Dose Report; "
                    "read as one because it holds X-ray dose content")

    record.source.kind = {XRAY_RDSR: "rdsr", ENHANCED_XRAY_RDSR: "enhanced-rdsr"}.get(sop_class, "esr")
    record.source.template_identifier = template_identifier(ds)
    _read_document_context(root, record)
    if root.first(codes.CT_ACCUMULATED) is not None or root.first(codes.CT_ACQUISITION) is not None:
        _read_ct(root, record, reader)
    if root.first(codes.ACCUMULATED_XRAY) is not None or root.first(codes.IRRADIATION_EVENT) is not None:
        _read_projection(root, record, reader, text(ds, "Modality"))
    if not _has_dose_value(record):
        raise UnreadableObject(f"{path or 'object'}: X-ray dose report holds no readable dose value")
    return record


_PLAIN_LITTLE_ENDIAN = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}  # UID -> implicit VR


def _stop_at_undefined_content(tag: int, vr: str | None, length: int) -> bool:
    return tag == CONTENT_SEQUENCE and length == _UNDEFINED_LENGTH


def _read_fast(data: bytes) -> Dataset | None:
    """Read an object whose content sequence has undefined length without pydicom's slow path.

    pydicom decodes an undefined-length sequence at once into nested datasets,
    the slow part of a dose report; a defined-length one stays raw bytes that
    `sr_tree` reads quickly. Here pydicom stops at an undefined-length content
    sequence, `sr_raw` finds where it ends, and the sequence is kept as raw
    bytes of defined length. None: not applicable, read the usual way.
    """
    fp = BytesIO(data)
    try:
        ds = read_partial(fp, stop_when=_stop_at_undefined_content)
    except Exception:  # noqa: BLE001 - the usual reader will say what is wrong
        return None
    start = fp.tell()
    if start >= len(data):
        return ds  # read to the end: no undefined-length content sequence
    syntax = str(getattr(ds.get("file_meta"), "TransferSyntaxUID", "") or "")
    implicit = _PLAIN_LITTLE_ENDIAN.get(syntax)
    if implicit is None:
        return None  # big endian, deflated or no file meta: let pydicom do it all
    header = 8 if implicit else 12
    try:
        items, end = read_undefined_length_sequence(data, start + header, implicit=implicit)
        rest = read_dataset(BytesIO(data[end + 8:]), implicit, True)
    except Exception:  # noqa: BLE001 - malformed: the usual reader reports it
        return None
    value = data[start + header:end]
    ds._dict[CONTENT_SEQUENCE] = RawDataElement(  # noqa: SLF001
        Tag(CONTENT_SEQUENCE), "SQ", len(value), value, start + header, implicit, True
    )
    for tag, element in rest._dict.items():  # noqa: SLF001 - elements after the content, still raw
        ds._dict[tag] = element  # noqa: SLF001
    setattr(ds, RAW_CONTENT_ATTRIBUTE, items)  # read once: build_tree takes them from here
    return ds


def _read_forced(data: bytes, where: str) -> Dataset:
    try:
        ds = pydicom.dcmread(BytesIO(data), force=True)
    except Exception as exc:  # noqa: BLE001
        raise UnreadableObject(f"{where} is not a decodable DICOM object: {exc}") from exc
    if "SOPClassUID" not in ds and "SOPInstanceUID" not in ds:
        raise UnreadableObject(f"{where} is not a DICOM object (no DICM preamble and no SOP Class/Instance UID)")
    return ds


def _check_complete(ds: Dataset, where: str) -> None:
    """pydicom reads a truncated file silently: compare each element's stated length with its bytes."""
    for elem in ds._dict.values():
        if (
            isinstance(elem, RawDataElement)
            and elem.length != _UNDEFINED_LENGTH
            and isinstance(elem.value, bytes)
            and len(elem.value) < elem.length
        ):
            raise UnreadableObject(
                f"{where} is truncated: element {elem.tag} states {elem.length} bytes but only "
                f"{len(elem.value)} are present"
            )


def _read_image(ds: Dataset, record: DoseRecord, reader: Reader, sop_class: str) -> None:
    """An image or other non-SR object: header dose, dose-info sequence, dose screen, or not dose.

    The order matters: dose values in the header are exact, so a screen is
    only read by OCR when its header carries none.
    """
    if has_ct_dose_sequence(ds):
        read_dose_info_sc(ds, record, reader)
        if not _has_dose_value(record):
            raise UnreadableObject(f"{record.source.path or 'object'}: CT exposure dose sequence without "
                                   "any readable dose value")
        return
    if not (sop_class.startswith(SECONDARY_CAPTURE_PREFIX) or "PixelData" in ds or "Rows" in ds):
        record.warnings.append(f"SOP class {sop_class or 'unknown'} is not a dose report")
        return
    reason = read_image_header(ds, record, reader)
    if reason is None:
        return
    if looks_like_dose_screen(ds):
        record.source.kind = "ocr"
        record.source.ocr_pending = True
        record.study.modality = record.study.modality or "CT"
        record.warnings.append("bitmap dose screen: its values are read by OCR")
        return
    record.warnings.append(f"SOP class {sop_class or 'unknown'}: {reason}")


_DOSE_CONTAINERS = frozenset({codes.CT_ACCUMULATED, codes.CT_ACQUISITION, codes.ACCUMULATED_XRAY,
                              codes.IRRADIATION_EVENT})


def _hoist_nested_dose_containers(root: Node, reader: Reader) -> None:
    """Lift dose containers a vendor nested in some other container up to the root.

    The templates put accumulated data and events directly under the document;
    one wrapped in an extra container must still count, with a warning.
    """
    nested: list[Node] = []
    stack = [child for child in root.children if child.key not in _DOSE_CONTAINERS]
    while stack:
        node = stack.pop()
        for child in node.children:
            (nested if child.key in _DOSE_CONTAINERS else stack).append(child)
    if nested:
        reader.warn(f"{len(nested)} dose container(s) found nested below other content items instead of "
                    "directly under the report; read as if they were")
        root.children = sorted(root.children + nested, key=_document_order(root))


def _document_order(root: Node) -> Callable[[Node], int]:
    position = {id(node): index for index, node in enumerate(root.walk())}
    return lambda node: position[id(node)]


def _has_xray_dose_content(root: Node) -> bool:
    keys = {child.key for child in root.children}
    return bool(keys & {codes.CT_ACCUMULATED, codes.CT_ACQUISITION, codes.ACCUMULATED_XRAY, codes.IRRADIATION_EVENT})


def _read_document_context(root: Node, record: DoseRecord) -> None:
    procedure = root.first(codes.PROCEDURE_REPORTED)
    if procedure is not None:
        record.study.procedure_reported = procedure.value_text
    record.source.dose_information_source = root.text_of(codes.SOURCE_OF_DOSE_INFORMATION)
    record.study.irradiation_start = iso_datetime(root.text_of(codes.START_OF_IRRADIATION))
    record.study.irradiation_end = iso_datetime(root.text_of(codes.END_OF_IRRADIATION))
    if record.study.study_instance_uid is None:
        scope = root.first(codes.SCOPE_OF_ACCUMULATION)
        if scope is not None:
            record.study.study_instance_uid = scope.text_of(codes.STUDY_INSTANCE_UID)
    apply_observer_context(root, record.device)


def _read_ct(root: Node, record: DoseRecord, reader: Reader) -> None:
    record.study.modality = "CT"
    record.ct_totals = _guarded(reader, "CT accumulated dose data", lambda: read_ct_totals(root, reader))
    for number, node in enumerate(root.all(codes.CT_ACQUISITION), start=1):
        event = _guarded(reader, f"CT acquisition {number}", lambda node=node: read_ct_event(node, reader))
        if event is not None:
            record.events.append(event)


def _read_projection(root: Node, record: DoseRecord, reader: Reader, header_modality: str | None) -> None:
    record.planes = _guarded(reader, "accumulated X-ray dose data", lambda: read_planes(root, reader)) or []
    record.mammo_totals = _guarded(reader, "accumulated mammography dose", lambda: read_mammo_totals(root, reader))
    events: list[Event] = []
    for number, node in enumerate(root.all(codes.IRRADIATION_EVENT), start=1):
        event = _guarded(reader, f"irradiation event {number}", lambda node=node: read_projection_event(node, reader))
        if event is not None:
            events.append(event)
    single_plane = all(p.plane == "single" for p in record.planes)
    for event in events:
        if event.plane is None and single_plane:
            event.plane = "single"
    record.events.extend(events)
    if record.study.modality is None:
        procedure = root.first(codes.PROCEDURE_REPORTED)
        record.study.modality = _projection_modality(record, events, procedure, header_modality)


def _projection_modality(record: DoseRecord, events: list[Event], procedure: Node | None,
                         header_modality: str | None) -> str:
    """MG, RF, XA or DX, from what the report says and holds, not from the room's name."""
    if (procedure is not None and procedure.code == codes.MAMMOGRAPHY_PROCEDURE) or record.mammo_totals or any(
        e.agd_mgy is not None for e in events
    ):
        return "MG"
    stated = _PROJECTION_MODALITIES.get((header_modality or "").upper())
    if stated:
        return stated
    if any(p.plane in ("A", "B") for p in record.planes) or any(e.plane in ("A", "B") for e in events):
        return "XA"
    has_fluoro = any(e.event_type_code == codes.FLUOROSCOPY for e in events) or any(
        (p.fluoro_time_total_s or 0) > 0 or (p.fluoro_dap_total_gycm2 or 0) > 0 for p in record.planes
    )
    return "RF" if has_fluoro else "DX"


def _guarded(reader: Reader, what: str, read: Callable[[], T]) -> T | None:
    """Run one part of the extraction; a failure costs that part, never the record."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - vendor content we never saw must not lose the record
        reader.warn(f"{what} could not be read ({type(exc).__name__}: {exc}); skipped")
        return None


_EVENT_DOSE_FIELDS = ("ctdivol_mgy", "dlp_mgycm", "dap_gycm2", "dose_rp_mgy", "agd_mgy", "entrance_exposure_mgy")
_PLANE_DOSE_FIELDS = ("dap_total_gycm2", "dose_rp_total_mgy", "fluoro_dap_total_gycm2", "acquisition_dap_total_gycm2")


def _has_dose_value(record: DoseRecord) -> bool:
    if record.ct_totals is not None and record.ct_totals.dlp_total_mgycm is not None:
        return True
    if any(getattr(p, f) is not None for p in record.planes for f in _PLANE_DOSE_FIELDS):
        return True
    if record.mammo_totals is not None and any(v is not None for v in record.mammo_totals.agd_accumulated_mgy.values()):
        return True
    return any(getattr(e, f) is not None for e in record.events for f in _EVENT_DOSE_FIELDS)
