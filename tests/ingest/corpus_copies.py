"""Distinct dose objects made from the corpus: new study, series, SOP and event UIDs.

A copy keeps every dose value of its original, so many copies make a realistic
stream of different objects. Copies made with one shared `uid_map` keep their
UIDs consistent with each other, e.g. the three cumulative Siemens RDSRs of
one examination stay one study with shared events.
"""

from __future__ import annotations

from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid

# Content items whose UID names this examination (replaced); the Device
# Observer UID (121012) names the room and is kept.
_EXAM_UID_CONCEPTS = {"113769", "110180", "121126"}  # event, study, performed procedure step

# Corpus RDSRs whose events all carry distinct Irradiation Event UIDs.
SINGLE_RDSRS = [
    "CT-RDSR-GEPixelMed.dcm",
    "CT-RDSR-Siemens_Flash-TAP-SS.dcm",
    "CT-RDSR-ToshibaPixelMed.dcm",
    "CT-RDSR-Toshiba_DoseCheck.dcm",
    "DX-RDSR-Canon_CXDI.dcm",
    "DX-RDSR-Carestream_DRXEvolution.dcm",
    "MG-RDSR-Hologic_2D.dcm",
    "RF-RDSR-Philips_Allura.dcm",
    "Dual-RDSR-RF.dcm",
    "CT-ESR-GE_Optima.dcm",
]
# One CT examination sent as three cumulative RDSRs (1, 2, then 3 events).
CUMULATIVE_GROUP = [
    "CT-RDSR-Siemens-Multi-1.dcm",
    "CT-RDSR-Siemens-Multi-2.dcm",
    "CT-RDSR-Siemens-Multi-3.dcm",
]


def copy_dose_object(source: Path, dest: Path, *, uid_map: dict[str, str] | None = None) -> Path:
    """Write a copy of `source` at `dest` with fresh exam UIDs; return `dest`."""
    uid_map = {} if uid_map is None else uid_map
    ds = dcmread(source)

    def fresh(old: str) -> str:
        if old not in uid_map:
            uid_map[old] = generate_uid()
        return uid_map[old]

    ds.StudyInstanceUID = fresh(ds.StudyInstanceUID)
    ds.SeriesInstanceUID = fresh(ds.SeriesInstanceUID)
    # Every copy is its own object, even when it shares a study with others.
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    _replace_content_uids(ds, fresh)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dest)
    return dest


def _replace_content_uids(ds: Dataset, fresh) -> None:
    for item in ds.get("ContentSequence") or []:
        if (
            item.get("ValueType") == "UIDREF"
            and item.ConceptNameCodeSequence[0].CodeValue in _EXAM_UID_CONCEPTS
        ):
            item.UID = fresh(str(item.UID))
        _replace_content_uids(item, fresh)


def make_copies(corpus_dicom: Path, dest_dir: Path, *, singles: int, groups: int = 0) -> list[Path]:
    """`singles` one-object studies cycling through SINGLE_RDSRS, then `groups`
    cumulative three-object studies; returned in the order to send them."""
    paths = []
    for n in range(singles):
        name = SINGLE_RDSRS[n % len(SINGLE_RDSRS)]
        paths.append(copy_dose_object(corpus_dicom / name, dest_dir / f"single-{n:04d}-{name}"))
    for g in range(groups):
        uid_map: dict[str, str] = {}
        for name in CUMULATIVE_GROUP:
            paths.append(
                copy_dose_object(corpus_dicom / name, dest_dir / f"group-{g:04d}-{name}", uid_map=uid_map)
            )
    return paths


def event_uids(path: Path) -> set[str]:
    """The Irradiation Event UIDs an object carries, read without our parser."""
    found: set[str] = set()

    def walk(ds: Dataset) -> None:
        for item in ds.get("ContentSequence") or []:
            if item.get("ValueType") == "UIDREF" and item.ConceptNameCodeSequence[0].CodeValue == "113769":
                found.add(str(item.UID))
            walk(item)

    walk(dcmread(path))
    return found
