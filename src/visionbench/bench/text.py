"""Number formatting shared by the report's sections and its HTML template."""

from __future__ import annotations

import math


def fmt(v, digits: int = 4) -> str:
    if v is None or not isinstance(v, (int, float, str)):  # None, or jinja2's Undefined
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if abs(v) >= 10**digits:  # 3860.2 reads better as 3,860 than as 3.86e+03
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)
