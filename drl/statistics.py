"""Dose statistics on plain values and DataFrames: no database.

Definitions (stated on the statistics page too):
- percentiles by linear interpolation between closest ranks (numpy's default,
  PostgreSQL's ``percentile_cont``, spreadsheets' PERCENTILE.INC): the q-th
  percentile of sorted x[0..n-1] is x[k] + (x[k+1] - x[k]) * f where
  (n - 1) * q / 100 = k + f; the median is the 50th percentile;
- standard deviation: the sample standard deviation (n - 1 in the
  denominator), none for fewer than two values;
- a room median is compared with a DRL only when it rests on at least the
  minimum sample size (default 20, DOMAIN.md §7);
- standard-sized adults: weight 50–90 kg (both included); a study of unknown
  weight is kept, since leaving it out would empty most rooms.
"""

from __future__ import annotations

import math
import statistics as _stats
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import pandas as pd

from .local import percentile

__all__ = [
    "MIN_SAMPLE_DEFAULT",
    "STANDARD_WEIGHT_KG",
    "Summary",
    "age_band",
    "compliance",
    "percentile",
    "ratio",
    "ratio_class",
    "size_band",
    "summarise",
    "summary_frame",
    "technique_changes",
    "viewer_url",
]

MIN_SAMPLE_DEFAULT = 20
STANDARD_WEIGHT_KG = (50.0, 90.0)
SUMMARY_COLUMNS = ["n", "median", "mean", "min", "max", "sd", "p75"]

# Bands of the list filters: key -> (label, lower bound included, upper bound excluded).
AGE_BANDS = {
    "0-1": ("under 1 year", 0.0, 1.0),
    "1-5": ("1–4 years", 1.0, 5.0),
    "5-10": ("5–9 years", 5.0, 10.0),
    "10-16": ("10–15 years", 10.0, 16.0),
    "16-18": ("16–17 years", 16.0, 18.0),
    "18-": ("adult (18 years and over)", 18.0, math.inf),
}
SIZE_BANDS = {
    "-50": ("under 50 kg", 0.0, 50.0),
    "50-90": ("standard size, 50–90 kg", 50.0, 90.0),
    "90-": ("over 90 kg", 90.0, math.inf),
    "unknown": ("weight unknown", None, None),
}


@dataclass(frozen=True)
class Summary:
    n: int
    median: float | None
    mean: float | None
    min: float | None
    max: float | None
    sd: float | None
    p75: float | None

    def enough(self, min_n: int) -> bool:
        return self.n >= min_n


def _clean(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def summarise(values: Iterable[float | None]) -> Summary:
    """Number, median, mean, minimum, maximum, sample SD and 75th percentile of the values."""
    data = _clean(values)
    if not data:
        return Summary(0, None, None, None, None, None, None)
    return Summary(
        n=len(data),
        median=percentile(data, 50),
        mean=_stats.fmean(data),
        min=min(data),
        max=max(data),
        sd=_stats.stdev(data) if len(data) > 1 else None,
        p75=percentile(data, 75),
    )


def summary_frame(samples: pd.DataFrame, keys: Sequence[str], value: str = "value") -> pd.DataFrame:
    """One row per group of ``keys`` with SUMMARY_COLUMNS (pandas: same definitions as summarise)."""
    data = samples[list(keys) + [value]].dropna(subset=[value])
    if data.empty:
        return pd.DataFrame(columns=list(keys) + SUMMARY_COLUMNS)
    grouped = data.groupby(list(keys), sort=True, dropna=False)[value]
    out = grouped.agg(
        n="count",
        median="median",
        mean="mean",
        min="min",
        max="max",
        sd=lambda s: s.std(ddof=1),
        p75=lambda s: s.quantile(0.75, interpolation="linear"),
    ).reset_index()
    return out.astype(object).where(out.notna(), None)


def ratio(median: float | None, drl: float | None) -> float | None:
    """Room median over DRL (None without either, or with a DRL of 0)."""
    if median is None or not drl:
        return None
    return median / drl


def compliance(median: float | None, drl: float | None, *, n: int, min_n: int) -> str:
    """'below' / 'above' the DRL, 'few' when the sample is too small, '' without a DRL or median."""
    r = ratio(median, drl)
    if r is None:
        return ""
    if n < min_n:
        return "few"
    return "above" if r > 1 else "below"


def ratio_class(r: float | None) -> str:
    """CSS class of a median/DRL ratio: under 0.8, up to 1, above 1, above 2."""
    if r is None:
        return "r-none"
    if r > 2:
        return "r-2"
    if r > 1:
        return "r-1"
    if r > 0.8:
        return "r-08"
    return "r-0"


def _band(bands: dict, value: float | None) -> str:
    for key, (_label, low, high) in bands.items():
        if low is None:
            if value is None:
                return key
        elif value is not None and low <= value < high:
            return key
    return ""


def age_band(age_years: float | None) -> str:
    return _band(AGE_BANDS, age_years)


def size_band(weight_kg: float | None) -> str:
    """Bands of the size filter; 90 kg itself counts as standard size (50–90 kg inclusive)."""
    if weight_kg is not None and weight_kg == STANDARD_WEIGHT_KG[1]:
        return "50-90"
    return _band(SIZE_BANDS, weight_kg)


def technique_changes(
    monthly: Sequence[tuple[object, float | None]], *, tolerance: float = 0.5
) -> list[tuple[object, float, float]]:
    """(month, before, after) where a technique figure (e.g. median kVp) moved by more than tolerance.

    Months without a figure are skipped: the change is marked at the first
    month that has the new value.
    """
    changes = []
    previous: float | None = None
    for month, value in monthly:
        if value is None:
            continue
        if previous is not None and abs(value - previous) > tolerance:
            changes.append((month, previous, value))
        previous = value
    return changes


def viewer_url(template: str, **fields: object) -> str:
    """The image viewer address: ``template`` with {study_instance_uid}, {accession_number}, {patient_id}
    replaced by their URL-quoted values; '' without a template or when a field it names is empty."""
    if not template:
        return ""
    quoted = {k: quote(str(v or ""), safe="") for k, v in fields.items()}
    try:
        url = template.format_map(quoted)
    except (KeyError, IndexError, ValueError):
        return ""
    needed = [name for name in quoted if "{" + name + "}" in template]
    if any(not quoted[name] for name in needed):
        return ""
    return url
