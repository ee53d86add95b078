"""Numbers that checks measured (``measure(rel_error=...)``), read back from records.

Run files keep NaN and infinities as the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (strict JSON);
here they become floats again. Booleans and other values are not figures and are left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "infinity": math.inf, "-infinity": -math.inf}


@dataclass(frozen=True)
class Figure:
    target: str
    column: str
    key: str
    value: float
    record: dict[str, Any]


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _NON_FINITE.get(value.strip().lower())
    return None


def figures(records: Iterable[dict[str, Any]]) -> list[Figure]:
    found = []
    for record in records:
        for key, value in record.get("measured", {}).items():
            as_number = number(value)
            if as_number is not None:
                found.append(Figure(record["target"] or "(run)", record.get("column", ""), key, as_number, record))
    return found


def keys(found: Iterable[Figure]) -> list[str]:
    return sorted({f.key for f in found})


def worst(values: Iterable[float]) -> float:
    """The largest value, NaN above everything (an error figure that is NaN is the worst there is)."""
    values = list(values)
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values)


def format_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def file_stem(key: str) -> str:
    """A safe file name for a measured key (keys come from run files: no paths, no odd characters)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("._") or "value"
    return stem[:80]
