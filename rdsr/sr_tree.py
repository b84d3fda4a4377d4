"""A light, read-once view of an SR content tree.

`build_tree` walks the pydicom content items once and turns each into a small
`Node` (concept key, value type, value, unit, children). Everything after that
works on nodes, never on pydicom datasets again: the walk is the only place
that knows DICOM tags, and it never raises for a malformed item (the oddity is
kept on the node for the caller to report).
"""

from __future__ import annotations

from collections.abc import Iterator
from struct import unpack_from
from typing import Any

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from rdsr.codes import code_key
from rdsr.sr_raw import RawItem, RawSequenceError, read_sequence

# Tags, as ints: looked up once per item, so no keyword dictionary on the hot path.
CONTENT_SEQUENCE = 0x0040A730
CONCEPT_NAME_CODE_SEQUENCE = 0x0040A043
CONCEPT_CODE_SEQUENCE = 0x0040A168
VALUE_TYPE = 0x0040A040
RELATIONSHIP_TYPE = 0x0040A010
CODE_VALUE = 0x00080100
CODING_SCHEME_DESIGNATOR = 0x00080102
CODE_MEANING = 0x00080104
LONG_CODE_VALUE = 0x00080119
URN_CODE_VALUE = 0x00080120
TEXT_VALUE = 0x0040A160
UID = 0x0040A124
DATETIME = 0x0040A120
DATE = 0x0040A121
TIME = 0x0040A122
PERSON_NAME = 0x0040A123
MEASURED_VALUE_SEQUENCE = 0x0040A300
NUMERIC_VALUE = 0x0040A30A
FLOATING_POINT_VALUE = 0x0040A161
MEASUREMENT_UNITS_CODE_SEQUENCE = 0x004008EA
CONTENT_TEMPLATE_SEQUENCE = 0x0040A504
TEMPLATE_IDENTIFIER = 0x0040DB00

# Where the reader leaves content items it already read from raw bytes (rdsr.parse).
RAW_CONTENT_ATTRIBUTE = "_rdsr_raw_content"

MAX_DEPTH = 32  # deeper nesting than any template needs: a loop or a broken object


class Node:
    __slots__ = ("key", "meaning", "vt", "rel", "text", "code", "code_meaning", "code_scheme", "code_value", "numbers", "num_error",
                 "unit", "children")

    def __init__(self) -> None:
        self.key: str = ""
        self.meaning: str = ""
        self.vt: str = ""
        self.rel: str = ""
        self.text: str | None = None  # TEXT, UIDREF, DATETIME, DATE, TIME, PNAME
        self.code: str | None = None  # CODE: normalised key of the concept code
        self.code_meaning: str | None = None
        self.code_scheme: str | None = None  # CODE: as sent, before normalising
        self.code_value: str | None = None
        self.numbers: list[float] | None = None  # NUM: the measured value(s)
        self.num_error: str | None = None  # NUM: why no number could be read
        self.unit: str | None = None  # NUM: UCUM code value of the unit
        self.children: list[Node] = []

    def __repr__(self) -> str:
        return f"Node({self.key} {self.vt} {self.meaning!r})"

    @property
    def label(self) -> str:
        return f"{self.meaning or '?'} ({self.key})"

    def first(self, key: str) -> Node | None:
        for child in self.children:
            if child.key == key:
                return child
        return None

    def all(self, key: str) -> list[Node]:
        return [child for child in self.children if child.key == key]

    def walk(self) -> Iterator[Node]:
        """Every descendant, depth first, in document order."""
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def find(self, key: str) -> Node | None:
        """The first descendant with this concept, at any depth."""
        for node in self.walk():
            if node.key == key:
                return node
        return None

    def text_of(self, key: str) -> str | None:
        """Text of the first child with this concept; for a CODE its meaning."""
        node = self.first(key)
        return node.value_text if node is not None else None

    @property
    def coded(self) -> dict[str, str] | None:
        """A CODE value as sent: scheme, value and meaning."""
        if self.code is None:
            return None
        return {"scheme": self.code_scheme or "", "value": self.code_value or "", "meaning": self.code_meaning or ""}

    @property
    def value_text(self) -> str | None:
        if self.code_meaning is not None:
            return self.code_meaning
        return self.text


def _raw_str(ds: Dataset, tag: int) -> str | None:
    """The string of a short text element, read from the raw bytes when possible.

    Raw reading skips pydicom's value conversion (the slow part) and lets us
    see a malformed DS as the text it is instead of an exception.
    """
    elem = ds.get_item(tag)
    if elem is None:
        return None
    value = elem.value
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("latin-1").strip(" \x00")
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _decoded(ds: Dataset, tag: int) -> Any:
    """A value decoded by pydicom (character sets for LO/UT/PN)."""
    try:
        elem = ds.get(tag)
    except Exception:  # noqa: BLE001 - a broken element is an absent value here
        return None
    return None if elem is None else elem.value


