"""Tesseract's words, grouped into the lines of the screen, each with its confidence."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import pytesseract
from PIL import Image

from rdsr.ocr.image import binarised

# Tesseract's OpenMP threads fight when several screens are read at once (a
# worker's pool, the tests): one thread each was 4x faster on two cores.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# psm 6: one uniform block of text, so a table row comes back as one line.
TESSERACT_CONFIG = "--psm 6"
# Cells read again alone: digits and the decimal point only, one cell per line.
CELL_CONFIG = "--psm 6 -c tessedit_char_whitelist=0123456789."
_CELL_HEIGHT = 40  # px: the height each cell's words are scaled to
_CELL_GAP = 24  # px of white between the cells stacked on one sheet


@dataclass
class Word:
    text: str
    confidence: float  # 0..1, tesseract's own
    start: int = 0  # offset in the line's text
    box: tuple[int, int, int, int] | None = None  # left, top, right, bottom in the image read


@dataclass
class Line:
    words: list[Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def confidence_of(self, start: int, end: int) -> float:
        """The lowest confidence of the words that the span [start, end) touches."""
        touched = [w.confidence for w in self.touching(start, end)]
        return min(touched, default=0.0)

    def touching(self, start: int, end: int) -> list[Word]:
        return [w for w in self.words if w.start < end and w.start + len(w.text) > start]

    def box_of(self, start: int, end: int) -> tuple[int, int, int, int] | None:
        """The box around the words that the span [start, end) touches (None when not read from an image)."""
        boxes = [w.box for w in self.touching(start, end)]
        if not boxes or any(b is None for b in boxes):
            return None
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                max(b[3] for b in boxes))


def read_lines(image: Image.Image) -> list[Line]:
    data = pytesseract.image_to_data(image, config=TESSERACT_CONFIG, output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], Line] = {}
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        if not text:
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        left, top = int(data["left"][i]), int(data["top"][i])
        box = (left, top, left + int(data["width"][i]), top + int(data["height"][i]))
        lines.setdefault(key, Line()).words.append(
            Word(text=text, confidence=max(0.0, float(data["conf"][i])) / 100.0, box=box))
    return [_joined(lines[key]) for key in sorted(lines)]


def _joined(line: Line) -> Line:
    """The line with numbers that tesseract split at the decimal point ("546 . 08", "398 .85") made whole again."""
    words: list[Word] = []
    dangling = False  # the last word ends with a point that was a word of its own
    for word in line.words:
        previous = words[-1] if words else None
        if previous is not None and re.search(r"\d$", previous.text) and re.fullmatch(r"\.\d*\W?", word.text):
            words[-1] = _merged(previous, word)
            dangling = word.text == "."
            continue
        if previous is not None and dangling and re.fullmatch(r"\d+\W?", word.text):
            words[-1] = _merged(previous, word)
            dangling = False
            continue
        dangling = False
        words.append(word)
    offset = 0
    for word in words:
        word.start = offset
        offset += len(word.text) + 1
    return Line(words=words)


def _merged(a: Word, b: Word) -> Word:
    box = None
    if a.box and b.box:
        box = (min(a.box[0], b.box[0]), min(a.box[1], b.box[1]), max(a.box[2], b.box[2]), max(a.box[3], b.box[3]))
    return Word(text=a.text + b.text, confidence=min(a.confidence, b.confidence), box=box)


def line_from_text(text: str, confidence: float = 1.0) -> Line:
    """A line as if read with the given confidence (for parsing text without an image)."""
    line = Line()
    for match in re.finditer(r"\S+", text):
        line.words.append(Word(text=match.group(), confidence=confidence))
    offset = 0
    for word in line.words:
        word.start = offset
        offset += len(word.text) + 1
    return line


def read_cells(image: Image.Image, boxes: list[tuple[int, int, int, int]]) -> list[tuple[str, float] | None]:
    """The text of each box read again alone, with its confidence (None: nothing read).

    Each box is cropped with a margin from the (grey) image, scaled to one
    height, binarised on its own (Otsu), and all are stacked on one sheet that
    tesseract reads in one call with digits and point only: a second reading
    that does not see the row's other words.
    """
    crops = []
    for left, top, right, bottom in boxes:
        margin = max(3, (bottom - top) // 3)
        crop = image.crop((max(0, left - margin), max(0, top - margin), min(image.width, right + margin),
                           min(image.height, bottom + margin)))
        scale = _CELL_HEIGHT / max(1, bottom - top)
        crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))),
                           Image.Resampling.LANCZOS)
        crops.append(binarised(crop))
    if not crops:
        return []
    sheet = Image.new("L", (max(c.width for c in crops) + 2 * _CELL_GAP,
                            sum(c.height + _CELL_GAP for c in crops) + _CELL_GAP), 255)
    bands = []
    y = _CELL_GAP
    for crop in crops:
        sheet.paste(crop, (_CELL_GAP, y))
        bands.append((y - _CELL_GAP / 2, y + crop.height + _CELL_GAP / 2))
        y += crop.height + _CELL_GAP
    data = pytesseract.image_to_data(sheet, config=CELL_CONFIG, output_type=pytesseract.Output.DICT)
    found: list[list[tuple[int, str, float]]] = [[] for _ in crops]
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        if not text:
            continue
        centre = data["top"][i] + data["height"][i] / 2
        for number, (low, high) in enumerate(bands):
            if low <= centre < high:
                found[number].append((data["left"][i], text, max(0.0, float(data["conf"][i])) / 100.0))
                break
    return [("".join(text for _, text, _ in sorted(words)), min(c for _, _, c in words)) if words else None
            for words in found]
