"""Layouts of bitmap CT dose screens: which line is an event row, which is the total.

A template turns the lines tesseract read into rows of readings; it knows the
layout (column order, how a localizer row looks, how many decimals each value
is drawn with), not the image. The registry `TEMPLATES` is what Device.ocr_template
names; a blank choice tries every template and keeps the best reading.

Adding a layout: subclass `Template`, set `name` (stable, stored per device),
`title`, `markers` (words the screen shows) and `decimals` (per field, the
numbers of decimals the console draws: a value read with other decimals lost
or gained a digit or its point), implement `parse(lines)` returning a
`ScreenTable`, and add an instance to `TEMPLATES`. Test it with a layout in
tests/ocr/screens.py rendered in several fonts and noise levels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rdsr.ocr.words import Line

LOCALIZER = "Constant Angle Acquisition"
SPIRAL = "Spiral Acquisition"
SEQUENCED = "Sequenced Acquisition"
STATIONARY = "Stationary Acquisition"

# OCR's usual confusions between letters and digits inside a number.
_DIGIT_FIXES = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "|": "1", "i": "1",
                              "S": "5", "s": "5", "B": "8", "Z": "2", "z": "2", "G": "6", "b": "6", "@": "0"})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass
class Reading:
    """One value as read: the text, the number, tesseract's confidence and any doubt about it."""

    text: str
    value: float | None
    confidence: float
    doubts: list[str] = field(default_factory=list)
    # Where the value stands in the image read (left, top, right, bottom), for a second look at it alone.
    box: tuple[int, int, int, int] | None = None
    decimals: set[int] | None = None  # the decimals the layout draws it with
    second_look: bool = False  # taken from the cell read alone, in place of what its row gave


@dataclass
class ScreenRow:
    line: str
    label: str | None = None
    event_type: str | None = None
    phantom: str | None = None  # head16 | body32
    values: dict[str, Reading] = field(default_factory=dict)  # ctdivol_mgy, dlp_mgycm
    scanning_length_mm: float | None = None
    kvp: float | None = None
    # A localizer whose dose the console leaves blank ("-"): no value expected.
    blank: bool = False


@dataclass
class ScreenTable:
    template: str
    rows: list[ScreenRow] = field(default_factory=list)
    total: Reading | None = None
    not_understood: list[str] = field(default_factory=list)


def read_number(text: str, confidence: float, *, decimals: set[int] | None = None) -> Reading:
    """A number as drawn; letters OCR mistakes for digits are mended but make the value doubtful."""
    # A number split by a stray space ("1444 .43") is one number.
    raw = "".join(text.split()).rstrip(".,:;*'\"")
    cleaned = raw.replace(",", ".")
    doubts: list[str] = []
    if not _NUMBER.fullmatch(cleaned):
        # A decimal point read as a colon ("93:31", "93:.31") or a degree sign
        # ("12°55") is the commonest slip.
        mended = re.sub(r"(?<=\d)[:;°]\.?(?=\d)", ".", cleaned).translate(_DIGIT_FIXES)
        if not _NUMBER.fullmatch(mended):
            return Reading(text=text, value=None, confidence=confidence, doubts=[f"'{text}' is not a number"],
                           decimals=decimals)
        doubts.append(f"'{text}' read as {mended}")
        cleaned = mended
    if decimals is not None:
        given = len(cleaned.split(".")[1]) if "." in cleaned else 0
        if given == 0 and len(decimals) == 1 and (drawn := next(iter(decimals))) and len(cleaned) > drawn:
            # The point was lost ("5403" for "54.03"): the layout says where it stands.
            cleaned = f"{cleaned[:-drawn]}.{cleaned[-drawn:]}"
            doubts.append(f"'{text}' has no decimal point, read as {cleaned}")
        elif given not in decimals:
            doubts.append(f"'{text}' has {given} decimals, the screen draws {'/'.join(map(str, sorted(decimals)))}")
    return Reading(text=text, value=float(cleaned), confidence=confidence, doubts=doubts, decimals=decimals)


def _phantom(text: str | None) -> str | None:
    word = (text or "").lower()
    if word.startswith(("head", "hea")) or word in ("s", "16") or "16" in word:
        return "head16"
    if word.startswith(("body", "bod")) or word in ("l", "32") or "32" in word:
        return "body32"
    return None