def _sequence(ds: Dataset, tag: int) -> list[Dataset]:
    try:
        elem = ds.get(tag)
    except Exception:  # noqa: BLE001
        return []
    if elem is None or elem.value is None:
        return []
    value = elem.value
    if isinstance(value, str | bytes):
        return []
    try:
        return list(value)
    except TypeError:
        return []


def _code(item: Dataset) -> tuple[str, str, str, str]:
    value = _raw_str(item, CODE_VALUE) or _raw_str(item, LONG_CODE_VALUE) or _raw_str(item, URN_CODE_VALUE) or ""
    scheme = _raw_str(item, CODING_SCHEME_DESIGNATOR) or ""
    meaning = _decoded(item, CODE_MEANING)
    return code_key(scheme, value), (str(meaning).strip() if meaning is not None else ""), scheme, value


def _numbers(text: str) -> tuple[list[float] | None, str | None]:
    values: list[float] = []
    for part in text.split("\\"):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            return None, f"numeric value {text!r} is not a number"
    if not values:
        return None, "empty numeric value"
    return values, None


def _fill_num(node: Node, item: Dataset) -> None:
    measured = _sequence(item, MEASURED_VALUE_SEQUENCE)
    if not measured:
        node.num_error = "no measured value"
        return
    mv = measured[0]
    units = _sequence(mv, MEASUREMENT_UNITS_CODE_SEQUENCE)
    if units:
        node.unit = _raw_str(units[0], CODE_VALUE)
    text = _raw_str(mv, NUMERIC_VALUE)
    if text:
        node.numbers, node.num_error = _numbers(text)
    if node.numbers is None:
        fp = _decoded(mv, FLOATING_POINT_VALUE)
        if isinstance(fp, float | int):
            node.numbers, node.num_error = [float(fp)], None
        elif isinstance(fp, list | MultiValue) and fp:
            node.numbers, node.num_error = [float(v) for v in fp], None
        elif node.num_error is None:
            node.num_error = "no numeric value"


def _node(item: Dataset) -> Node:
    node = Node()
    names = _sequence(item, CONCEPT_NAME_CODE_SEQUENCE)
    if names:
        node.key, node.meaning, _, _ = _code(names[0])
    node.vt = (_raw_str(item, VALUE_TYPE) or "").upper()
    node.rel = (_raw_str(item, RELATIONSHIP_TYPE) or "").upper()
    vt = node.vt
    if vt == "NUM":
        _fill_num(node, item)
    elif vt == "CODE":
        codes = _sequence(item, CONCEPT_CODE_SEQUENCE)
        if codes:
            node.code, node.code_meaning, node.code_scheme, node.code_value = _code(codes[0])
    elif vt == "TEXT":
        value = _decoded(item, TEXT_VALUE)
        node.text = str(value).strip() if value is not None else None
    elif vt == "UIDREF":
        node.text = _raw_str(item, UID)
    elif vt == "DATETIME":
        node.text = _raw_str(item, DATETIME)
    elif vt == "DATE":
        node.text = _raw_str(item, DATE)
    elif vt == "TIME":
        node.text = _raw_str(item, TIME)
    elif vt == "PNAME":
        value = _decoded(item, PERSON_NAME)
        node.text = str(value).strip() if value is not None else None
    return node


def _children(ds: Dataset, depth: int, encodings: list[str]) -> list[Node]:
    if depth > MAX_DEPTH:
        return []
    ready = getattr(ds, RAW_CONTENT_ATTRIBUTE, None)
    if ready is not None:
        return _raw_children(ready, depth, encodings)
    raw = ds._dict.get(CONTENT_SEQUENCE)  # noqa: SLF001 - the undecoded element, to skip pydicom's slow path
    if isinstance(raw, RawDataElement) and raw.is_little_endian and isinstance(raw.value, bytes):
        try:
            items = read_sequence(raw.value, implicit=raw.is_implicit_VR)
        except RawSequenceError:
            items = None  # let pydicom try, and report what it finds
        if items is not None:
            return _raw_children(items, depth, encodings)
    nodes = []
    for item in _sequence(ds, CONTENT_SEQUENCE):
        if not isinstance(item, Dataset):
            continue
        node = _node(item)
        node.children = _children(item, depth + 1, encodings)
        nodes.append(node)
    return nodes


