"""Dose-info secondary captures: CT dose data in header sequences, not in pixels.

Philips CT systems (Brilliance, MX, iCT) save a "Dose Info" Secondary Capture
whose Exposure Dose Sequence (0040,030E) has one item per irradiation event
with the standard CT attributes (Acquisition Type, CTDIvol, kVp, tube current
in µA, exposure time in ms, collimation, pitch, scan length) and the event's
DLP in Philips' private ELSCINT1 element (00E1,xx21); the same private
element at the top level holds the study's total DLP. Other vendors' items
without that element still give CTDIvol and technique, with no DLP.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from rdsr.dicom_header import header_number, text
from rdsr.image_header import CT_ACQUISITION_TYPES
from rdsr.reading import Reader
from rdsr.record import CtTotals, DoseRecord, Event
from rdsr.units import implausible

PHILIPS_CREATOR = "ELSCINT1"
PHILIPS_DLP_ELEMENT = 0x21  # (00E1,xx21) DLP, mGy·cm


def has_ct_dose_sequence(ds: Dataset) -> bool:
    try:
        items = ds.get("ExposureDoseSequence") or []
    except Exception:  # noqa: BLE001 - a damaged sequence is an absent one
        return False
    return any("CTDIvol" in item or "AcquisitionType" in item for item in items)


def read_dose_info_sc(ds: Dataset, record: DoseRecord, reader: Reader) -> None:
    record.source.kind = "dose-info-sc"
    record.source.dose_information_source = "Copied From Image Attributes"
    record.study.modality = "CT"
    for number, item in enumerate(ds.ExposureDoseSequence, start=1):
        try:
            record.events.append(_event(item, ds, reader))
        except Exception as exc:  # noqa: BLE001 - one odd item must not lose the others
            reader.warn(f"exposure dose item {number} could not be read ({type(exc).__name__}: {exc}); skipped")
    count = header_number(ds, "TotalNumberOfExposures", reader)
    total = _philips_dlp(ds, reader)
    record.ct_totals = CtTotals(event_count=int(count) if count is not None else len(record.events),
                                dlp_total_mgycm=total)
    if total is not None and implausible("dlp_total_mgycm", total):
        record.ct_totals.review.append("dlp_total_mgycm")
        reader.warn(f"total DLP {total:g} mGy·cm is implausible; kept for review")


def _event(item: Dataset, ds: Dataset, reader: Reader) -> Event:
    event = Event()
    kind = (text(item, "AcquisitionType") or "").upper()
    if kind in CT_ACQUISITION_TYPES:
        event.event_type_code, event.event_type = CT_ACQUISITION_TYPES[kind]
    event.protocol = text(item, "SeriesDescription") or text(ds, "ProtocolName")
    event.ctdivol_mgy = header_number(item, "CTDIvol", reader)
    event.dlp_mgycm = _philips_dlp(item, reader)
    event.kvp = header_number(item, "KVP", reader)
    in_ua = header_number(item, "XRayTubeCurrentInuA", reader)
    event.tube_current_ma = in_ua / 1000 if in_ua is not None else header_number(item, "XRayTubeCurrent", reader)
    exposure_ms = header_number(item, "ExposureTime", reader)
    event.exposure_time_s = exposure_ms / 1000 if exposure_ms is not None else None
    event.scanning_length_mm = header_number(item, "ScanLength", reader)
    event.single_collimation_mm = header_number(item, "SingleCollimationWidth", reader)
    event.total_collimation_mm = header_number(item, "TotalCollimationWidth", reader)
    event.pitch = header_number(item, "SpiralPitchFactor", reader)
    event.comment = text(item, "CommentsOnRadiationDose")
    for field in ("ctdivol_mgy", "dlp_mgycm"):
        value = getattr(event, field)
        if value is not None and implausible(field, value):
            event.review.append(field)
            reader.warn(f"{field} = {value:g} is implausible; kept for review")
    return event


def _philips_dlp(ds: Dataset, reader: Reader) -> float | None:
    try:
        block = ds.private_block(0x00E1, PHILIPS_CREATOR)
        element = block[PHILIPS_DLP_ELEMENT]
    except (KeyError, ValueError):
        return None
    value = element.value
    if isinstance(value, bytes):  # VR UN when the object came in implicit VR
        value = value.decode("ascii", "replace")
    raw = str(value or "").strip().split("\\")[0]
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        reader.warn(f"Philips DLP {raw!r} is not a number; ignored")
        return None