def _event_type(word: str | None) -> str | None:
    word = (word or "").lower()
    if word.startswith(("scout", "topo", "surv", "scano", "locali", "pilot")):
        return LOCALIZER
    if word.startswith(("helic", "spiral")):
        return SPIRAL
    if word.startswith(("axial", "seq")):
        return SEQUENCED
    if word.startswith(("cine", "stat", "perf")):
        return STATIONARY
    return None


def _reading(line: Line, match: re.Match, group: str, decimals: set[int]) -> Reading:
    start, end = match.span(group)
    reading = read_number(match.group(group), line.confidence_of(start, end), decimals=decimals)
    reading.box = line.box_of(start, end)
    return reading


class Template:
    name = ""
    title = ""
    markers: tuple[str, ...] = ()
    decimals: dict[str, set[int]] = {}

    def parse(self, lines: list[Line]) -> ScreenTable:
        raise NotImplementedError

    def marker_score(self, lines: list[Line]) -> int:
        text = " ".join(line.text for line in lines).lower()
        return sum(1 for marker in self.markers if marker.lower() in text)


class GeDoseReport(Template):
    """GE "Dose Report": Series, Type, Scan Range (mm), CTDIvol (mGy), DLP (mGy-cm), Phantom; Total Exam DLP."""

    name = "ge-dose-report"
    title = "GE Dose Report (series table, Total Exam DLP)"
    markers = ("Dose Report", "Total Exam DLP", "Scan Range", "mGy-cm")
    decimals = {"ctdivol_mgy": {2}, "dlp_mgycm": {2}, "dlp_total_mgycm": {2}}

    # "Total Exam DLP: 691.34", whatever OCR makes of the words.
    _total = re.compile(r"^\D.*?\s(?P<total>\d[\d.,: ]*)$")
    # Anchored at both ends: the scan range in the middle often comes back
    # split ("S25 .000-I496.875"), the values and phantom at the right do not.
    _row = re.compile(
        r"^(?P<series>\S{1,4})\s+(?P<type>[A-Za-z]\S*)\s+(?P<range>.+?)\s+(?P<ctdivol>\S+)\s+(?P<dlp>\S+)"
        r"\s+(?P<phantom>[A-Za-z]\S*(?:\s+\d\S*)?|-)$"
    )
    _scout = re.compile(r"^\S{1,4}\s+(?P<type>Sc\S*|Scout)\b(?P<rest>.*)$", re.IGNORECASE)
    _range = re.compile(r"^[S5$I1l|]?(?P<a>\d+[.,]\d+)-[S5$I1l|]?(?P<b>\d+[.,]\d+)$")

    def parse(self, lines: list[Line]) -> ScreenTable:
        table = ScreenTable(template=self.name)
        for line in lines:
            text = line.text
            lowered = text.lower()
            if ("xam" in lowered and re.search(r"t[o0]t|[do0]lp", lowered) and not lowered.startswith("exam:")
                    and (m := self._total.match(text))):
                table.total = _reading(line, m, "total", self.decimals["dlp_total_mgycm"])
                continue
            scout = self._scout.match(text)
            if scout and not re.search(r"\d+\.\d+", scout.group("rest")):
                table.rows.append(ScreenRow(line=text, label="Scout", event_type=LOCALIZER, blank=True))
                continue
            m = self._row.match(text)
            if m is None:
                if re.match(r"^\d{1,4}\s+[A-Za-z]", text):
                    table.not_understood.append(text)
                continue
            row = ScreenRow(line=text, label=m.group("type"), event_type=_event_type(m.group("type")),
                            phantom=_phantom(m.group("phantom")))
            row.values["ctdivol_mgy"] = _reading(line, m, "ctdivol", self.decimals["ctdivol_mgy"])
            row.values["dlp_mgycm"] = _reading(line, m, "dlp", self.decimals["dlp_mgycm"])
            if r := self._range.match(m.group("range").replace(" ", "")):
                # Table positions S (superior) and I (inferior); the letter is
                # often misread (I as 1), the length only needs the numbers' sum
                # or difference, so it is only a plausibility hint.
                a, b = float(r.group("a").replace(",", ".")), float(r.group("b").replace(",", "."))
                row.scanning_length_mm = _ge_length(m.group("range").replace(" ", ""), a, b)
            table.rows.append(row)
        return table


