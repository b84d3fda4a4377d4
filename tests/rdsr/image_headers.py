"""Image-header objects built with pydicom, for what the corpus lacks (CT series, copies, odd values)."""

from __future__ import annotations

import io
import itertools

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
XA_IMAGE = "1.2.840.10008.5.1.4.1.1.12.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

_serial = itertools.count(1)


def uid() -> str:
    return f"2.25.{next(_serial)}{10**14 + next(_serial)}"


def image(*, sop_class: str, modality: str, study_uid: str | None = None, **attributes) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study_uid or uid()
    ds.SeriesInstanceUID = uid()
    ds.Modality = modality
    ds.StudyDate, ds.StudyTime = "20260301", "101500"
    ds.AccessionNumber = "ACC-IMG-1"
    ds.PatientID, ds.PatientName = "PAT-IMG-1", "Header^Harriet"
    ds.Manufacturer, ds.ManufacturerModelName, ds.StationName = "ACME", "Ray 9000", "ROOM7"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Rows, ds.Columns = 2, 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
    ds.PixelData = b"\x00\x01\x02\x03"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def ct_slice(*, study_uid: str, series_uid: str | None = None, acquisition: int = 1, ctdivol: float = 12.5,
             **attributes) -> Dataset:
    defaults = {
        "AcquisitionNumber": acquisition, "CTDIvol": ctdivol, "KVP": "120", "XRayTubeCurrent": "250",
        "ExposureTime": "1000", "AcquisitionType": "SPIRAL", "SpiralPitchFactor": 0.984,
        "AcquisitionDate": "20260301", "AcquisitionTime": f"1016{acquisition:02d}",
        "ProtocolName": "Abdomen routine",
    }
    defaults.update(attributes)
    ds = image(sop_class=CT_IMAGE, modality="CT", study_uid=study_uid, **defaults)
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    return ds


def dx_image(*, study_uid: str, sop_class: str = DX_FOR_PROCESSING, time: str = "101700", dap: str = "1.5",
             **attributes) -> Dataset:
    defaults = {
        "ImageAndFluoroscopyAreaDoseProduct": dap, "KVP": "81", "ExposureInuAs": "3200", "ExposureTime": "16",
        "AcquisitionDate": "20260301", "AcquisitionTime": time, "ViewPosition": "PA",
        "ProtocolName": "Chest PA", "ImageType": ["DERIVED", "PRIMARY"],
        "PresentationIntentType": "FOR PROCESSING" if sop_class == DX_FOR_PROCESSING else "FOR PRESENTATION",
    }
    defaults.update(attributes)
    return image(sop_class=sop_class, modality="DX", study_uid=study_uid, **defaults)


def to_bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def with_raw_value(data: bytes, keyword_value: bytes, new_value: bytes) -> bytes:
    """Replace an element's value bytes in place (same length), for values pydicom will not write."""
    assert len(keyword_value) == len(new_value)
    assert data.count(keyword_value) == 1
    return data.replace(keyword_value, new_value)
