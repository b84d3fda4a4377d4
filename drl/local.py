"""Local DRLs and typical values from our own data: pure arithmetic, no database.

ICRP 135 (DOMAIN.md §7): for each procedure and room, the median of the DRL
quantity over patients; a DRL is the 75th percentile of those room medians and
a typical value their median. A room with fewer exams than the minimum sample
size is left out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks.

    The same definition as numpy's default and spreadsheets' PERCENTILE.INC.
    """
    data = sorted(values)
    if not data:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    position = (len(data) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


@dataclass(frozen=True)
class LocalDrl:
    drl: float  # 75th percentile of room medians
    typical: float  # median of room medians
    rooms: int  # rooms that counted
    exams: int  # exams (or sequences, views) in those rooms
    room_medians: dict[object, float]


def local_drl(values_by_room: Mapping[object, Iterable[float]], *, min_per_room: int) -> LocalDrl | None:
    """The local DRL and typical value, or None when no room has enough values."""
    medians: dict[object, float] = {}
    exams = 0
    for room, values in values_by_room.items():
        data = [v for v in values if v is not None and math.isfinite(v)]
        if len(data) < max(min_per_room, 1):
            continue
        medians[room] = statistics.median(data)
        exams += len(data)
    if not medians:
        return None
    spread = list(medians.values())
    return LocalDrl(
        drl=percentile(spread, 75),
        typical=statistics.median(spread),
        rooms=len(medians),
        exams=exams,
        room_medians=medians,
    )