def _ge_length(text: str, a: float, b: float) -> float | None:
    first, _, second = text.partition("-")
    sign = {"S": 1, "5": 1, "$": 1, "I": -1, "1": -1, "l": -1, "|": -1}
    sa, sb = sign.get(first[:1]), sign.get(second[:1])
    if sa is None or sb is None:
        return None
    return abs(sa * a - sb * b)


class SiemensPatientProtocol(Template):
    """Siemens "Patient Protocol": Scan, kV, mAs / ref., CTDIvol* (L/S), DLP, TI, cSL; Total DLP in the head line."""

    name = "siemens-patient-protocol"
    title = "Siemens Patient Protocol (Scan kV mAs CTDIvol DLP TI cSL, Total DLP)"
    markers = ("Patient Protocol", "Total mAs", "cSL", "mGycm", "Topogram")
    decimals = {"ctdivol_mgy": {2}, "dlp_mgycm": {0, 1}, "dlp_total_mgycm": {0, 1}}

    _total = re.compile(r"T\S{3,5}\s+\S{2,3}\s+(?P<total>\S+)\s*m\S*$")
    # The scan number is often misread ("BS" for "1"); kV always has digits.
    _row_start = re.compile(
        r"^(?P<label>[A-Za-z][^\d\s]*(?:\s+[A-Za-z][^\d\s]*)?)\s+(?P<scan>\S{1,3})\s+(?P<kv>\d[\dOo]{1,2})\S{0,2}\s"
    )

    def parse(self, lines: list[Line]) -> ScreenTable:
        table = ScreenTable(template=self.name)
        for line in lines:
            text = line.text
            lowered = text.lower()
            if lowered.startswith("total") or " total" in lowered:
                if m := self._total.search(text):
                    table.total = _reading(line, m, "total", self.decimals["dlp_total_mgycm"])
                continue
            start = self._row_start.match(text)
            if start is None:
                continue
            row = self._row(line, start)
            if row is None:
                # Still a row: keep its place so the rows after it stay in order,
                # with no value (its values go to review as not found).
                table.not_understood.append(text)
                row = ScreenRow(line=text, label=start.group("label"), event_type=_event_type(start.group("label")))
            table.rows.append(row)
        return table

    # CTDIvol: a number drawn with two decimals, its phantom letter perhaps
    # stuck to it ("6.45L"); with the point lost ("5403S") only when the letter is there.
    _ctdivol = re.compile(r"(?P<number>[\dOo]+[.,:;°][\dOo]{2,3}|\d{3,4}(?=[LS]))"
                          r"(?P<letter>[LS])?\W?")
    # The phantom letter alone, as OCR draws it: "L", "S", "Lb", "LE", "L:", "5S", "8S".
    _letter = re.compile(r"\d?(?P<letter>[LS])\S{0,2}")

    def _row(self, line: Line, start: re.Match) -> ScreenRow | None:
        # CTDIvol is the first number with two decimals (the mAs column before
        # it has none: "35 mA", "95 / 110"), followed by the phantom letter (L:
        # 32 cm, S: 16 cm); DLP is the next number. TI/cSL after it are often
        # garbled. Without such a number, read from the right (cSL, TI, DLP, CTDIvol).
        words = line.words[len(start.group(0).split()):]
        ctdivol = dlp_word = None
        letter = None
        for i, word in enumerate(words):
            m = self._ctdivol.fullmatch(word.text)
            if m is None or not re.search(r"\d", m.group("number")):
                continue
            number, letter, rest = m.group("number"), m.group("letter"), words[i + 1:]
            ctdivol = read_number(number, word.confidence, decimals=self.decimals["ctdivol_mgy"])
            if letter is None and rest and (lm := self._letter.fullmatch(rest[0].text)):
                letter, rest = lm.group("letter"), rest[1:]
            elif letter is None and re.fullmatch(r"[\dOo]+[.,:;°][\dOo]{2}5", number):
                # The letter S read as a 5 stuck to the value ("45.645").
                ctdivol = read_number(number[:-1], word.confidence, decimals=self.decimals["ctdivol_mgy"])
                ctdivol.doubts.append(f"'{word.text}' read as {number[:-1]} S (phantom letter)")
                letter = "S"
            ctdivol.box = word.box
            if word.box and len(number) < len(word.text):
                # Only the number, not the letter stuck to it, for a second look.
                left, top, right, bottom = word.box
                ctdivol.box = (left, top, left + round((right - left) * len(number) / len(word.text)), bottom)
            dlp_word = _next_number(rest) if rest else None
            break
        if ctdivol is None:
            if len(words) < 5:
                return None
            ctdivol = read_number(words[-4].text, words[-4].confidence, decimals=self.decimals["ctdivol_mgy"])
            ctdivol.box = words[-4].box
            dlp_word = words[-3]
        label = start.group("label")
        row = ScreenRow(line=line.text, label=label, event_type=_event_type(label),
                        phantom={"L": "body32", "S": "head16"}.get(letter or ""),
                        kvp=read_number(start.group("kv"), 1.0).value)
        row.values["ctdivol_mgy"] = ctdivol
        if dlp_word is not None:
            row.values["dlp_mgycm"] = read_number(dlp_word.text, dlp_word.confidence,
                                                  decimals=self.decimals["dlp_mgycm"])
            row.values["dlp_mgycm"].box = dlp_word.box
        return row


