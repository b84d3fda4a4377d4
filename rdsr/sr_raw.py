"""A fast reader for the raw bytes of an SR content sequence.

pydicom builds a full Dataset for every nested item, which costs most of the
parse time of a dose report (hundreds of items, each with four or five
sequences). SR content uses a handful of elements, so we read the sequence's
bytes ourselves into plain dicts {tag: bytes | list[dict]} and decode only the
values we use. Little endian only (explicit or implicit VR); the caller falls
back to pydicom for anything else or for anything this reader rejects.
"""

from __future__ import annotations

from struct import Struct

ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF

# Explicit VRs whose length takes 4 bytes (after two reserved bytes).
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})

# Sequences an SR item may hold: needed to descend in implicit VR, where no VR says so.
SEQUENCE_TAGS = frozenset({
    0x0040A730,  # Content Sequence
    0x0040A043,  # Concept Name Code Sequence
    0x0040A168,  # Concept Code Sequence
    0x0040A300,  # Measured Value Sequence
    0x004008EA,  # Measurement Units Code Sequence
    0x0040A504,  # Content Template Sequence
    0x00081199,  # Referenced SOP Sequence
    0x0040A301,  # Numeric Value Qualifier Code Sequence
})

_U16 = Struct("<H")
_U32 = Struct("<I")
_TAG = Struct("<HH")
_IMPLICIT_HEADER = Struct("<HHI")
_EXPLICIT_HEADER = Struct("<HH2sH")

RawItem = dict[int, "bytes | list[RawItem]"]


class RawSequenceError(ValueError):
    """The bytes are not a well-formed little-endian sequence."""


def read_sequence(data: bytes, *, implicit: bool) -> list[RawItem]:
    """The items of a sequence value of defined length."""
    items, _ = _sequence(data, 0, len(data), implicit, 0)
    return items


def read_undefined_length_sequence(data: bytes, start: int, *, implicit: bool) -> tuple[list[RawItem], int]:
    """The items of an undefined-length sequence whose value starts at `start`, and where it ends.

    The end is the offset of the Sequence Delimitation Item; the bytes after it
    (8 more) continue the enclosing dataset.
    """
    items, pos = _sequence(data, start, len(data), implicit, 0, delimited=True)
    return items, pos - 8


def _sequence(data: bytes, pos: int, end: int, implicit: bool, depth: int, *,
              delimited: bool = False) -> tuple[list[RawItem], int]:
    if depth > 64:
        raise RawSequenceError("nesting deeper than 64 levels")
    items: list[RawItem] = []
    while pos + 8 <= end:
        group, element = _TAG.unpack_from(data, pos)
        tag = group << 16 | element
        length = _U32.unpack_from(data, pos + 4)[0]
        pos += 8
        if tag == SEQUENCE_END:
            return items, pos
        if tag != ITEM:
            raise RawSequenceError(f"expected an item at byte {pos - 8}, found tag {tag:08X}")
        if length == UNDEFINED:
            item, pos = _item(data, pos, end, implicit, depth, delimited=True)
        else:
            if pos + length > end:
                raise RawSequenceError("item runs past the end of its sequence")
            item, _ = _item(data, pos, pos + length, implicit, depth, delimited=False)
            pos += length
        items.append(item)
    if delimited:
        raise RawSequenceError("undefined-length sequence without its delimiter (truncated?)")
    if pos != end:
        raise RawSequenceError("sequence ends inside an item header")
    return items, pos


def _item(data: bytes, pos: int, end: int, implicit: bool, depth: int, *, delimited: bool) -> tuple[RawItem, int]:
    item: RawItem = {}
    header = _IMPLICIT_HEADER.unpack_from
    explicit_header = _EXPLICIT_HEADER.unpack_from
    while pos < end:
        if pos + 8 > end:
            raise RawSequenceError("element header cut short")
        if implicit:
            group, element, length = header(data, pos)
            vr = b""
            pos += 8
        else:
            group, element, vr, length = explicit_header(data, pos)
            if group == 0xFFFE:
                length = _U32.unpack_from(data, pos + 4)[0]
                vr = b""
                pos += 8
            elif vr in _LONG_VRS:
                if pos + 12 > end:
                    raise RawSequenceError("element header cut short")
                length = _U32.unpack_from(data, pos + 8)[0]
                pos += 12
            else:
                pos += 8
        tag = group << 16 | element
        if tag == ITEM_END:
            return item, pos
        if vr == b"SQ" or (implicit and (tag in SEQUENCE_TAGS or length == UNDEFINED)):
            if length == UNDEFINED:
                value, pos = _sequence(data, pos, end, implicit, depth + 1, delimited=True)
            else:
                if pos + length > end:
                    raise RawSequenceError(f"sequence {tag:08X} runs past the end of its item")
                value, _ = _sequence(data, pos, pos + length, implicit, depth + 1)
                pos += length
            item[tag] = value
            continue
        if length == UNDEFINED:
            raise RawSequenceError(f"undefined length for non-sequence element {tag:08X}")
        if pos + length > end:
            raise RawSequenceError(f"element {tag:08X} runs past the end of its item")
        item[tag] = data[pos:pos + length]
        pos += length
    if delimited:
        raise RawSequenceError("item without its delimiter")
    return item, pos
