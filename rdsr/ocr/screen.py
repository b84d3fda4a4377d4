"""Is this image a bitmap dose screen? Decided from its header alone."""

from __future__ import annotations

from pydicom.dataset import Dataset

SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
_DOSE_WORDS = ("dose", "dosis", "exposure", "patient protocol")


def looks_like_dose_screen(ds: Dataset) -> bool:
    """A secondary capture, or a CT image saved from the console, that says it shows dose.

    Vendors mark these in the series/image description or image type ("SCREEN
    SAVE", "DOSE_INFO"); a plain CT slice never qualifies.
    """
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if not (sop_class.startswith(SECONDARY_CAPTURE_PREFIX) or sop_class == CT_IMAGE):
        return False
    if "PixelData" not in ds:
        return False
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    words = " ".join(
        str(ds.get(name, "") or "") for name in ("SeriesDescription", "ImageComments", "StudyDescription",
                                                 "DerivationDescription", "ProtocolName")
    ).lower()
    said = any(word in words for word in _DOSE_WORDS) or any("DOSE" in v for v in image_type)
    if sop_class == CT_IMAGE:
        return said and ("SCREEN SAVE" in image_type or "SECONDARY" in image_type or "DOSE_INFO" in image_type
                         or any("DOSE" in v for v in image_type))
    return said or "SCREEN SAVE" in image_type