def _next_number(words: list) -> object:
    # Skip a stray mark between the phantom letter and DLP ("L = 651.4").
    for word in words[:2]:
        if re.search(r"\d", word.text):
            return word
    return words[0]


class PhilipsDoseInfo(Template):
    """Philips-style "Dose Info" list: a "Series N <type> <label>" line, then CTDIvol:, DLP:, Phantom:, Length:."""

    name = "philips-dose-info"
    title = "Philips Dose Info (one block per series, Total DLP)"
    markers = ("Dose Info", "Series", "CTDIvol:", "Total DLP", "Surview")
    decimals = {"ctdivol_mgy": {2}, "dlp_mgycm": {1}, "dlp_total_mgycm": {1}}

    _head = re.compile(r"^S[a-z]{3,6}\s*(?P<series>\d\S{0,3})\.?\s+(?P<type>[A-Za-z]\S*)(?:\s+(?P<label>.+))?$")
    _ctdivol = re.compile(r"C\S{3,8}:\s*(?P<ctdivol>\S+)")
    _dlp = re.compile(r"\b\S{2,3}:\s*(?P<dlp>\S+)\s+mG\S*\*?cm")
    _phantom = re.compile(r"P\S{5,7}:?\s*(?P<phantom>\S+)")
    _length = re.compile(r"L\S{4,6}:?\s*(?P<length>\S+)\s+mm")
    _total = re.compile(r"^T\S{3,5}\s+\S{2,4}:?\s*(?P<total>\S+)")

    def parse(self, lines: list[Line]) -> ScreenTable:
        table = ScreenTable(template=self.name)
        current: ScreenRow | None = None
        for line in lines:
            text = line.text
            if (m := self._total.match(text)) and text.lower().startswith("to"):
                table.total = _reading(line, m, "total", self.decimals["dlp_total_mgycm"])
                current = None
                continue
            if m := self._head.match(text):
                label = m.group("label") or m.group("type")
                current = ScreenRow(line=text, label=label.strip(), event_type=_event_type(m.group("type")))
                table.rows.append(current)
                continue
            if current is None and not self._ctdivol.search(text):
                continue
            found = False
            if self._ctdivol.search(text) and (current is None or current.values):
                # Values for a series whose head line was not read: a row of its own.
                current = ScreenRow(line="(series line not read)")
                table.rows.append(current)
            if m := self._ctdivol.search(text):
                current.values["ctdivol_mgy"] = _reading(line, m, "ctdivol", self.decimals["ctdivol_mgy"])
                found = True
            if m := self._dlp.search(text):
                current.values["dlp_mgycm"] = _reading(line, m, "dlp", self.decimals["dlp_mgycm"])
                found = True
            if m := self._phantom.search(text):
                current.phantom = _phantom(m.group("phantom")) or _phantom(text[m.end():m.end() + 4])
            if m := self._length.search(text):
                length = read_number(m.group("length"), 1.0)
                current.scanning_length_mm = length.value if not length.doubts else None
            if found:
                current.line += " / " + text
            elif re.search(r"\d+\.\d+", text):
                table.not_understood.append(text)
        return table


TEMPLATES: dict[str, Template] = {t.name: t for t in (GeDoseReport(), SiemensPatientProtocol(), PhilipsDoseInfo())}


def template_choices() -> list[tuple[str, str]]:
    """(name, title) pairs for a form: blank means try every template."""
    return [("", "Automatic: try every template"), *((t.name, t.title) for t in TEMPLATES.values())]
