"""Bitmap CT dose screens rendered from text, wrapped as the DICOM objects consoles send.

Three layouts as consoles draw them (GE "Dose Report" table, Siemens "Patient
Protocol", a Philips-style "Dose Info" list), in mono and proportional fonts,
several sizes, dark or light background, with noise, blur and JPEG artefacts.
Values are random but realistic and seeded, and every screen carries the truth
it shows, so tests and bench/ocr.py can score what OCR reads.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
LAYOUTS = ("ge-dose-report", "siemens-patient-protocol", "philips-dose-info")

_FONT_DIR = Path("/usr/share/fonts/truetype")
FONTS = {
    "dejavu-mono": _FONT_DIR / "dejavu" / "DejaVuSansMono.ttf",
    "liberation-mono": _FONT_DIR / "liberation" / "LiberationMono-Regular.ttf",
    "dejavu-sans": _FONT_DIR / "dejavu" / "DejaVuSans.ttf",
    "liberation-sans": _FONT_DIR / "liberation" / "LiberationSans-Regular.ttf",
    "dejavu-sans-bold": _FONT_DIR / "dejavu" / "DejaVuSans-Bold.ttf",
}
_MANUFACTURER = {
    "ge-dose-report": ("GE MEDICAL SYSTEMS", "LightSpeed VCT", "Dose Report"),
    "siemens-patient-protocol": ("SIEMENS", "SOMATOM Definition AS", "Patient Protocol"),
    "philips-dose-info": ("Philips", "Brilliance 64", "Dose Info"),
}


@dataclass
class TruthEvent:
    label: str
    kind: str  # scout | helical | axial
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    phantom: str | None  # head16 | body32
    length_mm: float | None = None


@dataclass
class Screen:
    layout: str
    events: list[TruthEvent]
    dlp_total_mgycm: float
    font: str = "dejavu-mono"
    font_size: int = 16
    dark: bool = True
    noise: float = 0.0  # standard deviation of gaussian noise, in grey levels
    blur: float = 0.0
    jpeg: int | None = None  # JPEG quality, None for none
    photometric: str = "MONOCHROME2"  # MONOCHROME1 | MONOCHROME2 | RGB
    ct_image: bool = False  # CT Image Storage "SCREEN SAVE" instead of Secondary Capture
    lines: list[str] = field(default_factory=list)


# -- values ----------------------------------------------------------------------------------------

_BODY = [("Chest", 6, 14), ("Abdomen", 8, 18), ("ChestAbdPelvis", 7, 16), ("Pelvis", 8, 15), ("CTPA", 5, 12)]
_HEAD = [("Head", 35, 65), ("Sinus", 8, 20), ("Brain", 40, 60)]


def random_screen(rng: random.Random, layout: str) -> Screen:
    head = rng.random() < 0.3
    region, low, high = rng.choice(_HEAD if head else _BODY)
    phantom = "head16" if head else "body32"
    events: list[TruthEvent] = []
    for _ in range(rng.choice([1, 1, 2])):
        events.append(TruthEvent("Scout", "scout", None, None, None))
    for _ in range(rng.choice([1, 1, 2, 3, 4])):
        ctdivol = round(rng.uniform(low, high) * rng.choice([1, 1, 1, 1.6]), 2)
        length = round(rng.uniform(120 if head else 200, 200 if head else 650) / 0.625) * 0.625
        overrange = rng.uniform(1.0, 4.0)  # cm irradiated beyond the planned range
        dlp = ctdivol * (length / 10 + overrange)
        events.append(TruthEvent(region, rng.choice(["helical", "helical", "axial"]), ctdivol, dlp, phantom, length))
    # Localizers of Siemens and Philips carry a small dose; GE leaves them blank.
    if layout != "ge-dose-report":
        for ev in events:
            if ev.kind == "scout":
                ev.ctdivol_mgy = round(rng.uniform(0.05, 0.6), 2)
                ev.dlp_mgycm = ev.ctdivol_mgy * rng.uniform(20, 60)
                ev.phantom = phantom
    decimals = _DECIMALS[layout]
    for ev in events:
        if ev.dlp_mgycm is not None:
            ev.dlp_mgycm = round(ev.dlp_mgycm, decimals)
    total = round(sum(ev.dlp_mgycm or 0 for ev in events), decimals)
    return Screen(layout=layout, events=events, dlp_total_mgycm=total)


_DECIMALS = {"ge-dose-report": 2, "siemens-patient-protocol": 1, "philips-dose-info": 1}


# -- text of each layout ---------------------------------------------------------------------------

def _ge_lines(screen: Screen, rng: random.Random) -> list[list[str]]:
    rows = [["Dose Report"], [f"Exam: {rng.randint(10000, 99999)}", "", f"{rng.choice(['CT CHEST', 'CT ABD', 'CT HEAD'])}"],
            [], ["Series", "Type", "Scan Range", "CTDIvol", "DLP", "Phantom"],
            ["", "", "(mm)", "(mGy)", "(mGy-cm)", "cm"]]
    position = 0.0
    for number, ev in enumerate(screen.events, start=1):
        if ev.kind == "scout":
            rows.append([str(number), "Scout", "-", "-", "-", "-"])
            continue
        start = rng.choice([10.0, 25.0, -40.0, 12.5]) + position
        end = start - (ev.length_mm or 0)
        position = end
        rows.append([str(number), ev.kind.capitalize(), f"{_ge_position(start)}-{_ge_position(end)}",
                     f"{ev.ctdivol_mgy:.2f}", f"{ev.dlp_mgycm:.2f}",
                     "Head 16" if ev.phantom == "head16" else "Body 32"])
    rows += [[], ["", "", "Total Exam DLP:", "", f"{screen.dlp_total_mgycm:.2f}"]]
    return rows


def _ge_position(mm: float) -> str:
    return f"{'S' if mm >= 0 else 'I'}{abs(mm):.3f}"


def _siemens_lines(screen: Screen, rng: random.Random) -> list[list[str]]:
    total_mas = rng.randint(800, 9000)
    rows = [["Patient Protocol"], [f"Total mAs {total_mas}", "", "", f"Total DLP {screen.dlp_total_mgycm:.1f} mGycm"],
            [], ["", "Scan", "kV", "mAs / ref.", "CTDIvol*", "DLP", "TI", "cSL"],
            ["", "", "", "", "mGy", "mGycm", "s", "mm"], [f"Patient Position {rng.choice(['H-SP', 'F-SP'])}"]]
    for number, ev in enumerate(screen.events, start=1):
        letter = "S" if ev.phantom == "head16" else "L"
        if ev.kind == "scout":
            mas = f"{rng.randint(20, 60)} mA"
            label = "Topogram"
        else:
            ref = rng.choice([110, 150, 210, 250, 380])
            mas = f"{int(ref * rng.uniform(0.6, 1.1))} / {ref}"
            label = ev.label
        rows.append([label, str(number), str(rng.choice([80, 100, 120, 140])), mas,
                     f"{ev.ctdivol_mgy:.2f} {letter}", f"{ev.dlp_mgycm:.1f}",
                     f"{rng.choice([0.5, 1.0, 4.6, 5.7])}", f"{rng.choice([0.6, 1.0, 5.0])}"])
    rows += [[], ["* L = 32cm, S = 16cm"]]
    return rows


def _philips_lines(screen: Screen, rng: random.Random) -> list[list[str]]:
    rows = [["Dose Info"], [f"Exam: {rng.choice(['CHEST ROUTINE', 'ABDOMEN', 'BRAIN'])}"], []]
    for number, ev in enumerate(screen.events, start=1):
        kind = {"scout": "Surview", "helical": "Helical", "axial": "Axial"}[ev.kind]
        rows.append([f"Series {number}", kind, "" if ev.kind == "scout" else ev.label])
        phantom = "Head 16 cm" if ev.phantom == "head16" else "Body 32 cm"
        values = [f"CTDIvol: {ev.ctdivol_mgy:.2f} mGy", f"DLP: {ev.dlp_mgycm:.1f} mGy*cm", f"Phantom: {phantom}"]
        if ev.length_mm:
            values.append(f"Length: {ev.length_mm:.0f} mm")
        rows.append(["", *values])
    rows += [[], [f"Total DLP: {screen.dlp_total_mgycm:.1f} mGy*cm"]]
    return rows


_LINES = {"ge-dose-report": _ge_lines, "siemens-patient-protocol": _siemens_lines, "philips-dose-info": _philips_lines}
_COLUMN_CHARS = {
    "ge-dose-report": [7, 9, 20, 10, 11, 9],
    "siemens-patient-protocol": [16, 6, 5, 12, 10, 9, 6, 5],
    "philips-dose-info": [4, 28, 28, 26, 16],
}


# -- pixels ----------------------------------------------------------------------------------------

def render(screen: Screen, rng: random.Random) -> np.ndarray:
    """The screen as 8-bit pixels (rows, columns) or (rows, columns, 3) for RGB."""
    rows = _LINES[screen.layout](screen, rng)
    screen.lines = ["  ".join(cell for cell in row if cell) for row in rows]
    font = ImageFont.truetype(str(FONTS[screen.font]), screen.font_size)
    char = font.getlength("0")
    widths = [int(w * char) for w in _COLUMN_CHARS[screen.layout]]
    line_height = int(screen.font_size * 1.55)
    margin = int(2.5 * char)
    width = margin * 2 + sum(widths) + int(4 * char)
    height = margin * 2 + line_height * len(rows)
    background, ink = (0, 225) if screen.dark else (245, 20)
    image = Image.new("L", (width, height), background)
    draw = ImageDraw.Draw(image)
    for number, row in enumerate(rows):
        y = margin + number * line_height
        if len(row) == 1:
            draw.text((margin, y), row[0], font=font, fill=ink)
            continue
        x = margin
        for cell, cell_width in zip(row, widths, strict=False):
            draw.text((x, y), cell, font=font, fill=ink)
            x += max(cell_width, int(font.getlength(cell) + 2 * char))
    if screen.blur:
        image = image.filter(ImageFilter.GaussianBlur(screen.blur))
    pixels = np.asarray(image, dtype=np.float64)
    if screen.noise:
        pixels = pixels + np.random.default_rng(rng.randint(0, 2**31)).normal(0, screen.noise, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if screen.jpeg:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=screen.jpeg)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    pixels = np.asarray(image, dtype=np.uint8)
    if screen.photometric == "RGB":
        tint = np.array([1.0, 0.95, 0.8]) if screen.dark else np.array([1.0, 1.0, 1.0])
        return np.clip(pixels[:, :, None] * tint, 0, 255).astype(np.uint8)
    if screen.photometric == "MONOCHROME1":
        return 255 - pixels  # stored inverted: the viewer shows 0 as white
    return pixels


def to_dataset(screen: Screen, pixels: np.ndarray, rng: random.Random, *, device: dict | None = None) -> Dataset:
    manufacturer, model, description = _MANUFACTURER[screen.layout]
    device = {"Manufacturer": manufacturer, "ManufacturerModelName": model, "StationName": f"CT{rng.randint(1, 9)}",
              **(device or {})}
    sop_class = CT_IMAGE if screen.ct_image else SECONDARY_CAPTURE
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT" if screen.ct_image or rng.random() < 0.7 else "OT"
    ds.StudyDate = f"2024{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    ds.StudyTime = f"{rng.randint(7, 18):02d}{rng.randint(0, 59):02d}00"
    ds.AccessionNumber = f"ACC{rng.randint(100000, 999999)}"
    ds.PatientID = f"P{rng.randint(100000, 999999)}"
    ds.PatientName = "Test^Screen"
    ds.PatientSex = rng.choice(["M", "F"])
    ds.StudyDescription = rng.choice(["CT Chest", "CT Abdomen", "CT Head"])
    ds.SeriesDescription = description
    ds.SeriesNumber = 999
    ds.InstanceNumber = 1
    for name, value in device.items():
        setattr(ds, name, value)
    ds.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"] if screen.ct_image else ["DERIVED", "SECONDARY"]
    if not screen.ct_image:
        ds.ConversionType = "WSD"
    ds.Rows, ds.Columns = pixels.shape[:2]
    if pixels.ndim == 3:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = screen.photometric
    if screen.ct_image:
        # CT images are 16-bit with a rescale to Hounsfield units.
        pixels = pixels.astype(np.uint16) * 8
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 0, 2048
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    return ds


def dataset_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@dataclass
class Generated:
    screen: Screen
    dataset: Dataset

    @property
    def data(self) -> bytes:
        return dataset_bytes(self.dataset)


# Degradations of screens as consoles send them (rendered, perhaps JPEG-compressed,
# perhaps scaled), and harsh ones beyond that, where OCR may fail but must say so.
REALISTIC = {"noise": [0.0, 0.0, 3.0, 6.0, 10.0], "blur": [0.0, 0.0, 0.4], "jpeg": [None, None, 85, 65]}
HARSH = {"noise": [16.0, 25.0, 35.0], "blur": [0.0, 0.8, 1.0], "jpeg": [None, 40, 25]}


def generate(count: int, *, seed: int = 3, degradation: dict | None = None) -> list[Generated]:
    """`count` screens cycling through the layouts, fonts, backgrounds and degradations."""
    degradation = degradation or REALISTIC
    rng = random.Random(seed)
    fonts = list(FONTS)
    out = []
    for number in range(count):
        layout = LAYOUTS[number % len(LAYOUTS)]
        screen = random_screen(rng, layout)
        screen.font = fonts[(number // len(LAYOUTS)) % len(fonts)]
        screen.font_size = rng.choice([14, 16, 18, 20])
        screen.dark = rng.random() < 0.6
        screen.noise = rng.choice(degradation["noise"])
        screen.blur = rng.choice(degradation["blur"])
        screen.jpeg = rng.choice(degradation["jpeg"])
        screen.photometric = rng.choice(["MONOCHROME2", "MONOCHROME2", "MONOCHROME1", "RGB"])
        screen.ct_image = number % 17 == 5
        if screen.ct_image:
            screen.photometric = "MONOCHROME2"
        out.append(Generated(screen, to_dataset(screen, render(screen, rng), rng)))
    return out


def one(layout: str = "ge-dose-report", *, seed: int = 1, device: dict | None = None, **looks) -> Generated:
    """One clean screen of a layout (looks: font, font_size, dark, noise, ...)."""
    rng = random.Random(seed)
    screen = random_screen(rng, layout)
    for name, value in looks.items():
        setattr(screen, name, value)
    return Generated(screen, to_dataset(screen, render(screen, rng), rng, device=device))


@dataclass
class Score:
    fields: int = 0  # CTDIvol, DLP and total DLP values the screens show
    right: int = 0  # read exactly as shown
    wrong_flagged: int = 0  # wrong (or missing) and in review: a person will look
    wrong_unflagged: list[str] = field(default_factory=list)  # wrong and taken as certain: must stay empty

    def add(self, other: Score) -> None:
        self.fields += other.fields
        self.right += other.right
        self.wrong_flagged += other.wrong_flagged
        self.wrong_unflagged += other.wrong_unflagged

    @property
    def accuracy(self) -> float:
        return self.right / self.fields if self.fields else 0.0


def score(screen: Screen, record) -> Score:
    """Compare a record read from the screen with what the screen shows, field by field, row by row."""
    result = Score()

    def compare(where: str, shown: float | None, read: float | None, reviewed: bool) -> None:
        if shown is None and read is None:
            return
        if shown is not None:
            result.fields += 1
        if shown is not None and read is not None and abs(shown - read) < 1e-6:
            result.right += 1
        elif reviewed or read is None:
            # A value not read at all is never stored as certain; its row or the total is in review.
            result.wrong_flagged += 1
        else:
            result.wrong_unflagged.append(f"{where}: shown {shown}, read {read}")

    events = record.events
    for number in range(max(len(screen.events), len(events))):
        truth = screen.events[number] if number < len(screen.events) else TruthEvent("", "", None, None, None)
        event = events[number] if number < len(events) else None
        for name in ("ctdivol_mgy", "dlp_mgycm"):
            read = getattr(event, name) if event else None
            compare(f"row {number + 1} {name}", getattr(truth, name), read, bool(event and name in event.review))
    totals = record.ct_totals
    compare("total", screen.dlp_total_mgycm, totals.dlp_total_mgycm if totals else None,
            bool(totals and "dlp_total_mgycm" in totals.review))
    return result
