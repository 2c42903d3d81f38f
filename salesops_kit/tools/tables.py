"""Tables built for reading: what a notebook and a report page show a manager.

:func:`readable` turns any result frame into strings a manager can read: no index column (a meaningful
index becomes an ordinary column), column names in words, thousands separators, rates as percentages,
p-/q-values below 0.001 as ``< 0.001``, no scientific notation, months as ``2025-11`` and quarters as
``2025 Q4``, and an em dash where a value is missing (never ``NaN``, ``None``, ``<NA>`` or ``NaT``).
:func:`show_table` wraps the result so a notebook displays it once, as an HTML table without the index
(and plain text in a terminal). The frame itself is never changed: ``summary()`` keeps the numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = ["MISSING", "readable", "show_table", "Table", "format_number"]

MISSING = "—"  # what an empty cell shows
_P_NAME = re.compile(r"^(p|q|p_?value|q_?value|p_adj|.*_p|.*_q|.*_p_value|.*_q_value|p \(.*\)|q \(.*\))$", re.I)
_PCT_NAME = re.compile(r"(rate|share|pct|percent|coverage|conversion|attainment|probability|^p_alive|_prob$|"
                       r"^prob|churn|retention|margin)", re.I)
_NOT_PCT_NAME = re.compile(r"(_days$|days|_n$|^n_|count|per_|_per|ratio|amount|revenue|value|lift|_ci$)", re.I)
_RATE_UNITS = {"%", "rate", "share", "percent", "proportion", "fraction"}
_CODE = re.compile(r"^[A-Z]{3}$")


def format_number(v, *, decimals: int | None = None, percent: bool = False, p_value: bool = False) -> str:
    """One number as a manager reads it (see :func:`readable`); missing → ``—``."""
    if v is None or v is pd.NA or v is pd.NaT:
        return MISSING
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if p_value:
        return "< 0.001" if x < 0.001 else f"{x:.3f}"
    if percent:
        pct = x * 100
        return f"{pct:,.1f}%" if abs(pct) >= 0.05 or pct == 0 else ("< 0.1%" if pct > 0 else "> −0.1%")
    if decimals is None:
        decimals = _decimals(abs(x))
    if x != 0 and abs(x) < 0.5 * 10 ** -decimals:
        return "≈ 0"
    return f"{x:,.{decimals}f}"


def _decimals(magnitude: float) -> int:
    if magnitude >= 1000 or magnitude == 0:
        return 0
    if magnitude >= 10:
        return 1
    if magnitude >= 1:
        return 2
    return 3


def _is_pct(name: str, s: pd.Series, unit: str | None, percent: set[str] | None) -> bool:
    if unit is not None:
        return unit.lower() in _RATE_UNITS
    if percent is not None:
        return name in percent
    if not _PCT_NAME.search(name) or _NOT_PCT_NAME.search(name):
        return False
    vals = s.dropna()
    return bool(len(vals)) and bool(((vals >= -1) & (vals <= 1)).all())


def _dates(s: pd.Series, name: str, lang: str | None) -> pd.Series:
    from ..i18n import format_date, format_month

    vals = s.dropna()
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
        vals = s.dropna()
    if not len(vals):
        return pd.Series(MISSING, index=s.index)
    midnight = bool((vals == vals.dt.normalize()).all())
    if midnight and bool((vals.dt.day == 1).all()):
        quarterly = bool(vals.dt.month.isin([1, 4, 7, 10]).all()) and "quarter" in name.lower()
        if quarterly:
            return s.map(lambda d: MISSING if pd.isna(d) else f"{d.year} Q{(d.month - 1) // 3 + 1}")
        return s.map(lambda d: MISSING if pd.isna(d) else format_month(d, lang))
    if midnight:
        return s.map(lambda d: MISSING if pd.isna(d) else format_date(d, lang))
    return s.map(lambda d: MISSING if pd.isna(d) else d.strftime("%Y-%m-%d %H:%M"))


def _column(s: pd.Series, name: str, unit: str | None, percent: set[str] | None, lang: str | None,
            decimals: int | None) -> pd.Series:
    if isinstance(s.dtype, pd.PeriodDtype):
        return s.map(lambda v: MISSING if pd.isna(v) else str(v))
    if pd.api.types.is_datetime64_any_dtype(s):
        return _dates(s, name, lang)
    if pd.api.types.is_bool_dtype(s):
        from ..i18n import t

        return s.map(lambda v: MISSING if v is None or v is pd.NA else t("yes" if v else "no", lang))
    if pd.api.types.is_timedelta64_dtype(s):
        return s.map(lambda v: MISSING if pd.isna(v) else f"{v / pd.Timedelta(days=1):,.1f} d")
    if pd.api.types.is_numeric_dtype(s):
        x = pd.to_numeric(s, errors="coerce").astype(float)
        if _P_NAME.match(name):
            return x.map(lambda v: format_number(v, p_value=True))
        if _is_pct(name, x, unit, percent):
            return x.map(lambda v: format_number(v, percent=True))
        finite = x[np.isfinite(x)]
        if decimals is None and len(finite) and bool((finite == finite.round()).all()):
            d = 0
        elif decimals is None:
            d = _decimals(float(finite.abs().median())) if len(finite) else 0
        else:
            d = decimals
        return x.map(lambda v: format_number(v, decimals=d))
    return s.map(_cell)


def _cell(v) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return MISSING
    if isinstance(v, float):
        return format_number(v)
    if isinstance(v, bool | np.bool_):
        from ..i18n import t

        return t("yes" if v else "no")
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d") if v == v.normalize() else v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    s = str(v)
    return MISSING if s.strip().lower() in ("nan", "none", "<na>", "nat", "") else s


def _header(name, unit: str | None, lang: str | None, words: bool) -> str:
    from ..i18n import t

    label = " · ".join(str(x) for x in name) if isinstance(name, tuple) else str(name)
    if words:  # the catalogs hold many headers under their snake_case name (rows_read): try it first
        spaced = label.replace("_", " ")
        label = t(label, lang) if t(label, lang) != label else t(spaced, lang)
    if unit and unit.lower() not in _RATE_UNITS:
        label = f"{label} ({unit})"
    return label


def readable(df: pd.DataFrame | pd.Series, *, units: Mapping[str, str] | None = None,
             percent: Iterable[str] | None = None, decimals: Mapping[str, int] | None = None,
             lang: str | None = None, words: bool = True) -> pd.DataFrame:
    """``df`` as a frame of strings built for reading (see the module docstring).

    ``units`` maps a column to its unit: ``"%"``/``"rate"``/``"share"`` shows a fraction as a percentage, a
    currency code or any other word is written in the header (``revenue (USD)``). Without ``units``/``percent``
    a column whose name says rate, share, conversion, probability, coverage ... and whose values lie in [-1, 1]
    is a percentage; ``percent`` names those columns exactly instead. ``decimals`` fixes a column's decimals
    (else by the column's median magnitude: 0 from 1,000, 1 from 10, 2 from 1, else 3). ``words`` writes column
    names with spaces and translated (``win_rate`` → ``win rate``)."""
    if isinstance(df, pd.Series):
        df = df.to_frame(df.name if df.name is not None else "value")
    named = any(n is not None for n in df.index.names)
    if named:
        df = df.reset_index()  # a named index is a column of the table
    elif df.index.nlevels == 1 and pd.api.types.is_integer_dtype(df.index):
        df = df.reset_index(drop=True)  # row numbers are not data
    else:
        df = df.reset_index().rename(columns={"index": ""})  # labels without a name: the first column
    units = dict(units or {})
    pct = set(percent) if percent is not None else None
    decimals = dict(decimals or {})
    out = {}
    for i, c in enumerate(df.columns):
        name = " · ".join(str(x) for x in c) if isinstance(c, tuple) else str(c)
        unit = units.get(c, units.get(name))
        if unit is not None and _CODE.match(str(unit)) is None and str(unit).lower() == "currency":
            unit = None  # never the word "currency" as a unit
        header = _header(c, unit, lang, words)
        while header in out:
            header += " "
        out[header] = _column(df.iloc[:, i], name, unit, pct, lang, decimals.get(c, decimals.get(name)))
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


class Table:
    """A readable table that a notebook displays once: HTML without the index, plain text in a terminal."""

    def __init__(self, frame: pd.DataFrame, caption: str | None = None):
        self.frame = frame
        self.caption = caption

    def _repr_html_(self) -> str:
        import html

        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        body = self.frame.to_html(index=False, escape=True, na_rep=MISSING, classes="salesops-table", border=0)
        return body.replace(">\n  <thead>", f">{cap}\n  <thead>", 1) if cap else body

    def __repr__(self) -> str:
        text = self.frame.to_string(index=False) if len(self.frame.columns) else ""
        return f"{self.caption}\n{text}" if self.caption else text

    def __len__(self) -> int:
        return len(self.frame)


def show_table(df: pd.DataFrame | pd.Series, *, caption: str | None = None, max_rows: int | None = None,
               **kwargs) -> Table:
    """``df`` as a :class:`Table` built for reading (:func:`readable` options); the last expression of a
    cell, so it is shown once. ``max_rows`` keeps the first rows and says how many were left out."""
    if max_rows is not None and len(df) > max_rows:
        from ..i18n import tr

        left = len(df) - max_rows
        df = df.iloc[:max_rows]
        note = tr("first {shown:,} rows of {total:,}", shown=max_rows, total=max_rows + left)
        caption = f"{caption} ({note})" if caption else note
    return Table(readable(df, **kwargs), caption)
