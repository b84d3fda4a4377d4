"""Tesseract's words, grouped into the lines of the screen, each with its confidence."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import pytesseract
from PIL import Image

# Tesseract's OpenMP threads fight when several screens are read at once (a
# worker's pool, the tests): one thread each was 4x faster on two cores.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# psm 6: one uniform block of text, so a table row comes back as one line.
TESSERACT_CONFIG = "--psm 6"


@dataclass
class Word:
    text: str
    confidence: float  # 0..1, tesseract's own
    start: int = 0  # offset in the line's text


@dataclass
class Line:
    words: list[Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def confidence_of(self, start: int, end: int) -> float:
        """The lowest confidence of the words that the span [start, end) touches."""
        touched = [w.confidence for w in self.words if w.start < end and w.start + len(w.text) > start]
        return min(touched, default=0.0)


def read_lines(image: Image.Image) -> list[Line]:
    data = pytesseract.image_to_data(image, config=TESSERACT_CONFIG, output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], Line] = {}
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        if not text:
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        line = lines.setdefault(key, Line())
        offset = len(line.text) + (1 if line.words else 0)
        line.words.append(Word(text=text, confidence=max(0.0, float(data["conf"][i])) / 100.0, start=offset))
    return [lines[key] for key in sorted(lines)]


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
