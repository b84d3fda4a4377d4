"""Damaged real objects: the parser returns a record or raises UnreadableObject, nothing else.

A vendor we never saw, a flaky network or a broken archive can hand us any bytes;
the worker must turn each into a record or a clear "unreadable", never a crash.
Mutations are seeded, so a failure here reproduces.
"""

from __future__ import annotations

import random
from io import BytesIO

import pydicom
import pytest
from pydicom.dataset import Dataset

from rdsr.parse import UnreadableObject, parse_bytes

REPORTS = ["CT-RDSR-Siemens_Flash-QA-DS.dcm", "CT-ESR-GE_Optima.dcm", "RF-RDSR-Philips_Allura.dcm",
           "MG-RDSR-Hologic_mix.dcm", "DX-RDSR-Carestream_DRXEvolution.dcm", "RF-RDSR-GE.dcm"]


def _parses_or_is_unreadable(data: bytes) -> None:
    try:
        record = parse_bytes(data, path="damaged.dcm")
    except UnreadableObject as exc:
        assert str(exc)
    else:
        assert record.source.kind in ("rdsr", "enhanced-rdsr", "esr", "not-dose")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", REPORTS)
def test_flipped_bytes_never_crash_the_parser(name, corpus_file):
    original = corpus_file(name).read_bytes()
    rng = random.Random(name)
    for _ in range(60):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(132, len(data))] = rng.randrange(256)
        _parses_or_is_unreadable(bytes(data))


def _content_items(dataset: Dataset) -> list[Dataset]:
    items = []
    for item in dataset.get("ContentSequence", []):
        items.append(item)
        items.extend(_content_items(item))
    return items


DAMAGES = {
    "drop the units": lambda item: item.get("MeasuredValueSequence") and
    item.MeasuredValueSequence[0].pop("MeasurementUnitsCodeSequence", None),
    "empty the measured value": lambda item: "MeasuredValueSequence" in item and
    setattr(item, "MeasuredValueSequence", []),
    "drop the concept name": lambda item: item.pop("ConceptNameCodeSequence", None),
    "drop the value type": lambda item: item.pop("ValueType", None),
    "turn it into text": lambda item: setattr(item, "ValueType", "TEXT"),
    "empty its content": lambda item: "ContentSequence" in item and setattr(item, "ContentSequence", []),
    "drop the concept code": lambda item: item.pop("ConceptCodeSequence", None),
}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("name", REPORTS)
def test_damaged_content_items_never_crash_the_parser(name, damage, corpus_file):
    rng = random.Random(f"{name}{damage}")
    for _ in range(5):
        ds = pydicom.dcmread(corpus_file(name))
        items = _content_items(ds)
        for item in rng.sample(items, k=max(1, len(items) // 10)):
            DAMAGES[damage](item)
        buffer = BytesIO()
        ds.save_as(buffer)
        _parses_or_is_unreadable(buffer.getvalue())