# --- the same nodes from raw items (rdsr.sr_raw) --------------------------------------

def _raw_text(value: Any, encodings: list[str]) -> str | None:
    if not isinstance(value, bytes):
        return None
    text = value.decode("ascii") if value.isascii() else decode_bytes(value, encodings, set())
    return text.strip(" \x00")


def _raw_name(value: Any, encodings: list[str]) -> str | None:
    if not isinstance(value, bytes):
        return None
    if value.isascii():
        return value.decode("ascii").strip(" \x00")
    return str(PersonName(value.rstrip(b" \x00"), encodings)).strip()


def _raw_first(item: RawItem, tag: int) -> RawItem | None:
    value = item.get(tag)
    return value[0] if isinstance(value, list) and value else None


def _raw_code(item: RawItem, encodings: list[str]) -> tuple[str, str, str, str]:
    value = (_raw_text(item.get(CODE_VALUE), encodings) or _raw_text(item.get(LONG_CODE_VALUE), encodings)
             or _raw_text(item.get(URN_CODE_VALUE), encodings) or "")
    scheme = _raw_text(item.get(CODING_SCHEME_DESIGNATOR), encodings) or ""
    meaning = _raw_text(item.get(CODE_MEANING), encodings) or ""
    return code_key(scheme, value), meaning, scheme, value


def _raw_num(node: Node, item: RawItem, encodings: list[str]) -> None:
    measured = _raw_first(item, MEASURED_VALUE_SEQUENCE)
    if measured is None:
        node.num_error = "no measured value"
        return
    units = _raw_first(measured, MEASUREMENT_UNITS_CODE_SEQUENCE)
    if units is not None:
        node.unit = _raw_text(units.get(CODE_VALUE), encodings)
    text = _raw_text(measured.get(NUMERIC_VALUE), encodings)
    if text:
        node.numbers, node.num_error = _numbers(text)
    if node.numbers is None:
        fp = measured.get(FLOATING_POINT_VALUE)
        if isinstance(fp, bytes) and fp and len(fp) % 8 == 0:
            node.numbers, node.num_error = list(unpack_from(f"<{len(fp) // 8}d", fp)), None
        elif node.num_error is None:
            node.num_error = "no numeric value"


def _raw_node(item: RawItem, encodings: list[str]) -> Node:
    node = Node()
    name = _raw_first(item, CONCEPT_NAME_CODE_SEQUENCE)
    if name is not None:
        node.key, node.meaning, _, _ = _raw_code(name, encodings)
    node.vt = (_raw_text(item.get(VALUE_TYPE), encodings) or "").upper()
    node.rel = (_raw_text(item.get(RELATIONSHIP_TYPE), encodings) or "").upper()
    vt = node.vt
    if vt == "NUM":
        _raw_num(node, item, encodings)
    elif vt == "CODE":
        concept = _raw_first(item, CONCEPT_CODE_SEQUENCE)
        if concept is not None:
            node.code, node.code_meaning, node.code_scheme, node.code_value = _raw_code(concept, encodings)
    elif vt == "PNAME":
        node.text = _raw_name(item.get(PERSON_NAME), encodings)
    elif vt in _TEXT_TAGS:
        node.text = _raw_text(item.get(_TEXT_TAGS[vt]), encodings)
    return node


_TEXT_TAGS = {"TEXT": TEXT_VALUE, "UIDREF": UID, "DATETIME": DATETIME, "DATE": DATE, "TIME": TIME}


def _raw_children(items: list[RawItem], depth: int, encodings: list[str]) -> list[Node]:
    if depth > MAX_DEPTH:
        return []
    nodes = []
    for item in items:
        node = _raw_node(item, encodings)
        children = item.get(CONTENT_SEQUENCE)
        if isinstance(children, list) and children:
            node.children = _raw_children(children, depth + 1, encodings)
        nodes.append(node)
    return nodes


def build_tree(ds: Dataset) -> Node:
    """The document root (the dataset itself is the root content item)."""
    root = _node(ds)
    root.vt = root.vt or "CONTAINER"
    try:
        encodings = convert_encodings(ds.get("SpecificCharacterSet"))
    except Exception:  # noqa: BLE001 - an unknown character set: read as the default
        encodings = convert_encodings(None)
    root.children = _children(ds, 1, encodings)
    return root


def template_identifier(ds: Dataset) -> str | None:
    templates = _sequence(ds, CONTENT_TEMPLATE_SEQUENCE)
    return _raw_str(templates[0], TEMPLATE_IDENTIFIER) if templates else None
