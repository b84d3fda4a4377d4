"""Dose from image headers: one irradiation event per exposure, never per image.

Radiography, mammography (including Hologic's proprietary tomosynthesis
projection objects, which are Secondary Captures), fluoroscopy/angiography,
dental and CT images carry the technique and dose of the exposure that made
them in standard attributes. Only the header is read; pixel data is never
decoded.

Rules a physicist can check:

* One exposure, one event. Several images can show one exposure: the
  for-processing and for-presentation copies, a resend under a new SOP
  Instance UID, a tomosynthesis reconstruction next to its projections, CT
  reconstructions in several series. The event is keyed on the Irradiation
  Event UID (0008,3010) when the image has one; otherwise on a key derived
  from what identifies the exposure (study, acquisition date/time and the
  technique and dose values; for CT the Acquisition Number and CTDIvol), so
  that those copies collapse into one event in the stored study. An image
  without an acquisition time cannot be matched with its copies: it keeps an
  event of its own, with a warning.
* Secondary images (ImageType value 2 SECONDARY: reformats, screen captures,
  key images) repeat the dose of their originals and yield no event.
* Units are those of the standard for each attribute, converted here once:
  DAP (0018,115E) dGy·cm² -> Gy·cm²; Organ Dose (0040,0316) and Entrance
  Dose (0040,0302) dGy -> mGy; Entrance Dose in mGy (0040,8302) as is;
  exposure in µAs (0018,1153) or mAs (0018,1152); times in ms.
* Integer-string attributes holding decimals ("6.5" in Exposure Time) are
  read as the decimals they are.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from pydicom.dataset import Dataset

from rdsr.dicom_header import header_number, text
from rdsr.reading import Reader, iso_datetime
from rdsr.record import DoseRecord, Event, MammoTotals
from rdsr.units import implausible

CT_IMAGE_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image
})
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"

# Header Modality -> record modality. CR is radiography; intra-oral is dental.
MODALITIES = {"CR": "DX", "DX": "DX", "MG": "MG", "RF": "RF", "XA": "XA", "PX": "PX", "IO": "PX", "CT": "CT"}

# Defined terms of (0018,7050) Filter Material and (0018,1191) Anode Target
# Material -> the code meanings of CID 10006 / CID 10016 that RDSRs use.
MATERIALS = {
    "ALUMINUM": "Aluminum or Aluminum compound",
    "ALUMINIUM": "Aluminum or Aluminum compound",
    "COPPER": "Copper or Copper compound",
    "MOLYBDENUM": "Molybdenum or Molybdenum compound",
    "RHODIUM": "Rhodium or Rhodium compound",
    "SILVER": "Silver or Silver compound",
    "TUNGSTEN": "Tungsten or Tungsten compound",
    "LEAD": "Lead or Lead compound",
    "TIN": "Tin or Tin compound",
    "NIOBIUM": "Niobium or Niobium compound",
    "EUROPIUM": "Europium or Europium compound",
    "TITANIUM": "Titanium or Titanium compound",
    "MIXED": "Mixed",
}

# (0018,1166) Grid defined terms -> DCM codes of CID 10017.
GRIDS = {
    "FIXED": ("111641", "Fixed grid"),
    "FOCUSED": ("111642", "Focused grid"),
    "RECIPROCATING": ("111643", "Reciprocating grid"),
    "PARALLEL": ("111644", "Parallel grid"),
    "CROSSED": ("111645", "Crossed grid"),
    "NONE": ("111646", "No grid"),
}

# (0018,9302) Acquisition Type -> CT acquisition type of the RDSR (TID 10013).
CT_ACQUISITION_TYPES = {
    "SEQUENCED": ("DCM:113804", "Sequenced Acquisition"),
    "SPIRAL": ("SCT:116152004", "Spiral Acquisition"),
    "CONSTANT_ANGLE": ("DCM:113805", "Constant Angle Acquisition"),
    "STATIONARY": ("DCM:113806", "Stationary Acquisition"),
    "FREE": ("DCM:113807", "Free Acquisition"),
}
# GE and others state the mode in Scan Options (0018,0022) instead.
_SCAN_OPTIONS = (("SCOUT", "CONSTANT_ANGLE"), ("HELICAL", "SPIRAL"), ("SPIRAL", "SPIRAL"),
                 ("AXIAL", "SEQUENCED"), ("CINE", "STATIONARY"))
STATIONARY_ACQUISITION = ("DCM:113611", "Stationary Acquisition")
ROTATIONAL_ACQUISITION = ("DCM:113613", "Rotational Acquisition")

PHANTOM_CODES = {"113690": "head16", "113691": "body32"}

# Known vendor defects, each seen in real installations and corrected with a
# warning (never silently): (manufacturer, model) -> attribute -> factor.
# Kodak/Carestream DR 7500 states Distance Source to Detector in dm, not mm.
VENDOR_UNIT_FIXES: dict[tuple[str, str], dict[str, float]] = {
    ("KODAK", "DR 7500"): {"DistanceSourceToDetector": 100.0},
}

_LATERALITY = {"L": "L", "R": "R", "B": "B"}


def is_secondary(ds: Dataset) -> bool:
    image_type = _image_type(ds)
    return len(image_type) > 1 and image_type[1] == "SECONDARY"


def header_modality(ds: Dataset) -> str | None:
    return MODALITIES.get((text(ds, "Modality") or "").upper())


# Enhanced multi-frame objects (Enhanced CT, Breast Tomosynthesis, Enhanced XA/XRF)
# keep technique and dose in functional-group macros rather than at the top level.
_FUNCTIONAL_GROUPS = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")
_DOSE_MACROS = (
    "XRay3DAcquisitionSequence",  # breast tomosynthesis, 3D XA: kVp, mAs, organ dose, thickness
    "CTExposureSequence",  # CTDIvol, exposure, tube current
    "CTAcquisitionTypeSequence",
    "CTAcquisitionDetailsSequence",
    "CTXRayDetailsSequence",  # kVp, filter, focal spot
    "CTGeometrySequence",
    "IrradiationEventIdentificationSequence",
    "XRayAcquisitionDoseSequence",
    "FrameAcquisitionSequence",
    "FrameContentSequence",
)


def header_view(ds: Dataset, reader: Reader) -> Dataset:
    """The header with the attributes of an enhanced object's dose macros lifted to the top level.

    A top-level attribute always wins. The first item of each macro is read
    (shared groups before the first frame's); an object whose frames name
    several irradiation events is read as its first, with a warning.
    """
    places = [ds]
    for group in _FUNCTIONAL_GROUPS:
        items = _items(ds, group)
        if items:
            places.append(items[0])
    macros = [item for place in places for name in _DOSE_MACROS for item in _items(place, name)[:1]]
    if not macros:
        return ds
    view = Dataset()
    view.update(ds)
    for item in macros:
        for element in item:
            if element.keyword and element.keyword not in view:
                view.add(element)
    events = {text(item, "IrradiationEventUID") for frame in _items(ds, "PerFrameFunctionalGroupsSequence")
              for item in _items(frame, "IrradiationEventIdentificationSequence")[:1]} - {None}
    if len(events) > 1:
        reader.warn(f"enhanced object with {len(events)} irradiation events in its frames: read as its first")
    return view


def _items(ds: Dataset, keyword: str) -> list[Dataset]:
    try:
        return list(ds.get(keyword) or [])
    except Exception:  # noqa: BLE001 - a damaged sequence is an absent one
        return []


def read_image_header(ds: Dataset, record: DoseRecord, reader: Reader) -> str | None:
    """Fill the record from an image header; return why there is no dose, or None when there is."""
    ds = header_view(ds, reader)
    modality = header_modality(ds)
    sop_class = text(ds, "SOPClassUID") or ""
    if modality is None:
        return f"image of modality {text(ds, 'Modality') or 'unknown'} is not an X-ray dose source"
    if is_secondary(ds):
        image_type = "\\".join(_image_type(ds))
        return f"secondary image (ImageType {image_type}): it repeats the dose of its original and is not counted"
    if modality == "CT":
        if sop_class.startswith(SECONDARY_CAPTURE_PREFIX):
            return "CT secondary capture without dose attributes"
        event = _ct_event(ds, reader)
        if event is None:
            return "CT image header without CTDIvol (0018,9345)"
    else:
        event = _projection_event(ds, modality, reader)
        if event is None:
            return (f"{modality} image header without dose (DAP, entrance dose, organ dose) or technique "
                    "(kVp and exposure)")
    _identify(event, ds, modality, reader)
    record.source.kind = "image-header"
    record.source.dose_information_source = "Copied From Image Attributes"
    record.study.modality = modality
    record.events.append(event)
    if modality == "MG" and event.agd_mgy is not None and "agd_mgy" not in event.review:
        side = {"L": "left", "R": "right", "B": "both"}.get(event.laterality or "")
        if side:
            record.mammo_totals = MammoTotals(agd_accumulated_mgy={side: event.agd_mgy})
    return None


# --- CT -------------------------------------------------------------------------


def _ct_event(ds: Dataset, reader: Reader) -> Event | None:
    ctdivol = header_number(ds, "CTDIvol", reader)
    if ctdivol is None:
        return None
    event = Event(ctdivol_mgy=ctdivol)
    event.event_type_code, event.event_type = _ct_acquisition_type(ds)
    event.protocol = text(ds, "ProtocolName") or text(ds, "SeriesDescription")
    event.target_region = text(ds, "BodyPartExamined")
    event.phantom = _phantom(ds)
    event.kvp = header_number(ds, "KVP", reader)
    event.tube_current_ma = _tube_current_ma(ds, reader)
    exposure_ms = _exposure_time_ms(ds, reader)
    event.exposure_time_s = exposure_ms / 1000 if exposure_ms is not None else None
    event.exposure_time_per_rotation_s = header_number(ds, "RevolutionTime", reader)
    event.pitch = header_number(ds, "SpiralPitchFactor", reader)
    event.single_collimation_mm = header_number(ds, "SingleCollimationWidth", reader)
    event.total_collimation_mm = header_number(ds, "TotalCollimationWidth", reader)
    event.datetime_started = _acquisition_datetime(ds)
    _flag_implausible(event, ("ctdivol_mgy",), reader)
    return event


def _ct_acquisition_type(ds: Dataset) -> tuple[str | None, str | None]:
    stated = (text(ds, "AcquisitionType") or "").upper()
    if stated in CT_ACQUISITION_TYPES:
        return CT_ACQUISITION_TYPES[stated]
    if "LOCALIZER" in _image_type(ds):
        return CT_ACQUISITION_TYPES["CONSTANT_ANGLE"]
    options = (text(ds, "ScanOptions") or "").upper()
    for word, kind in _SCAN_OPTIONS:
        if word in options:
            return CT_ACQUISITION_TYPES[kind]
    return None, None


def _phantom(ds: Dataset) -> str | None:
    try:
        items = ds.get("CTDIPhantomTypeCodeSequence") or []
    except Exception:  # noqa: BLE001 - a damaged sequence is an absent one
        return None
    for item in items:
        found = PHANTOM_CODES.get(text(item, "CodeValue") or "")
        if found:
            return found
    return None


# --- projection X-ray -----------------------------------------------------------


def _projection_event(ds: Dataset, modality: str, reader: Reader) -> Event | None:
    event = Event(plane="single")
    event.event_type_code, event.event_type = (
        ROTATIONAL_ACQUISITION if (text(ds, "PositionerMotion") or "").upper() == "DYNAMIC"
        else STATIONARY_ACQUISITION
    )
    event.protocol = text(ds, "ProtocolName") or _performed_protocol(ds) or text(ds, "SeriesDescription")
    event.anatomical_structure = _code_meaning(ds, "AnatomicRegionSequence") or text(ds, "BodyPartExamined")
    event.view = _code_meaning(ds, "ViewCodeSequence") or text(ds, "ViewPosition")
    event.laterality = _LATERALITY.get((text(ds, "ImageLaterality") or text(ds, "Laterality") or "").upper())
    event.datetime_started = _acquisition_datetime(ds)

    dap_dgycm2 = header_number(ds, "ImageAndFluoroscopyAreaDoseProduct", reader)
    event.dap_gycm2 = dap_dgycm2 * 0.1 if dap_dgycm2 is not None else None
    event.entrance_exposure_mgy = _entrance_dose_mgy(ds, reader)
    organ_dgy = header_number(ds, "OrganDose", reader)
    organ = (text(ds, "OrganExposed") or "").upper()
    if organ_dgy is not None:
        if modality == "MG" or organ == "BREAST":
            event.agd_mgy = organ_dgy * 100
        else:
            event.organ_dose_mgy = organ_dgy * 100
            event.organ_exposed = organ or None

    event.kvp = header_number(ds, "KVP", reader)
    event.tube_current_ma = _tube_current_ma(ds, reader)
    event.exposure_mas = _exposure_mas(ds, reader)
    exposure_ms = _exposure_time_ms(ds, reader)
    event.exposure_time_s = exposure_ms / 1000 if exposure_ms is not None else None
    event.focal_spot_mm = _first_number(ds, "FocalSpots", reader)
    event.anode_target = _material(text(ds, "AnodeTargetMaterial"))
    event.filters = _filters(ds, reader)
    event.grids = _grids(ds)
    event.grid_focal_distance_mm = header_number(ds, "GridFocalDistance", reader)
    event.source_to_detector_mm = _vendor_fixed(ds, "DistanceSourceToDetector", reader)
    event.source_to_entrance_mm = header_number(ds, "DistanceSourceToEntrance", reader)
    event.exposure_index = header_number(ds, "ExposureIndex", reader)
    event.target_exposure_index = header_number(ds, "TargetExposureIndex", reader)
    event.deviation_index = header_number(ds, "DeviationIndex", reader)
    event.relative_xray_exposure = header_number(ds, "RelativeXRayExposure", reader)
    event.sensitivity = header_number(ds, "Sensitivity", reader)
    event.hvl_mm = header_number(ds, "HalfValueLayer", reader)
    if modality == "MG":
        event.compression_thickness_mm = header_number(ds, "BodyPartThickness", reader)
        event.compression_force_n = header_number(ds, "CompressionForce", reader)
        event.column_angulation_deg = header_number(ds, "PositionerPrimaryAngle", reader)
        event.magnification_factor = header_number(ds, "EstimatedRadiographicMagnificationFactor", reader)
        event.field_area_cm2 = _field_area_cm2(ds, reader)
        event.percent_fibroglandular = _percent_fibroglandular(ds)
    else:
        event.primary_angle_deg = header_number(ds, "PositionerPrimaryAngle", reader)
        event.secondary_angle_deg = header_number(ds, "PositionerSecondaryAngle", reader)
    if modality in ("RF", "XA"):
        frames = header_number(ds, "NumberOfFrames", reader)
        event.frames = int(frames) if frames else None

    has_dose = any(v is not None for v in (event.dap_gycm2, event.entrance_exposure_mgy, event.agd_mgy,
                                           event.organ_dose_mgy))
    if not has_dose:
        if event.kvp is None or event.exposure_mas is None:
            return None
        reader.warn(f"{modality} image header states technique (kVp, mAs) but no dose value")
    _flag_implausible(event, ("dap_gycm2", "agd_mgy", "entrance_exposure_mgy"), reader)
    return event


def _entrance_dose_mgy(ds: Dataset, reader: Reader) -> float | None:
    in_mgy = header_number(ds, "EntranceDoseInmGy", reader)
    if in_mgy is not None:
        return in_mgy
    # (0040,0302) is an integer in dGy: vendors that also fill (0040,8302) put
    # 0 here, which means "not given", never a zero dose.
    in_dgy = header_number(ds, "EntranceDose", reader)
    return in_dgy * 100 if in_dgy else None


def _exposure_mas(ds: Dataset, reader: Reader) -> float | None:
    in_uas = header_number(ds, "ExposureInuAs", reader)
    if in_uas is not None:
        return in_uas / 1000
    in_mas = header_number(ds, "ExposureInmAs", reader)
    if in_mas is not None:
        return in_mas
    return header_number(ds, "Exposure", reader)


def _tube_current_ma(ds: Dataset, reader: Reader) -> float | None:
    in_ma = header_number(ds, "XRayTubeCurrentInmA", reader)
    if in_ma is not None:
        return in_ma
    in_ua = header_number(ds, "XRayTubeCurrentInuA", reader)
    if in_ua is not None:
        return in_ua / 1000
    return header_number(ds, "XRayTubeCurrent", reader)


def _exposure_time_ms(ds: Dataset, reader: Reader) -> float | None:
    in_ms = header_number(ds, "ExposureTimeInms", reader)
    if in_ms is not None:
        return in_ms
    in_us = header_number(ds, "ExposureTimeInuS", reader)
    if in_us is not None:
        return in_us / 1000
    return header_number(ds, "ExposureTime", reader)


def _filters(ds: Dataset, reader: Reader) -> list[dict]:
    """One entry per filter; materials and thicknesses are parallel multi-values."""
    materials = _values(ds, "FilterMaterial")
    minimum = _numbers(ds, "FilterThicknessMinimum", reader)
    maximum = _numbers(ds, "FilterThicknessMaximum", reader)
    filter_type = text(ds, "FilterType")
    filters = []
    for index, material in enumerate(materials):
        low = minimum[index] if index < len(minimum) else None
        high = maximum[index] if index < len(maximum) else None
        if low is not None and high is not None and low > high:
            reader.warn(f"filter {index + 1}: minimum thickness {low:g} mm above maximum {high:g} mm; swapped")
            low, high = high, low
        filters.append({"type": filter_type, "material": _material(material),
                        "thickness_min_mm": low, "thickness_max_mm": high})
    return filters


def _grids(ds: Dataset) -> list[dict]:
    grids = []
    for term in _values(ds, "Grid"):
        code = GRIDS.get(term.upper())
        if code:
            grids.append({"scheme": "DCM", "value": code[0], "meaning": code[1]})
        else:
            grids.append({"scheme": None, "value": None, "meaning": term})
    return grids


def _field_area_cm2(ds: Dataset, reader: Reader) -> float | None:
    # Mammography systems state the collimated field in Field of View
    # Dimensions (0018,1149), mm × mm.
    dims = _numbers(ds, "FieldOfViewDimensions", reader)
    if len(dims) == 2 and all(d is not None and d > 0 for d in dims):
        return dims[0] * dims[1] / 100.0
    return None


_PERCENT = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*%\s*$")


def _percent_fibroglandular(ds: Dataset) -> float | None:
    # GE Senographe writes its breast density estimate, alone, in Comments on
    # Radiation Dose ("31 %"); any other comment is not read as a density.
    if not (text(ds, "Manufacturer") or "").upper().startswith("GE"):
        return None
    match = _PERCENT.match(text(ds, "CommentsOnRadiationDose") or "")
    return float(match[1]) if match else None


def _performed_protocol(ds: Dataset) -> str | None:
    return _code_meaning(ds, "PerformedProtocolCodeSequence")


# --- identity of the exposure -------------------------------------------------------


def _identify(event: Event, ds: Dataset, modality: str, reader: Reader) -> None:
    stated = _values(ds, "IrradiationEventUID")
    if stated:
        event.irradiation_event_uid = stated[0]
        return
    study = text(ds, "StudyInstanceUID") or ""
    when = _acquisition_datetime(ds)
    if modality == "CT":
        acquisition = text(ds, "AcquisitionNumber")
        if acquisition is None and when is None:
            reader.warn("CT image without Acquisition Number or time: its reconstructions cannot be "
                        "recognised as one acquisition")
            parts = [study, "sop", text(ds, "SOPInstanceUID")]
        else:
            parts = [study, "ct", acquisition or when, event.event_type_code, _key(event.ctdivol_mgy),
                     _key(event.kvp)]
    elif when is None:
        reader.warn("image without acquisition date/time: a copy of it (for presentation, resent) cannot "
                    "be recognised and would count again")
        parts = [study, "sop", text(ds, "SOPInstanceUID")]
    else:
        parts = [study, "px", when, _key(event.kvp), _key(event.exposure_mas), _key(event.dap_gycm2),
                 _key(event.agd_mgy), event.laterality, event.view]
    event.irradiation_event_uid = derived_uid(parts)
    event.irradiation_event_uid_derived = True


def derived_uid(parts: Iterable[object]) -> str:
    """A UID under the 2.25 root (UUID-derived UIDs, PS3.5 B.2) made from the parts."""
    digest = hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _key(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


# --- reading attributes ---------------------------------------------------------------


def _image_type(ds: Dataset) -> list[str]:
    return [v.strip().upper() for v in _values(ds, "ImageType")]


def _values(ds: Dataset, keyword: str) -> list[str]:
    """A multi-valued attribute as a list of strings; commas split too (a common vendor slip)."""
    raw = text(ds, keyword)
    if raw is None:
        return []
    return [v.strip() for v in re.split(r"\s*[|,\\]\s*", raw) if v.strip()]


def _numbers(ds: Dataset, keyword: str, reader: Reader) -> list[float | None]:
    out: list[float | None] = []
    for raw in _values(ds, keyword):
        try:
            out.append(float(raw))
        except ValueError:
            reader.warn(f"header {keyword} value {raw!r} is not a number; ignored")
            out.append(None)
    return out


def _first_number(ds: Dataset, keyword: str, reader: Reader) -> float | None:
    numbers = [n for n in _numbers(ds, keyword, reader) if n is not None]
    return numbers[0] if numbers else None


def _vendor_fixed(ds: Dataset, keyword: str, reader: Reader) -> float | None:
    value = header_number(ds, keyword, reader)
    if value is None:
        return None
    vendor = ((text(ds, "Manufacturer") or "").upper(), (text(ds, "ManufacturerModelName") or "").upper())
    factor = VENDOR_UNIT_FIXES.get(vendor, {}).get(keyword)
    if factor:
        reader.warn(f"{keyword} {value:g} from {vendor[0]} {vendor[1]} is in the vendor's known wrong unit; "
                    f"read as {value * factor:g} mm")
        return value * factor
    return value


def _material(term: str | None) -> str | None:
    if not term:
        return None
    return MATERIALS.get(term.strip().upper(), term.strip())


def _code_meaning(ds: Dataset, keyword: str) -> str | None:
    try:
        items = ds.get(keyword) or []
    except Exception:  # noqa: BLE001
        return None
    for item in items:
        meaning = text(item, "CodeMeaning")
        if meaning:
            return meaning
    return None


def _acquisition_datetime(ds: Dataset) -> str | None:
    stated = text(ds, "AcquisitionDateTime")
    if stated:
        return iso_datetime(stated)
    date, time = text(ds, "AcquisitionDate"), text(ds, "AcquisitionTime")
    if date and time:
        return iso_datetime(date + time.replace(":", ""))
    return None


def _flag_implausible(event: Event, fields: tuple[str, ...], reader: Reader) -> None:
    for field in fields:
        value = getattr(event, field)
        if value is not None and implausible(field, value):
            if field not in event.review:
                event.review.append(field)
            reader.warn(f"{field} = {value:g} is implausible for one exposure; kept for review")

