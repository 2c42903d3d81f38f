"""Monthly or quarterly series as the forecasting code and its charts read them.

:func:`as_series` sits here, below the forecasting topic, so that :mod:`salesops_kit.forecast` and the
charts in :mod:`salesops_kit.plots.forecast` (which may import no topic) share one reading of a series.
"""

from __future__ import annotations

import pandas as pd

from ..tools.validation import require_columns

__all__ = ["as_series"]


def as_series(x) -> pd.Series:
    """A float Series on a monthly/quarterly PeriodIndex from a :func:`~salesops_kit.forecast.monthly_series` frame
    (``period``, ``value``[, ``complete``]; incomplete periods dropped) or a pandas Series with a
    DatetimeIndex / PeriodIndex (frequency inferred; gaps filled with 0)."""
    if isinstance(x, pd.DataFrame):
        require_columns(x, ["period", "value"], table="series", hint="Pass forecast.monthly_series output "
                        "(period, value, complete) or a pandas Series with a date index.")
        if "complete" in x:
            x = x[x["complete"].astype(bool)]
        s = pd.Series(x["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(x["period"]))
    elif isinstance(x, pd.Series):
        s = x.astype(float)
    else:
        raise TypeError(f"expected a DataFrame (period, value) or a Series, got {type(x).__name__}.")
    if len(s) == 0:
        return pd.Series(dtype=float, index=pd.PeriodIndex([], freq="M"))
    idx = s.index
    if not isinstance(idx, pd.PeriodIndex):
        idx = pd.DatetimeIndex(idx)
        freq = pd.infer_freq(idx) if len(idx) >= 3 else None
        code = "Q" if (freq or "").startswith(("Q", "BQ")) else "M"
        idx = idx.to_period(code)
    s = pd.Series(s.to_numpy(dtype=float), index=idx).groupby(level=0).sum(min_count=1).sort_index()  # NaN stays NaN
    full = pd.period_range(s.index.min(), s.index.max(), freq=s.index.freq)
    return s.reindex(full, fill_value=0.0)
