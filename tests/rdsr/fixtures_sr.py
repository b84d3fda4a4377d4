"""Build dose SRs in code, for what the real corpus does not show.

Small helpers that make SR content items (`num`, `code`, `text`, `container`...)
and a whole object (`dose_report`), written to bytes the way a modality sends them.
Codes default to the DCM scheme; pass `scheme=` to imitate a vendor's variant.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

NUMERIC_VALUE = Tag(0x0040A30A)

XRAY_RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
ENHANCED_XRAY_RDSR = "1.2.840.10008.5.1.4.1.1.88.76"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
RADIOPHARMACEUTICAL_RDSR = "1.2.840.10008.5.1.4.1.1.88.68"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def coded(value: str, meaning: str = "", scheme: str = "DCM") -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning or value
    return item


def _item(value_type: str, concept: str, meaning: str, scheme: str, rel: str | None) -> Dataset:
    item = Dataset()
    if rel is not None:
        item.RelationshipType = rel
    item.ValueType = value_type
    item.ConceptNameCodeSequence = Sequence([coded(concept, meaning, scheme)])
    return item


def num(
    concept: str,
    value: Any,
    unit: str | None,
    meaning: str = "",
    *,
    scheme: str = "DCM",
    rel: str = "CONTAINS",
    children: list[Dataset] | None = None,
) -> Dataset:
    """A NUM item; `value=None` gives an empty MeasuredValueSequence, `unit=None` no unit.

    A string value is written as sent, even when it is no valid DS (as some devices do).
    """
    item = _item("NUM", concept, meaning, scheme, rel)
    measured = Dataset()
    if value is not None:
        if isinstance(value, str):
            raw = value.encode("latin-1")
            raw += b" " * (len(raw) % 2)
            measured[NUMERIC_VALUE] = RawDataElement(NUMERIC_VALUE, "DS", len(raw), raw, 0, False, True)
        else:
            measured.NumericValue = repr(float(value))
        if unit is not None:
            measured.MeasurementUnitsCodeSequence = Sequence([coded(unit, unit, "UCUM")])
        item.MeasuredValueSequence = Sequence([measured])
    else:
        item.MeasuredValueSequence = Sequence([])
    if children:
        item.ContentSequence = Sequence(children)
    return item


def code(
    concept: str,
    value: str,
    meaning: str = "",
    *,
    scheme: str = "DCM",
    value_scheme: str = "DCM",
    rel: str = "CONTAINS",
    children: list[Dataset] | None = None,
) -> Dataset:
    item = _item("CODE", concept, "", scheme, rel)
    item.ConceptCodeSequence = Sequence([coded(value, meaning, value_scheme)])
    if children:
        item.ContentSequence = Sequence(children)
    return item


def text(concept: str, value: str, *, scheme: str = "DCM", rel: str = "CONTAINS") -> Dataset:
    item = _item("TEXT", concept, "", scheme, rel)
    item.TextValue = value
    return item


def uid(concept: str, value: str, *, scheme: str = "DCM", rel: str = "CONTAINS") -> Dataset:
    item = _item("UIDREF", concept, "", scheme, rel)
    item.UID = value
    return item


def container(
    concept: str, children: list[Dataset], *, scheme: str = "DCM", rel: str = "CONTAINS"
) -> Dataset:
    item = _item("CONTAINER", concept, "", scheme, rel)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = Sequence(children)
    return item


def dose_report(
    children: list[Dataset],
    *,
    sop_class: str = XRAY_RDSR,
    template: str | None = "10001",
    title: tuple[str, str] = ("113701", "DCM"),
    modality: str = "SR",
    manufacturer: str = "Acme Medical",
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.Manufacturer = manufacturer
    ds.StudyDate = "20240131"
    ds.StudyTime = "101500"
    ds.PatientID = "P1"
    ds.PatientName = "Test^Patient"
    ds.PatientBirthDate = "19800131"
    ds.PatientSex = "F"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([coded(title[0], "X-Ray Radiation Dose Report", title[1])])
    ds.ContinuityOfContent = "SEPARATE"
    if template is not None:
        tpl = Dataset()
        tpl.MappingResource = "DCMR"
        tpl.TemplateIdentifier = template
        ds.ContentTemplateSequence = Sequence([tpl])
    ds.ContentSequence = Sequence(children)
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# --- ready-made pieces -------------------------------------------------------------


def projection_procedure() -> Dataset:
    return code("121058", "113704", "Projection X-Ray", rel="HAS CONCEPT MOD")


def ct_procedure() -> Dataset:
    return code("121058", "P5-08000", "Computed Tomography X-Ray", value_scheme="SRT", rel="HAS CONCEPT MOD")


def plane_code(plane: str) -> Dataset:
    value = {"single": "113622", "A": "113620", "B": "113621"}[plane]
    return code("113764", value, f"Plane {plane}", rel="HAS CONCEPT MOD")


def accumulated_plane(
    plane: str,
    *,
    dap: tuple[float, str] | None = None,
    dose_rp: tuple[float, str] | None = None,
    fluoro_time_s: float | None = None,
) -> Dataset:
    items = [plane_code(plane)]
    if dap is not None:
        items.append(num("113722", dap[0], dap[1], "Dose Area Product Total"))
    if dose_rp is not None:
        items.append(num("113725", dose_rp[0], dose_rp[1], "Dose (RP) Total"))
    if fluoro_time_s is not None:
        items.append(num("113730", fluoro_time_s, "s", "Total Fluoro Time"))
    return container("113702", items)


def projection_event(
    plane: str = "single",
    *,
    dap: tuple[Any, str | None] | None = None,
    dose_rp: tuple[Any, str | None] | None = None,
    fluoro: bool = False,
    extra: list[Dataset] | None = None,
) -> Dataset:
    items = [
        plane_code(plane),
        uid("113769", generate_uid()),
        code(
            "113721",
            "P5-06000" if fluoro else "113611",
            "Fluoroscopy" if fluoro else "Stationary Acquisition",
            value_scheme="SRT" if fluoro else "DCM",
        ),
    ]
    if dap is not None:
        items.append(num("122130", dap[0], dap[1], "Dose Area Product"))
    if dose_rp is not None:
        items.append(num("113738", dose_rp[0], dose_rp[1], "Dose (RP)"))
    items.extend(extra or [])
    return container("113706", items)


def ct_event(
    *,
    ctdivol: tuple[Any, str | None] = (10.0, "mGy"),
    dlp: tuple[Any, str | None] = (200.0, "mGy.cm"),
    phantom: tuple[str, str] | None = ("113691", "DCM"),
    sources: list[tuple[float, float]] | None = None,
    dose_items: list[Dataset] | None = None,
    ctdivol_item: Dataset | None = None,
) -> Dataset:
    params = [num("113824", 5.0, "s", "Exposure Time"), num("113825", 300.0, "mm", "Scanning Length")]
    for index, (kvp, ma) in enumerate(sources or [(120.0, 200.0)], start=1):
        params.append(
            container(
                "113831",
                [
                    text("113832", str(index)),
                    num("113733", kvp, "kV", "KVP"),
                    num("113734", ma, "mA", "X-Ray Tube Current"),
                ],
            )
        )
    dose = [
        ctdivol_item if ctdivol_item is not None else num("113830", ctdivol[0], ctdivol[1], "Mean CTDIvol"),
        num("113838", dlp[0], dlp[1], "DLP"),
    ]
    if phantom is not None:
        dose.append(code("113835", phantom[0], "Phantom", value_scheme=phantom[1]))
    dose.extend(dose_items or [])
    return container(
        "113819",
        [
            text("125203", "Abdomen"),
            code("113820", "P5-08001", "Spiral Acquisition", value_scheme="SRT"),
            uid("113769", generate_uid()),
            container("113822", params),
            container("113829", dose),
        ],
    )


def ct_accumulated(dlp_total: float, events: int) -> Dataset:
    return container(
        "113811",
        [
            num("113812", events, "{events}", "Total Number of Irradiation Events"),
            num("113813", dlp_total, "mGy.cm", "CT Dose Length Product Total"),
        ],
    )
