"""Data audit: what was read, what was rejected and why, what is kept but suspicious.

The loader (:mod:`salesops_kit.load`) quarantines rows that cannot be used as they are (unparseable
dates or numbers, missing required values, negative amounts, close before created, exact and
conflicting duplicates, orders without customer, malformed lines, unknown stages when asked to);
this module flags kept rows that are usable but suspicious (open deals past their close date,
HubSpot-style default close dates, dates after ``as_of``, repeated rows in tables without ids) and
summarises both in :func:`audit`. It imports only :mod:`salesops_kit.schema` (and the list of
quarantine checks), never the loader, so ``load`` can call :func:`compute_flags`.
"""

from __future__ import annotations

import pandas as pd

from .schema import TABLES, StageModel

__all__ = ["compute_flags", "FLAG_CHECKS", "FLAG_COLUMNS"]

OPEN_PAST_CLOSE = "open deal past close date"
DEFAULT_CLOSE = "default close date (last day of creation month)"
AFTER_AS_OF = "date after as_of"
REPEATED_ROW = "repeated row (table without ids)"
FLAG_CHECKS = (OPEN_PAST_CLOSE, DEFAULT_CLOSE, AFTER_AS_OF, REPEATED_ROW)
FLAG_COLUMNS = ["table", "check", "row"]


def _rows(table: str, check: str, mask) -> pd.DataFrame:
    idx = pd.Series(mask).to_numpy().nonzero()[0]
    return pd.DataFrame({"table": table, "check": check, "row": idx.astype("int64")})


def compute_flags(tables: dict[str, pd.DataFrame], *, stages: StageModel, as_of: pd.Timestamp) -> pd.DataFrame:
    """Flag kept rows that are usable but suspicious.

    Parameters
    ----------
    tables : canonical tables (as loaded)
    stages : the stage model (unused for now beyond is_closed, kept for future checks)
    as_of : analysis date

    Returns
    -------
    DataFrame with columns table, check, row (the row's position in its clean table), sorted.
    """
    parts = []
    end_of_day = as_of + pd.Timedelta(days=1) if pd.notna(as_of) else None
    for name, df in tables.items():
        if df is None or df.empty:
            continue
        if name == "opportunities":
            open_ = ~df["is_closed"].to_numpy(dtype=bool)
            if end_of_day is not None:
                parts.append(_rows(name, OPEN_PAST_CLOSE, open_ & (df["close_date"] < as_of).to_numpy()))
            month_end = df["created_date"].dt.normalize() + pd.offsets.MonthEnd(0)
            parts.append(_rows(name, DEFAULT_CLOSE, (df["close_date"].dt.normalize() == month_end).to_numpy()))
        if end_of_day is not None and name not in ("quotas", "marketing_spend"):
            after = (df[TABLES[name].date_column] >= end_of_day).to_numpy()
            if name == "opportunities":
                after |= df["is_closed"].to_numpy(dtype=bool) & (df["close_date"] >= end_of_day).to_numpy()
            parts.append(_rows(name, AFTER_AS_OF, after))
        if TABLES[name].id_column is None:
            parts.append(_rows(name, REPEATED_ROW, df.duplicated(keep="first").to_numpy()))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({"table": pd.Series(dtype=object), "check": pd.Series(dtype=object),
                             "row": pd.Series(dtype="int64")})
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["table", "check", "row"], kind="stable").reset_index(drop=True)
