"""UCUM unit codes to the one canonical unit of each quantity (DOMAIN.md §4).

A value is converted once, here, from the unit its own measurement states. A
unit we do not know for a quantity is never guessed: `convert` says so and the
caller keeps the raw number, puts the field under review and warns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class Quantity(Enum):
    DAP = "dose area product (Gy·cm²)"
    AIR_KERMA = "air kerma / dose (mGy)"  # Ka,r, AGD, entrance exposure, CTDIvol, SSDE
    DLP = "dose length product (mGy·cm)"
    TIME_S = "time (s)"
    TIME_MS = "time (ms)"
    LENGTH = "length (mm)"
    AREA = "area (cm²)"
    CHARGE = "tube current-time product (mAs)"
    CURRENT = "tube current (mA)"
    VOLTAGE = "tube voltage (kV)"
    ANGLE = "angle (deg)"
    RATE = "rate (1/s)"
    FORCE = "force (N)"
    DIMENSIONLESS = "count or ratio"


# Factor from each accepted UCUM code to the canonical unit of the quantity.
_FACTORS: dict[Quantity, dict[str, float]] = {
    Quantity.DAP: {
        "Gy.m2": 1e4, "dGy.m2": 1e3, "cGy.m2": 1e2, "mGy.m2": 10.0, "uGy.m2": 1e-2,
        "Gy.dm2": 100.0, "dGy.dm2": 10.0, "cGy.dm2": 1.0, "mGy.dm2": 0.1,
        "Gy.cm2": 1.0, "dGy.cm2": 0.1, "cGy.cm2": 0.01, "mGy.cm2": 1e-3, "uGy.cm2": 1e-6,
        "Gy.mm2": 0.01, "mGy.mm2": 1e-5,
    },
    Quantity.AIR_KERMA: {"Gy": 1e3, "dGy": 100.0, "cGy": 10.0, "mGy": 1.0, "uGy": 1e-3, "nGy": 1e-6},
    Quantity.DLP: {"mGy.cm": 1.0, "Gy.cm": 1e3, "cGy.cm": 10.0, "uGy.cm": 1e-3, "mGy.mm": 0.1, "mGy.m": 100.0},
    Quantity.TIME_S: {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0},
    Quantity.TIME_MS: {"ms": 1.0, "s": 1e3, "us": 1e-3},
    Quantity.LENGTH: {"mm": 1.0, "cm": 10.0, "dm": 100.0, "m": 1e3, "um": 1e-3},
    Quantity.AREA: {"cm2": 1.0, "m2": 1e4, "dm2": 100.0, "mm2": 1e-2},
    Quantity.CHARGE: {"mA.s": 1.0, "uA.s": 1e-3, "A.s": 1e3, "nA.s": 1e-6},
    Quantity.CURRENT: {"mA": 1.0, "uA": 1e-3, "A": 1e3},
    Quantity.VOLTAGE: {"kV": 1.0, "V": 1e-3},
    Quantity.ANGLE: {"deg": 1.0, "rad": 180.0 / math.pi},
    Quantity.RATE: {"/s": 1.0, "1/s": 1.0, "Hz": 1.0, "{pulse}/s": 1.0, "{pulses}/s": 1.0, "/min": 1 / 60},
    Quantity.FORCE: {"N": 1.0, "daN": 10.0, "kN": 1e3},
}

# Codes that are not valid UCUM but that real devices send for a unit they
# plainly mean (seen in the corpus: "Gym2", "mGycm", "uAs", "°", "pulse/s").
_ALIASES: dict[str, str] = {
    "Gym2": "Gy.m2", "Gy*m2": "Gy.m2", "Gy m2": "Gy.m2", "Gy.m^2": "Gy.m2", "Gy·m2": "Gy.m2", "Gy·m²": "Gy.m2",
    "dGycm2": "dGy.cm2", "cGycm2": "cGy.cm2", "mGycm2": "mGy.cm2", "Gycm2": "Gy.cm2", "uGym2": "uGy.m2",
    "mGycm": "mGy.cm", "mGy*cm": "mGy.cm", "mGy cm": "mGy.cm", "mGy·cm": "mGy.cm",
    "uAs": "uA.s", "mAs": "mA.s", "As": "A.s", "µA.s": "uA.s", "µAs": "uA.s",
    "°": "deg", "º": "deg", "degree": "deg", "degrees": "deg",
    "sec": "s", "msec": "ms", "µs": "us", "µGy": "uGy", "µGy.m2": "uGy.m2",
    "pulse/s": "{pulse}/s", "pulses/s": "{pulse}/s", "fps": "/s", "{frame}/s": "/s", "{frames}/s": "/s",
}


@dataclass(frozen=True, slots=True)
class Conversion:
    value: float
    ok: bool  # False: the unit is unknown for the quantity and `value` is the raw number
    note: str | None = None  # why the value is unconverted, or which non-UCUM alias was read


def convert(quantity: Quantity, value: float, unit: str | None) -> Conversion:
    """`value`, stated in the UCUM code `unit`, in the canonical unit of `quantity`."""
    if quantity is Quantity.DIMENSIONLESS:
        # Counts, ratios and indices: the number does not depend on the unit's spelling.
        return Conversion(value, True)
    stated = (unit or "").strip()
    if not stated:
        return Conversion(value, False, "no unit stated")
    code = _ALIASES.get(stated, stated)
    factor = _FACTORS[quantity].get(code)
    if factor is None:
        return Conversion(value, False, f"unit {stated!r} is not a known unit of {quantity.value}")
    note = f"unit code {stated!r} is not UCUM; read as {code}" if code != stated else None
    # 12 significant digits: drops binary noise of the factor (0.1055827400500001)
    # and keeps far more precision than any dose meter has.
    return Conversion(float(f"{value * factor:.12g}"), True, note)


def known_units(quantity: Quantity) -> list[str]:
    return sorted(_FACTORS.get(quantity, {}))


# Plausible range per record field, in its canonical unit: beyond it a value is
# most likely a unit error or a typo and must be confirmed before it counts.
_PLAUSIBLE: dict[str, tuple[float, float]] = {
    "ctdivol_mgy": (0.0, 1000.0),
    "ssde_mgy": (0.0, 1000.0),
    "dlp_mgycm": (0.0, 50_000.0),
    "dlp_total_mgycm": (0.0, 100_000.0),
    "dap_gycm2": (0.0, 5_000.0),
    "dap_total_gycm2": (0.0, 10_000.0),
    "fluoro_dap_total_gycm2": (0.0, 10_000.0),
    "acquisition_dap_total_gycm2": (0.0, 10_000.0),
    "dose_rp_mgy": (0.0, 20_000.0),
    "dose_rp_total_mgy": (0.0, 50_000.0),
    "fluoro_dose_rp_total_mgy": (0.0, 50_000.0),
    "acquisition_dose_rp_total_mgy": (0.0, 50_000.0),
    "agd_mgy": (0.0, 100.0),
    "entrance_exposure_mgy": (0.0, 1_000.0),
    "fluoro_time_total_s": (0.0, 6 * 3600.0),
    "acquisition_time_total_s": (0.0, 6 * 3600.0),
    "exposure_time_s": (0.0, 3600.0),
    "scanning_length_mm": (0.0, 5_000.0),
    "compression_thickness_mm": (0.0, 200.0),
    "kvp": (0.0, 200.0),
    "tube_current_ma": (0.0, 2_000.0),
    "max_tube_current_ma": (0.0, 2_000.0),
    "pitch": (0.0, 10.0),
    "weight_kg": (0.3, 400.0),
    "height_m": (0.2, 2.8),
}


def implausible(field: str, value: float) -> bool:
    """True when `value` (canonical unit) is outside what a real examination gives.

    Negative doses, times and lengths are always implausible; a field without a
    stated range is only checked for being a finite number.
    """
    if not math.isfinite(value):
        return True
    bounds = _PLAUSIBLE.get(field)
    if bounds is None:
        return False
    low, high = bounds
    return value < low or value > high
